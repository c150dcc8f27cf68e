"""Delivery: a ZIP of a selection of processed images, with a manifest, emailed exactly once.

The archive is written one image at a time to a temporary file (never whole in memory; images
already compressed are STORED, ZIP64 throughout) and put into the archives zone under a name
derived from what it holds (a hash of its manifest), so a retry or a re-run finds it there.

Exactly once. The delivery ledger in the catalog is keyed by (selection, recipient, occasion): the
occasion is a run's data interval (subscriptions), a request (``image_request``) or, by default,
the archive's content (re-running the same request with nothing new sends nothing). An entry goes

    pending  -> committing -> sent
       ^            |
       +--(refused)-+         (a crash after ``committing``: the channel decides, see mail.py)

``pending`` is written before anything is sent, with the message's fixed Message-ID and Date;
``committing`` just before the channel's point of no return; ``sent`` when the channel confirmed.
A failure before the point of no return, or a refusal, puts the entry back to ``pending`` and
raises (Airflow retries with backoff). A retry that finds ``committing`` asks the channel: the
outbox looks for its file, the HTTPS API repeats the request under the same Idempotency-Key, SMTP
cannot know and marks the entry ``uncertain`` instead of sending twice (:class:`DeliveryUncertain`).

What remains: a worker that dies after ``committing`` was written and before the SMTP server
read the end-of-data terminator (microseconds: two ``send`` calls on an open socket), or a
connection lost between the terminator and the server's reply, leaves an ``uncertain`` entry for a
message that may not have been delivered; an operator resolves it (:func:`resolve_uncertain`).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from image_pipeline import keys
from image_pipeline.catalog import Catalog, utcnow_iso
from image_pipeline.mail import Mailer, NotDelivered, compose, one_line, validate_address
from image_pipeline.recipes import get_recipe
from image_pipeline.settings import PROJECT_ROOT
from image_pipeline.storage import ObjectStore

log = logging.getLogger(__name__)

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed entry timestamps keep the archive's bytes reproducible
ARCHIVE_LAYOUT = 2  # bump when the archive's layout changes: archives get new names
MANIFEST_FIELDS = ["file", "sha256", "source_url", "page_url", "keywords", "width", "height", "bytes",
                   "labels", "licence", "original_format"]
# Formats that are compressed already: deflating them again costs time and saves nothing.
STORED_EXTENSIONS = {"jpg", "jpeg", "png", "webp", "gif", "avif", "heic", "zip"}
TEMPLATES_DIR = PROJECT_ROOT / "config" / "email"
_TEXT_FIELD = re.compile(r"^[^\x00-\x1f\x7f]{1,250}$")


class DeliveryUncertain(RuntimeError):
    """A previous attempt may have delivered the message and the channel cannot tell: not resent."""


def _day_or_time(value: str) -> str:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Selection:
    """Which processed images to deliver: a recipe's outputs, filtered by any of keyword, retrieval
    run, label and a ``[since, until)`` range of retrieval time (ISO dates or times, UTC if naive)."""

    recipe: str = "half_gray"
    keyword: str | None = None
    run_id: str | None = None
    label: str | None = None
    since: str | None = None
    until: str | None = None

    def __post_init__(self) -> None:
        get_recipe(self.recipe)
        for name in ("keyword", "run_id", "label"):
            value = getattr(self, name)
            if value is not None and not _TEXT_FIELD.match(value):
                raise ValueError(f"{name} must be 1-250 printable characters, got {value!r}")
        if (self.since is None) != (self.until is None):
            raise ValueError("a date range needs both since and until")
        if self.since is not None:
            since, until = _day_or_time(self.since), _day_or_time(self.until)  # type: ignore[arg-type]
            if since >= until:
                raise ValueError(f"since ({self.since}) must be before until ({self.until})")
            object.__setattr__(self, "since", since)
            object.__setattr__(self, "until", until)
        if not (self.keyword or self.run_id or self.label or self.since):
            raise ValueError("a selection needs a keyword, a retrieval run id, a label or a date range")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Selection":
        """From a form or a config file: empty strings mean "not given"; unknown keys are refused."""
        unknown = set(values) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ValueError(f"unknown selection fields: {', '.join(sorted(unknown))}")
        return cls(**{k: (v if v not in ("", None) else None) for k, v in values.items() if k != "recipe"},
                     recipe=values.get("recipe") or "half_gray")

    def key(self) -> str:
        """A stable text form: part of the delivery ledger's key."""
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None}, sort_keys=True)

    def describe(self) -> str:
        parts = [f"recipe {self.recipe}"]
        if self.keyword:
            parts.append(f"keyword {self.keyword!r}")
        if self.label:
            parts.append(f"label {self.label!r}")
        if self.run_id:
            parts.append(f"run {self.run_id}")
        if self.since:
            parts.append(f"retrieved {self.since[:19]}Z to {self.until[:19]}Z")  # type: ignore[index]
        return ", ".join(parts)


