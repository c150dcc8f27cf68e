"""The catalog: one document per distinct image, keyed by its sha256, and a delivery ledger.

One interface (this module), two implementations that pass the same contract tests: :class:`SqliteCatalog`
(the embedded default, a JSON document per row) and :class:`MongoCatalog` (pymongo; the Airflow
adapter builds its client from the ``mongo_default`` connection). Every write is an upsert keyed by
content hash or delivery id, so a retried task never duplicates a record.

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

A trashed image stays trashed when a crawl finds its content again (:meth:`record_image` leaves it
as it is and does not count it as new); processing planning (:meth:`pending`) and the gallery's
default listing skip it; a day's analytics (:meth:`touched`) leave out images trashed before the day,
so days already reported read the same when reported again.

Analytics keep one metrics document per day beside the images (``put_metrics``/``get_metrics``), and
read a day's images as a stream (``touched``), never the whole catalog at once.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

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


class Catalog(ABC):
    """What the pipeline needs to know about images and deliveries."""

    @abstractmethod
    def record_image(self, sha256: str, **fields: Any) -> bool:
        """Upsert an image seen by a retrieval; returns True when it is new to the catalog.

        ``fields`` are those of :func:`new_image_doc`. Seeing a known image again adds its keyword,
        run id and source to the sets and moves ``last_seen_at``; nothing else changes.
        """

    def record_output(self, sha256: str, recipe: str, output: dict[str, Any]) -> None:
        """Store a recipe's output for an image and mark it processed."""
        self.record_processing(sha256, {recipe: output})

    @abstractmethod
    def record_processing(self, sha256: str, outputs: dict[str, dict[str, Any]],
                          features: dict[str, Any] | None = None, duplicate_of: str | None = None,
                          failures: dict[str, dict[str, Any]] | None = None) -> None:
        """Store what processing one image produced, in one write: recipe outputs (replacing those
        recipes' earlier outputs and failures; the image is then processed), ``failures`` (the
        recipes whose output failed by the recipe's fault, each with its reason, version and
        fingerprint: planning leaves them alone until the recipe changes or a Redo), and, when
        given, its features and near-duplicate group. The image got through the engine: its
        unexpected ``attempts`` are over."""

    @abstractmethod
    def record_quarantine(self, sha256: str, reason: str, stage: str, key: str, at: str,
                          base: dict[str, Any] | None = None, *, kind: str = "image", release: str | None = None,
                          run_id: str | None = None, attempts: int | None = None, dag_id: str | None = None) -> None:
        """Mark an image quarantined; ``base`` creates the document if it does not exist yet.
        ``kind`` is whose fault it is (``image``, or ``unexpected`` after ``attempts`` failures),
        ``release`` the pipeline's release that decided it, ``run_id`` and ``dag_id`` the run (the
        gallery links to its page without asking Airflow which DAG ran it).

        The first quarantine of an image stands: recording it again changes nothing (until
        :meth:`retry_image` lifts it)."""

    @abstractmethod
    def record_attempt(self, sha256: str, reason: str, at: str, *, run_id: str | None = None,
                       release: str | None = None, dag_id: str | None = None) -> int:
        """Count an unexpected failure of processing an image, once per run (a retried task of the
        same run is not another attempt; without ``run_id``, every call counts); returns the
        attempts so far. :meth:`record_processing` ends them."""

    @abstractmethod
    def problems(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Images with a problem: quarantined, with a failed output or with unexpected attempts, the
        trash left out, by sha256 (at most ``limit``). Backends answer it from an index."""

    def retry_image(self, sha256: str, by: str, at: str | None = None,
                    raw: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, bool]:
        """Try an image again: its quarantine lifted (``raw``: the ``raw_key``, ``format``, ``width``,
        ``height`` and ``bytes`` of a file quarantined at retrieval that now reads), its failed
        outputs and attempts forgotten, recorded in its history; planning finds it due again.
        (the document, whether anything changed)."""
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

    @abstractmethod
    def get(self, sha256: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def find(
        self, *, keyword: str | None = None, run_id: str | None = None, status: str | None = None,
        has_output: str | None = None, between: tuple[str, str, str] | None = None, label: str | None = None,
    ) -> list[dict[str, Any]]:
        """Images matching every given filter, by sha256.

        ``label`` keeps images whose features list that label name.

        ``between=(field, since, until)`` keeps documents whose (dotted) field is in
        ``[since, until)``, e.g. ``("outputs.half_gray.processed_at", start, end)``.
        """

    @abstractmethod
    def iter_images(self, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every image document, by sha256, read ``batch_size`` at a time: a pass over the whole
        catalog (maintenance's check) never holds it all."""

    @abstractmethod
    def pending(self, recipe: str, version: int | str, field: str = "version") -> list[str]:
        """sha256 of images not quarantined whose ``recipe`` output is missing or outdated: its
        ``field`` (``version`` or ``fingerprint``) differs from ``version``."""

    @abstractmethod
    def pending_features(self, version: int) -> list[str]:
        """sha256 of images not quarantined whose features are missing or of another version."""

    def due(self, recipes: Iterable[tuple[str, int | None, str | None]], features_version: int | None) -> list[str]:
        """sha256 (sorted) of images not quarantined that lack an output of one of ``recipes`` (name,
        version, fingerprint: at least one given; None is not compared) or have one of another version
        or fingerprint, or,
        with ``features_version``, whose features are missing or of another version: the work a
        processing run plans. Backends answer it in one query where they can."""
        pending: set[str] = set()
        for name, version, fingerprint in recipes:
            if version is not None:
                pending.update(self.pending(name, version, "version"))
            if fingerprint is not None:
                pending.update(self.pending(name, fingerprint, "fingerprint"))
        if features_version is not None:
            pending.update(self.pending_features(features_version))
        return sorted(pending)

    @abstractmethod
    def phashes(self) -> list[tuple[str, str]]:
        """(sha256, perceptual hash) of every image with features, oldest retrieval first: the
        candidates a new image's near-duplicate group is looked up in."""

    @abstractmethod
    def embedding_shas(self) -> list[str]:
        """sha256 of every image whose features hold an embedding (similar images), by sha256."""

    @abstractmethod
    def embeddings(self, sha256s: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """(sha256, ``features.embedding.f16`` text) of those images (all when None) that have one, by sha256."""

    @abstractmethod
    def get_delivery(self, delivery_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def put_delivery(self, delivery_id: str, doc: dict[str, Any]) -> None:
        """Upsert a delivery ledger entry."""

    @abstractmethod
    def deliveries(self) -> list[dict[str, Any]]: ...

    @abstractmethod
    def touched(self, since: str, until: str, recipes: Iterable[str] = (),
                batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Images retrieved, quarantined or given a ``recipes`` output in ``[since, until)``, by
        sha256, streamed ``batch_size`` at a time: a day's analytics never holds the whole catalog."""

    def touched_json(self, since: str, until: str, recipes: Iterable[str] = (),
                     batch_size: int = 1000) -> Iterator[str | bytes]:
        """JSON text (``str`` or UTF-8 ``bytes``) of at least the documents :meth:`touched` gives, in
        any order, for readers that parse in bulk and apply the window themselves: an implementation
        may add documents it can rule out only by parsing them."""
        for doc in self.touched(since, until, recipes, batch_size):
            yield json.dumps(doc, sort_keys=True)

    def day_facts(self, day: str, since: str, batch_size: int = 20_000) -> tuple[
            Iterator[tuple[list[bytes], list[bytes]]], Iterator[str | bytes]] | None:
        """What a day's analytics read, for a catalog that keeps its documents' facts (:mod:`.facts`):
        batches of (image lines, output lines) of the images with a timestamp in the UTC day ``day``
        (``YYYY-MM-DD``; ``since``, its start) and not trashed before it, in sha256 order, and the
        JSON text of the documents kept without lines. None: this catalog keeps none (read
        :meth:`touched_json`)."""
        return None

    @abstractmethod
    def get_metrics(self, day: str) -> dict[str, Any] | None:
        """The analytics metrics document of a day (``YYYY-MM-DD``)."""

    @abstractmethod
    def put_metrics(self, day: str, doc: dict[str, Any]) -> None:
        """Upsert (replace) a day's metrics document: re-running a day leaves one document."""

    @abstractmethod
    def metrics(self) -> list[dict[str, Any]]:
        """Every day's metrics document, by day."""

    # --- the gallery's listing (see :mod:`.listing`) ---------------------------------------------

    @abstractmethod
    def list_images(self, filters: Any = None, sort: str = "newest", limit: int = 60,
                    cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of images matching ``filters`` (an :class:`~.listing.ImageFilters` or its dict),
        ``newest`` or ``oldest`` first by ``retrieved_at`` then sha256, after ``cursor``; returns
        the page and the cursor of the next one (None at the end). Index-backed, never OFFSET."""

    @abstractmethod
    def count_images(self, filters: Any = None) -> int:
        """How many images match ``filters``."""

    @abstractmethod
    def facets(self, top: int = 100) -> dict[str, list[dict[str, Any]]]:
        """The values the gallery can filter on, with their image counts, most frequent first (at
        most ``top`` each, the trash left out): ``keywords``, ``labels``, ``sources``, ``tags``,
        ``formats``, ``statuses``, as ``[{"name", "count"}]``."""

    # --- managed by people: title, description, tags, trash, history ------------------------------

    @abstractmethod
    def _edit(self, sha256: str, fields: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any] | None:
        """Set ``fields`` and append ``entry`` to the history, in one write; the updated document, or
        None when there is no such image."""

    @abstractmethod
    def delete_image(self, sha256: str) -> bool:
        """Remove an image's record (the maintenance's purge); True when there was one."""

    def edit_image(self, sha256: str, changes: dict[str, Any], by: str, action: str = "edit",
                   at: str | None = None) -> dict[str, Any] | None:
        """Change an image's ``title``, ``description`` and ``tags``, recording who changed what
        (only what differs goes into the history); None when there is no such image."""
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
        """Add (or ``remove``) tags on several images; how many images changed."""
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
        """Move an image to the trash; (the document, whether it changed: trashing twice changes nothing)."""
        doc = self.get(sha256)
        if doc is None or doc.get("trashed"):
            return doc, False
        trashed = {"at": to_iso(at or utcnow_iso()), "by": by}
        return self._edit(sha256, {"trashed": trashed}, {**trashed, "action": "trash", "changes": {}}), True

    def restore_image(self, sha256: str, by: str, at: str | None = None) -> tuple[dict[str, Any] | None, bool]:
        """Take an image out of the trash; (the document, whether it changed)."""
        doc = self.get(sha256)
        if doc is None or not doc.get("trashed"):
            return doc, False
        entry = {"at": to_iso(at or utcnow_iso()), "by": by, "action": "restore", "changes": {}}
        return self._edit(sha256, {"trashed": None}, entry), True

    def trashed_before(self, cutoff: str) -> list[dict[str, Any]]:
        """Images moved to the trash before ``cutoff`` (what the maintenance purges)."""
        return self.find(between=("trashed.at", "", to_iso(cutoff)))

    # --- saved recipes (the gallery's editor) -------------------------------------------------------

    @abstractmethod
    def save_recipe(self, name: str, spec: dict[str, Any], saved_by: str, saved_at: str) -> dict[str, Any]:
        """Store a recipe's spec (its YAML mapping, without ``version``) under ``name``, atomically
        bumping its version (1 when new); returns ``{"name", "version", "spec", "saved_by", "saved_at"}``."""

    @abstractmethod
    def saved_recipes(self) -> list[dict[str, Any]]:
        """Every saved recipe (as :meth:`save_recipe` returns them), by name."""

    def close(self) -> None:  # noqa: B027 - a backend holding nothing open needs no close
        pass

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the request ledger (image_request's per-user limit: core.request_limit) ------------------
    # Kept apart from the images: one entry per run of image_request, {"run_id", "user", "at",
    # "admitted"}, written by the run's first task only.

    @abstractmethod
    def admit_request(self, run_id: str, user: str, at: datetime | str, limit: int, window: int) -> dict[str, Any]:
        """Record the run ``run_id`` of ``user`` made at ``at`` and decide, in one atomic step,
        whether it is within the limit: admitted unless ``limit`` or more of that user's other
        entries are less than ``window`` seconds before or after ``at``. A run already recorded
        keeps its entry and decision (a retry, a clear). Returns the entry, ``{"run_id", "user",
        "at", "admitted"}``, with ``recent``: the times (ISO, oldest first) of that user's entries
        less than ``window`` seconds either side of the entry's, its own included."""


def request_window(at: datetime | str, window: int) -> tuple[str, str, str]:
    """The request ledger's times as the catalog stores them (sortable ISO): ``at`` and the bounds,
    both excluded, of the entries counted with it: ``window`` seconds either side."""
    from datetime import timedelta

    at = to_iso(at)
    moment, span = datetime.fromisoformat(at), timedelta(seconds=window)
    return at, to_iso(moment - span), to_iso(moment + span)
