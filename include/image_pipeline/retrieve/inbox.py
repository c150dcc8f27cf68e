"""The inbox source: files a user uploaded into the store's ``inbox/`` zone, moved into the gallery.

- Endpoint: none (the store's ``inbox/`` zone). Filters: none. Date window: none.
- Nothing is fetched: each file is ingested from the store, then removed from the inbox.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from image_pipeline.core.catalog import Catalog
from image_pipeline.core.storage import ObjectStore
from image_pipeline.retrieve.ingest import RetrievalSummary, Run, ingest_bytes, list_folder

log = logging.getLogger(__name__)

ENDPOINT = ""

INBOX = "inbox/"


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


def ingest_inbox(store: ObjectStore, catalog: Catalog, *, keyword: str, run_id: str,
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
                                   name_hint=key, provenance=provenance)
            store.delete(key)
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