@dataclass(frozen=True)
class Archive:
    key: str
    content_id: str
    images: int
    bytes: int
    rows: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)


def select_images(catalog: Catalog, selection: Selection) -> list[dict[str, Any]]:
    filters: dict[str, Any] = {"keyword": selection.keyword, "run_id": selection.run_id,
                               "has_output": selection.recipe}
    if selection.label:
        filters["label"] = selection.label
    if selection.since:
        filters["between"] = ("retrieved_at", selection.since, selection.until)
    return catalog.find(**filters)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(uri: str, limit: int = 60) -> str:
    """A file-name stem from a source URL: ASCII letters, digits, ``._-`` only; never empty."""
    name = unquote(urlparse(uri).path.rsplit("/", 1)[-1]) if uri else ""
    name = name.rsplit(".", 1)[0] if "." in name else name
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    name = _UNSAFE.sub("-", name).strip("-._")[:limit].strip("-._")
    return name or "image"


def _labels(doc: dict[str, Any]) -> str:
    return ";".join(label["name"] for label in (doc.get("features") or {}).get("labels") or [] if label.get("name"))


def manifest_rows(docs: list[dict[str, Any]], recipe: str) -> list[dict[str, Any]]:
    """One row per image, with the unique, sanitised name it has inside the archive."""
    ext = get_recipe(recipe).ext
    rows, used = [], set()
    for doc in docs:
        out, source = doc["outputs"][recipe], (doc.get("sources") or [{}])[0]
        name = f"images/{safe_stem(source.get('uri', ''))}-{doc['sha256'][:10]}.{ext}"
        counter = 1
        while name.lower() in used:  # names are compared as a case-insensitive file system would
            counter += 1
            name = f"images/{safe_stem(source.get('uri', ''))}-{doc['sha256'][:10]}-{counter}.{ext}"
        used.add(name.lower())
        rows.append({
            "file": name, "sha256": doc["sha256"], "source_url": source.get("uri", ""),
            "page_url": source.get("page_url", ""), "keywords": ";".join(doc.get("keywords", [])),
            "width": out["width"], "height": out["height"], "bytes": out["bytes"], "labels": _labels(doc),
            "licence": source.get("licence", ""), "original_format": doc.get("format", ""),
        })
    return rows


