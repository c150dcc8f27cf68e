"""The catalog: one document per distinct image, keyed by its sha256, beside a delivery ledger, daily
metrics, saved recipes and the request ledger.

What the pipeline asks of it is split by role (:mod:`.roles`: one small protocol each, with its
contract); :class:`Catalog` plays them all, with the implementations the backends share. Two
backends pass the same contract tests: :class:`SqliteCatalog` (the embedded default, a JSON document
per row) and :class:`MongoCatalog` (pymongo; the Airflow adapter builds its client from the
``mongo_default`` connection). Every write is an upsert keyed by content hash or delivery id, so a
retried task never duplicates a record.

An image document::

    {"sha256", "raw_key", "format", "width", "height", "bytes",
     "status": "raw" | "processed" | "quarantined",
     "retrieved_at", "last_seen_at",            # ISO-8601 UTC strings (they sort as time)
     "keywords": [...], "run_ids": [...], "sources": [{"source", "uri"}...],
     "outputs": {recipe: {"key", "version", "fingerprint", "format", "width", "height", "bytes",
                          "quality", "seconds", "timings": {operation: seconds}, "processed_at"}},
     "features": {"version", "exif", "phash", "dominant_colors", "brightness", "contrast", "blur",
                  "faces", "labels": [{"name", "score"}], "label_source", "seconds",
                  "embedding": {"model", "dim", "f16"} | None, "embedding_source"},  # once processed
     "duplicate_of": sha256 | None,             # near-duplicate group: the group's first image
     "quarantine": {"reason", "stage", "key", "at",
                    "kind": "image" | "unexpected",     # whose fault (core.errors); absent before 0.2
                    "release", "run_id", "dag_id", "attempts"} | None,
     # processing's problems short of a quarantine (core.errors says which failure lands where):
     "failures": {recipe: {"reason", "kind": "recipe", "version", "fingerprint", "operation",
                           "at", "run_id", "dag_id", "release"}},  # a failed output; the recipe's other
                                                          # outputs and features stay
     "attempts": {"count", "reason", "at", "release", "dag_id", "run_ids": [...]} | None,  # unexpected failures
     # set by people in the gallery (absent until then):
     "title": str | None, "description": str | None, "tags": [...],
     "trashed": {"at", "by"} | None,            # in the trash: hidden, not processed, purged after a while
     "history": [{"at", "by", "action", "changes"}]}

A trashed image stays trashed when a crawl finds its content again (``record_image`` leaves it as
it is and does not count it as new); processing's planning and the gallery's default listing skip
it; a day's analytics leave out images trashed before the day, so days already reported read the
same when reported again.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from image_pipeline.core.catalog.roles import (
    Curation, DailyMetrics, DayReading, DeliveryLedger, ImageRecorder, Images, Listing, Planning, Problems,
    RequestLedger, SavedRecipes, Similarity,
)
from image_pipeline.core.errors import InvalidRequest
from image_pipeline.core.redact import redact_url

_FIELD_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


MANAGED_FIELDS = ("title", "description", "tags")
MAX_TAGS = 50


def clean_tags(tags: Iterable[Any]) -> list[str]:
    """Tags as stored: stripped, 1-50 printable characters, distinct, in the order given."""
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not 1 <= len(tag.strip()) <= 50 or not tag.strip().isprintable():
            raise InvalidRequest(f"a tag is 1 to 50 printable characters, got {tag!r}")
        if tag.strip() not in out:
            out.append(tag.strip())
    if len(out) > MAX_TAGS:
        raise InvalidRequest(f"at most {MAX_TAGS} tags per image")
    return out


def utcnow_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def to_iso(value: datetime | str) -> str:
    """Normalise a timestamp to the catalog's sortable UTC ISO form."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        raise ValueError("catalog timestamps must be timezone-aware")
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def new_image_doc(
    sha256: str, *, raw_key: str, format: str, width: int, height: int, bytes: int,
    source: str, uri: str, keyword: str, run_id: str, seen_at: str, provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A new image document. ``provenance`` adds what the source knows (page URL, licence hint,
    engine filters, data interval...) to this source's entry."""
    seen_at = to_iso(seen_at)
    return {
        "sha256": sha256,
        "raw_key": raw_key,
        "format": format,
        "width": width,
        "height": height,
        "bytes": bytes,
        "status": "raw",
        "retrieved_at": seen_at,
        "last_seen_at": seen_at,
        "keywords": [keyword],
        "run_ids": [run_id],
        # URLs as they may be recorded: a key or signature in their query (Flickr's api_key, a presigned
        # URL's X-Amz-Signature) never reaches the catalog.
        "sources": [{"source": source, "uri": redact_url(uri),
                     **{k: redact_url(v) if k.endswith("url") else v for k, v in (provenance or {}).items() if v}}],
        "outputs": {},
        "quarantine": None,
    }


def normalised_output(output: dict[str, Any]) -> dict[str, Any]:
    return {**output, "processed_at": to_iso(output["processed_at"])}


def check_field(path: str) -> str:
    if not _FIELD_PATH.match(path):
        raise ValueError(f"invalid field path: {path!r}")
    return path


class Catalog(Images, ImageRecorder, Planning, Similarity, Listing, Curation, Problems, DayReading, DailyMetrics,
              DeliveryLedger, SavedRecipes, RequestLedger, ABC):
    """Every role of :mod:`.roles` in one object: what the composition root opens, and closes. The
    roles hold the contract (each method's text); here are the implementations every backend
    shares, written over the backend's own methods, which a backend may replace by one query."""

    def record_output(self, sha256: str, recipe: str, output: dict[str, Any]) -> None:
        self.record_processing(sha256, {recipe: output})

    def due(self, recipes: Iterable[tuple[str, int | None, str | None]], features_version: int | None) -> list[str]:
        pending: set[str] = set()
        for name, version, fingerprint in recipes:
            if version is not None:
                pending.update(self.pending(name, version, "version"))
            if fingerprint is not None:
                pending.update(self.pending(name, fingerprint, "fingerprint"))
        if features_version is not None:
            pending.update(self.pending_features(features_version))
        return sorted(pending)

    def touched_json(self, since: str, until: str, recipes: Iterable[str] = (),
                     batch_size: int = 1000) -> Iterator[str | bytes]:
        for doc in self.touched(since, until, recipes, batch_size):
            yield json.dumps(doc, sort_keys=True)

    def day_facts(self, day: str, since: str, batch_size: int = 20_000) -> tuple[
            Iterator[tuple[list[bytes], list[bytes]]], Iterator[str | bytes]] | None:
        return None  # no facts kept: a day is read from touched_json

    def retry_image(self, sha256: str, by: str, at: str | None = None,
                    raw: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, bool]:
        doc = self.get(sha256)
        if doc is None or not (doc.get("quarantine") or doc.get("failures") or doc.get("attempts")):
            return doc, False
        if doc.get("quarantine") and not (doc.get("raw_key") or raw):
            return doc, False  # a file quarantined at retrieval that still does not read: nothing to process
        fields: dict[str, Any] = {**(raw or {}), "quarantine": None, "failures": {}, "attempts": None}
        if doc["status"] == "quarantined":
            fields["status"] = "processed" if doc.get("outputs") else "raw"
        cleared = {k: doc[k] for k in ("quarantine", "failures", "attempts") if doc.get(k)}
        entry = {"at": to_iso(at or utcnow_iso()), "by": by, "action": "retry", "changes": cleared}
        return self._edit(sha256, fields, entry), True

    # --- managed by people: title, description, tags, trash, history ------------------------------

    @abstractmethod
    def _edit(self, sha256: str, fields: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any] | None:
        """Set ``fields`` and append ``entry`` to the history, in one write; the updated document, or
        None when there is no such image."""

    def edit_image(self, sha256: str, changes: dict[str, Any], by: str, action: str = "edit",
                   at: str | None = None) -> dict[str, Any] | None:
        unknown = set(changes) - set(MANAGED_FIELDS)
        if unknown:
            raise InvalidRequest(f"only {', '.join(MANAGED_FIELDS)} can be changed, not {', '.join(sorted(unknown))}")
        wanted: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "tags":
                wanted["tags"] = clean_tags(value or [])
            elif value is not None and (not isinstance(value, str) or len(value) > (200 if name == "title" else 5000)):
                raise InvalidRequest(f"{name} is text of at most {200 if name == 'title' else 5000} characters")
            else:
                wanted[name] = value.strip() or None if isinstance(value, str) else None
        doc = self.get(sha256)
        if doc is None:
            return None
        changed = {k: v for k, v in wanted.items() if doc.get(k, [] if k == "tags" else None) != v}
        if not changed:
            return doc
        return self._edit(sha256, changed, {"at": to_iso(at or utcnow_iso()), "by": by, "action": action,
                                            "changes": changed})

    def tag_images(self, sha256s: Iterable[str], tags: Iterable[str], by: str, remove: bool = False) -> int:
        tags = clean_tags(tags)
        changed = 0
        for sha256 in sha256s:
            doc = self.get(sha256)
            if doc is None:
                continue
            current = doc.get("tags") or []
            new = [t for t in current if t not in tags] if remove else current + [t for t in tags if t not in current]
            if new != current:
                self._edit(sha256, {"tags": clean_tags(new)}, {
                    "at": utcnow_iso(), "by": by, "action": "untag" if remove else "tag",
                    "changes": {"tags": new}})
                changed += 1
        return changed

    def trash_image(self, sha256: str, by: str, at: str | None = None) -> tuple[dict[str, Any] | None, bool]:
        doc = self.get(sha256)
        if doc is None or doc.get("trashed"):
            return doc, False
        trashed = {"at": to_iso(at or utcnow_iso()), "by": by}
        return self._edit(sha256, {"trashed": trashed}, {**trashed, "action": "trash", "changes": {}}), True

    def restore_image(self, sha256: str, by: str, at: str | None = None) -> tuple[dict[str, Any] | None, bool]:
        doc = self.get(sha256)
        if doc is None or not doc.get("trashed"):
            return doc, False
        entry = {"at": to_iso(at or utcnow_iso()), "by": by, "action": "restore", "changes": {}}
        return self._edit(sha256, {"trashed": None}, entry), True

    def trashed_before(self, cutoff: str) -> list[dict[str, Any]]:
        return self.find(between=("trashed.at", "", to_iso(cutoff)))

    # --- the owner's: the composition root (or a test) opens a catalog and closes it ---------------

    def close(self) -> None:  # noqa: B027 - a backend holding nothing open needs no close
        pass

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def request_window(at: datetime | str, window: int) -> tuple[str, str, str]:
    """The request ledger's times as the catalog stores them (sortable ISO): ``at`` and the bounds,
    both excluded, of the entries counted with it: ``window`` seconds either side."""
    from datetime import timedelta

    at = to_iso(at)
    moment, span = datetime.fromisoformat(at), timedelta(seconds=window)
    return at, to_iso(moment - span), to_iso(moment + span)
