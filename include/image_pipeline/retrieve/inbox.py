"""The inbox source: files a user uploaded into the store's ``inbox/`` zone, moved into the gallery.

- Endpoint: none (the store's ``inbox/`` zone). Filters: none. Date window: none.
- Nothing is fetched: each file is ingested from the store, then removed from the inbox.
- An upload may say who made it: a sidecar ``inbox-meta/<name>.json`` (outside the zone the
  inbox's trigger watches, written before the file) whose ``uploaded_by`` the ingestion adds to the
  image's provenance, then removes with the file.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from image_pipeline.core.catalog.roles import ImageRecorder
from image_pipeline.core.storage import ObjectNotFound, ObjectStore
from image_pipeline.retrieve.ingest import RetrievalSummary, Run, ingest_bytes, list_folder

log = logging.getLogger(__name__)

ENDPOINT = ""

INBOX = "inbox/"
INBOX_META = "inbox-meta/"  # sidecars of uploads: who uploaded (never listed as inbox files)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(name: str, limit: int = 80) -> str:
    """A file name from a client, made harmless: its last path part, ASCII letters, digits, ``-_.``
    only, no leading dot, at most ``limit`` characters (the extension kept); never empty."""
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = _UNSAFE.sub("_", base).lstrip(".")
    if len(cleaned) > limit:
        stem, dot, ext = cleaned.rpartition(".")
        ext = ext[:10] if dot and stem else ""
        cleaned = cleaned[: limit - len(ext) - 1] + "." + ext if ext else cleaned[:limit]
    return cleaned or "upload"


def upload_key(name: str) -> str:
    """A new, unique inbox key for an uploaded file: ``inbox/<UTC time>-<random>-<safe name>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"{INBOX}{stamp}-{uuid.uuid4().hex[:12]}-{safe_name(name)}"


def meta_key(key: str) -> str:
    """The sidecar of an inbox key."""
    return INBOX_META + key[len(INBOX):] + ".json"


def upload_file(store: ObjectStore, name: str, data: bytes, *, uploaded_by: str | None = None,
                content_type: str | None = None) -> str:
    """One uploaded file's bytes into the inbox under a new key (the sidecar first, so the ingestion
    that the file starts finds it); returns the key."""
    key = upload_key(name)
    if uploaded_by:
        store.put_bytes(meta_key(key), json.dumps({"uploaded_by": uploaded_by, "name": name}).encode(),
                        "application/json")
    store.put_bytes(key, data, content_type)
    return key


def _upload_meta(store: ObjectStore, key: str) -> dict[str, Any]:
    try:
        meta = json.loads(store.get_bytes(meta_key(key)))
    except (ObjectNotFound, json.JSONDecodeError, UnicodeDecodeError):  # no sidecar, or not JSON: no uploader
        return {}
    return {"uploaded_by": str(meta["uploaded_by"])} if isinstance(meta, dict) and meta.get("uploaded_by") else {}


def upload_to_inbox(store: ObjectStore, folder: str | Path) -> list[str]:
    """Put the files of a local folder into the store's inbox zone (what a user's upload does)."""
    root = Path(folder)
    uploaded = []
    for path in list_folder(root):
        key = INBOX + "/".join(
            "".join(c if c.isalnum() or c in "-_." else "_" for c in part) for part in path.relative_to(root).parts
        )
        store.put_file(key, path)
        uploaded.append(key)
    return uploaded


def ingest_inbox(store: ObjectStore, catalog: ImageRecorder, *, keyword: str, run_id: str,
                 provenance: dict[str, Any] | None = None) -> RetrievalSummary:
    """Move every file of the inbox zone (a local folder or an S3 prefix) into the gallery.

    A file leaves the inbox only after its object and record are written, so a retry ingests what
    is left and a file ingested twice is a duplicate, never a loss.
    """
    summary = RetrievalSummary()
    with tempfile.TemporaryDirectory(prefix="image-pipeline-inbox-") as tmp:
        local = Path(tmp) / "file"
        for key in list(store.list(INBOX)):
            store.download(key, local)
            outcome = ingest_bytes(store, catalog, local.read_bytes(), source="inbox",
                                   uri=f"{store.url.rstrip('/')}/{key}", keyword=keyword, run_id=run_id,
                                   name_hint=key, provenance={**(provenance or {}), **_upload_meta(store, key)})
            store.delete(key)
            store.delete(meta_key(key))
            summary.counts[outcome] += 1
    log.info("inbox summary: %s", summary.as_dict())
    return summary


def check(request: dict, **_: Any) -> dict:
    """The inbox takes nothing besides its keyword (the label of what is ingested)."""
    return request


def with_window(request: dict, start: Any, end: Any, now: Any) -> dict:
    """The inbox has no date filter: the request stays as it is."""
    return request


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    return ingest_inbox(run.store, run.catalog, keyword=request["keyword"], run_id=run.run_id,
                        provenance=run.provenance)