def content_id(selection: Selection, docs: list[dict[str, Any]], rows: list[dict[str, Any]] | None = None) -> str:
    """A hash of everything the archive holds: its layout, README, manifest and image versions."""
    rows = rows if rows is not None else manifest_rows(docs, selection.recipe)
    versions = [(d["sha256"], d["outputs"][selection.recipe]["version"], d["outputs"][selection.recipe].get("fingerprint"))
                for d in docs]
    blob = json.dumps([ARCHIVE_LAYOUT, selection.describe(), selection.recipe, versions, rows], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _entry(name: str, compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, ZIP_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = compress_type
    return info


def write_archive(store: ObjectStore, docs: list[dict[str, Any]], selection: Selection, dest: Path,
                  rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Write the ZIP to ``dest`` one image at a time, streaming each through a temporary file;
    returns the manifest rows."""
    spec = get_recipe(selection.recipe)
    rows = rows if rows is not None else manifest_rows(docs, selection.recipe)
    with zipfile.ZipFile(dest, "w", allowZip64=True) as zf, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "entry"
        for doc, row in zip(docs, rows):
            store.download(doc["outputs"][selection.recipe]["key"], local)
            ext = row["file"].rsplit(".", 1)[-1].lower()
            method = zipfile.ZIP_STORED if ext in STORED_EXTENSIONS else zipfile.ZIP_DEFLATED
            with open(local, "rb") as src, zf.open(_entry(row["file"], method), "w", force_zip64=True) as dst:
                while block := src.read(1024 * 1024):
                    dst.write(block)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        zf.writestr(_entry("manifest.csv", zipfile.ZIP_DEFLATED), text.getvalue())
        zf.writestr(_entry("manifest.json", zipfile.ZIP_DEFLATED), json.dumps(rows, indent=2))
        readme = (
            f"Image Pipeline archive\n\nSelection: {selection.describe()}\n"
            f"Recipe: {spec.name} v{spec.version} ({spec.description})\nImages: {len(rows)}\n\n"
            "images/         the processed images, named <source file name>-<first hash digits>\n"
            "manifest.csv    one row per image: file, sha256, source and page URL, keywords, width,\n"
            "manifest.json   height, bytes, labels, licence hint (as the source gave it), original format\n\n"
            "Check each image's licence at its source before re-using it.\n"
        )
        zf.writestr(_entry("README.txt", zipfile.ZIP_DEFLATED), readme)
    return rows


def ensure_archive(store: ObjectStore, catalog: Catalog, selection: Selection) -> Archive | None:
    """The selection's archive in the archives zone, built only if it is not there yet.

    On S3 the upload is a multipart upload for large archives (boto3's managed transfer); the
    object appears only when it completes, so a killed task leaves nothing half-written."""
    docs = select_images(catalog, selection)
    if not docs:
        return None
    rows = manifest_rows(docs, selection.recipe)
    cid = content_id(selection, docs, rows)
    key = keys.archive_key(cid)
    if not store.exists(key):
        with tempfile.TemporaryDirectory(prefix="image-pipeline-zip-") as tmp:
            path = Path(tmp) / "archive.zip"
            write_archive(store, docs, selection, path, rows)
            store.put_file(key, path, "application/zip")
    return Archive(key=key, content_id=cid, images=len(docs), bytes=store.size(key), rows=rows)


def delivery_id(selection: Selection, recipient: str, occasion: str) -> str:
    return hashlib.sha256(f"{selection.key()}|{recipient.lower()}|{occasion}".encode()).hexdigest()


def render_message(context: dict[str, Any], templates_dir: str | Path | None = None) -> tuple[str, str]:
    """Subject and body from the Jinja templates ``subject.txt.j2`` and ``body.txt.j2`` (sandboxed:
    a template cannot reach Python internals). The subject is made one line."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(loader=FileSystemLoader(str(templates_dir or TEMPLATES_DIR)), autoescape=False,
                               undefined=StrictUndefined, keep_trailing_newline=True)
    subject = env.get_template("subject.txt.j2").render(context)
    body = env.get_template("body.txt.j2").render(context)
    return one_line(subject), body


def _message_context(entry: dict[str, Any], archive: Archive, selection: Selection) -> dict[str, Any]:
    return {
        "images": archive.images, "selection": selection.describe(), "recipe": selection.recipe,
        "keyword": selection.keyword, "label": selection.label, "since": selection.since, "until": selection.until,
        "archive_bytes": archive.bytes, "archive_mib": round(archive.bytes / 2**20, 1),
        "attached": entry["attached"], "attachment_name": entry["attachment_name"], "link": entry.get("link"),
        "link_expires_at": entry.get("link_expires_at"), "files": archive.rows,
    }


def deliver(
    store: ObjectStore, catalog: Catalog, mailer: Mailer, selection: Selection, *, recipient: str,
    sender: str, attach_max_bytes: int, link_expiry_seconds: int, occasion: str | None = None,
    templates_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Archive the selection and email it exactly once; returns the delivery ledger entry.

    ``occasion`` names what this delivery is for (``interval:<start>/<end>``, ``request:<run>``);
    by default the archive's content, so the same images are not sent twice to the same person."""
    recipient = validate_address(recipient)
    archive = ensure_archive(store, catalog, selection)
    if archive is None:
        return {"status": "empty", "selection": asdict(selection), "recipient": recipient}
    occasion = occasion or f"content:{archive.content_id}"
    did = delivery_id(selection, recipient, occasion)
    entry = catalog.get_delivery(did)
    if entry and entry["status"] == "sent":
        return entry  # exactly once: a retry or a re-run after a send does not send again
    if entry and entry["status"] == "uncertain":
        raise DeliveryUncertain(f"delivery {did} may have been sent already; not sending it again")
    if entry is None or entry["status"] == "pending":
        attach = archive.bytes <= attach_max_bytes
        expires = datetime.now(timezone.utc) + timedelta(seconds=link_expiry_seconds)
        entry = {
            **(entry or {}), "status": "pending", "recipient": recipient, "selection": asdict(selection),
            "occasion": occasion, "channel": mailer.channel, "archive_key": archive.key,
            "archive_bytes": archive.bytes, "images": archive.images, "attached": attach,
            "attachment_name": f"images-{archive.content_id[:12]}.zip",
            "link": None if attach else store.link(archive.key, link_expiry_seconds),
            "link_expires_at": None if attach or not store.url.startswith("s3://") else expires.isoformat(),
            # Fixed once, before the first attempt: every attempt sends the very same message.
            "date": (entry or {}).get("date") or format_datetime(datetime.now(timezone.utc)),
            "created_at": (entry or {}).get("created_at") or utcnow_iso(),
            "attempts": (entry or {}).get("attempts", 0),
        }
        entry.pop("id", None)
        catalog.put_delivery(did, entry)
    subject, body = render_message(_message_context(entry, archive, selection), templates_dir)
    msg = compose(
        sender=sender, recipient=recipient, subject=subject, body=body, delivery_id=did, date=entry["date"],
        attachment=(entry["attachment_name"], store.get_bytes(archive.key)) if entry["attached"] else None,
    )
    if entry["status"] == "committing":  # an attempt died after its point of no return
        verdict = mailer.after_crash(msg, entry["committed_at"])
        log.warning("delivery %s: a previous attempt died while sending; the %s channel says %s",
                    did, mailer.channel, verdict)
        if verdict == "sent":
            return _record(catalog, did, entry, "sent", sent_at=utcnow_iso(), location="confirmed after a crash")
        if verdict == "uncertain":
            _record(catalog, did, entry, "uncertain")
            raise DeliveryUncertain(
                f"delivery {did}: a previous attempt died after handing the message to {mailer.channel}; "
                "it may have arrived, so it is not sent again (see the README to resolve it)")
    return _send(catalog, mailer, msg, did, entry)


def _record(catalog: Catalog, did: str, entry: dict[str, Any], status: str, **changes: Any) -> dict[str, Any]:
    entry.update(status=status, **changes)
    entry.pop("id", None)
    catalog.put_delivery(did, entry)
    return {**entry, "id": did}


def _send(catalog: Catalog, mailer: Mailer, msg: Any, did: str, entry: dict[str, Any]) -> dict[str, Any]:
    committed: list[bool] = []

    def commit() -> None:
        _record(catalog, did, entry, "committing", committed_at=utcnow_iso(), attempts=entry.get("attempts", 0) + 1)
        committed.append(True)

    try:
        location = mailer.send(msg, commit)
    except NotDelivered as exc:
        _record(catalog, did, entry, "pending", last_error=str(exc)[:500])
        raise
    except BaseException as exc:
        if not committed:  # failed before the point of no return: nothing was sent
            _record(catalog, did, entry, "pending", last_error=f"{type(exc).__name__}: {exc}"[:500])
        raise  # after it: the entry stays "committing" and the retry asks the channel
    return _record(catalog, did, entry, "sent", sent_at=utcnow_iso(), location=location)



_SUBSCRIPTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,49}$")
SUBSCRIPTION_FIELDS = {"name", "recipient", "cron", "selection", "description"}


@dataclass(frozen=True)
class Subscription:
    """A recurring delivery: ``selection`` of the images retrieved in each run's data interval,
    emailed to ``recipient`` on ``cron`` (one DAG each, so it runs on its schedule and backfills)."""

    name: str
    recipient: str
    cron: str
    selection: dict[str, Any]
    description: str = ""

    def for_interval(self, start: datetime, end: datetime) -> Selection:
        return Selection.from_dict({**self.selection, "since": start.isoformat(), "until": end.isoformat()})


def load_subscriptions(path: str | Path) -> list[Subscription]:
    """The subscriptions of a YAML file (``subscriptions: [...]``), validated; a missing file has none."""
    import yaml

    try:
        content = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        return []
    items = content.get("subscriptions") or []
    if not isinstance(items, list):
        raise ValueError(f"{path}: 'subscriptions' must be a list")
    subscriptions, names = [], set()
    for i, item in enumerate(items):
        where = f"{path}: subscription {i + 1}"
        if not isinstance(item, dict) or set(item) - SUBSCRIPTION_FIELDS or not {"name", "recipient", "cron",
                                                                               "selection"} <= set(item):
            raise ValueError(f"{where} must be a mapping of name, recipient, cron, selection (and description)")
        name = str(item["name"])
        if not _SUBSCRIPTION_NAME.match(name) or name in names:
            raise ValueError(f"{where}: name {name!r} must be unique, lowercase letters, digits and '_'")
        names.add(name)
        selection = dict(item["selection"] or {})
        if set(selection) & {"since", "until", "run_id"}:
            raise ValueError(f"{where}: the selection's date range is each run's data interval; "
                             "give keyword, label or recipe")
        try:
            recipient = validate_address(str(item["recipient"]))
            # A throw-away interval proves the selection is valid before any DAG is built from it.
            Selection.from_dict({**selection, "since": "2000-01-01", "until": "2000-01-02"})
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        subscriptions.append(Subscription(name, recipient, str(item["cron"]), selection,
                                          one_line(item.get("description", ""), 500)))
    return subscriptions


def resolve_uncertain(catalog: Catalog, did: str, outcome: str) -> dict[str, Any]:
    """An operator's decision on an ``uncertain`` delivery, after checking the mail server's log or
    asking the recipient: ``sent`` (it arrived) or ``resend`` (the next run or retry sends it)."""
    entry = catalog.get_delivery(did)
    if entry is None or entry["status"] != "uncertain":
        raise ValueError(f"no uncertain delivery {did!r}")
    if outcome == "sent":
        return _record(catalog, did, entry, "sent", sent_at=utcnow_iso(), location="confirmed by an operator")
    if outcome == "resend":
        return _record(catalog, did, entry, "pending", last_error="uncertain; an operator asked to send again")
    raise ValueError("outcome must be 'sent' or 'resend'")
