"""Retrieval: files from a folder, or URLs fetched with icrawler, into the raw zone and the catalog.

Each file is identified by the sha256 of its bytes: the raw object key and the catalog record are
both derived from it, so re-ingesting the same image (same run, a retry, another keyword) writes
nothing new and only adds the keyword and run id to the record. Files that are not images are
quarantined with the reason and the rest of the batch goes on.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

from image_pipeline import keys
from image_pipeline.catalog import Catalog, new_image_doc, utcnow_iso
from image_pipeline.fetch import FetchPolicy, SafeFetcher
from image_pipeline.processing import BadImage, inspect_image
from image_pipeline.storage import ObjectStore

log = logging.getLogger(__name__)


@dataclass
class RetrievalSummary:
    counts: Counter = field(default_factory=Counter)  # new / duplicate / quarantined / failed
    refused: Counter = field(default_factory=Counter)  # by the fetcher's reason
    sha256s: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: self.counts.get(k, 0) for k in ("new", "duplicate", "quarantined", "failed")}
        out["refused"] = sum(self.refused.values())
        out["refused_reasons"] = dict(sorted(self.refused.items()))
        return out


def ingest_bytes(
    store: ObjectStore, catalog: Catalog, data: bytes, *, source: str, uri: str, keyword: str,
    run_id: str, name_hint: str = "",
) -> tuple[str, str]:
    """Store one retrieved file; returns ``(outcome, sha256)`` with outcome new/duplicate/quarantined."""
    sha256 = keys.sha256_bytes(data)
    now = utcnow_iso()
    try:
        info = inspect_image(data)
    except BadImage as exc:
        ext = (Path(name_hint).suffix.lstrip(".").lower() or "bin")[:8]
        qkey = keys.quarantine_key(sha256, ext if ext.isalnum() else "bin")
        store.put_if_absent(qkey, data)
        base = new_image_doc(
            sha256, raw_key="", format="unknown", width=0, height=0, bytes=len(data),
            source=source, uri=uri, keyword=keyword, run_id=run_id, seen_at=now,
        )
        catalog.record_quarantine(sha256, str(exc), "retrieve", qkey, now, base=base)
        log.warning("quarantined %s: %s", uri, exc)
        return "quarantined", sha256
    raw_key = keys.raw_key(sha256, info.ext)
    # Object first, record second: a record never points at a missing object.
    store.put_if_absent(raw_key, data, f"image/{info.format.lower()}")
    is_new = catalog.record_image(
        sha256, raw_key=raw_key, format=info.format, width=info.width, height=info.height,
        bytes=len(data), source=source, uri=uri, keyword=keyword, run_id=run_id, seen_at=now,
    )
    return ("new" if is_new else "duplicate"), sha256


def _ingest_files(
    store: ObjectStore, catalog: Catalog, files: Iterable[tuple[Path, str]], *, source: str,
    keyword: str, run_id: str,
) -> RetrievalSummary:
    summary = RetrievalSummary()
    for path, uri in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            summary.counts["failed"] += 1
            continue
        outcome, sha256 = ingest_bytes(
            store, catalog, data, source=source, uri=uri, keyword=keyword, run_id=run_id, name_hint=path.name
        )
        summary.counts[outcome] += 1
        if outcome != "quarantined":
            summary.sha256s.append(sha256)
    log.info("retrieval summary: %s", summary.as_dict())
    return summary


def list_folder(folder: str | Path) -> list[Path]:
    """Files under ``folder`` (recursive, hidden files skipped), in a stable order."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"not a folder: {root}")
    return sorted(
        p for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def ingest_folder(store: ObjectStore, catalog: Catalog, folder: str | Path, *, keyword: str, run_id: str) -> RetrievalSummary:
    files = [(p, p.resolve().as_uri()) for p in list_folder(folder)]
    return _ingest_files(store, catalog, files, source="folder", keyword=keyword, run_id=run_id)


def ingest_urls(store: ObjectStore, catalog: Catalog, urls: list[str], *, keyword: str, run_id: str,
                policy: FetchPolicy | None = None) -> RetrievalSummary:
    """Fetch URLs through the safe fetcher and ingest what came back; refusals are counted by reason."""
    from image_pipeline.crawl import download_urls

    fetcher = SafeFetcher(policy or FetchPolicy())
    with tempfile.TemporaryDirectory(prefix="image-pipeline-dl-") as tmp:
        downloads = download_urls(urls, Path(tmp), fetcher)
        kept = [(d.path, d.url) for d in downloads if d.path is not None]
        summary = _ingest_files(store, catalog, kept, source="urls", keyword=keyword, run_id=run_id)
    for d in downloads:
        if d.outcome == "refused":
            summary.refused[d.reason] += 1
    summary.counts["failed"] += len(set(urls)) - len(downloads)  # never answered before the crawl ended
    return summary

SOURCES = ("folder", "urls")
MAX_URLS = 1000


def validate_request(*, source: str, folder: str = "", urls: list[str] | None = None, keyword: str) -> dict:
    """Check a retrieval request before any side effect; returns it normalised or raises ValueError."""
    keyword = (keyword or "").strip()
    if not keyword:
        raise ValueError("keyword must not be empty")
    if len(keyword) > 100 or any(not (c.isalnum() or c in " -_.") for c in keyword):
        raise ValueError(f"keyword {keyword!r}: use at most 100 letters, digits, spaces, '-', '_' or '.'")
    if source == "folder":
        if not folder or not Path(folder).is_dir():
            raise ValueError(f"source 'folder' needs an existing folder, got {folder!r}")
        return {"source": source, "folder": str(Path(folder).resolve()), "urls": [], "keyword": keyword}
    if source == "urls":
        urls = [u.strip() for u in (urls or []) if u and u.strip()]
        if not urls:
            raise ValueError("source 'urls' needs at least one URL")
        if len(urls) > MAX_URLS:
            raise ValueError(f"at most {MAX_URLS} URLs per run, got {len(urls)}")
        for url in urls:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"not an http(s) URL: {url!r}")
        return {"source": source, "folder": "", "urls": list(dict.fromkeys(urls)), "keyword": keyword}
    raise ValueError(f"unknown source {source!r}; choose one of {', '.join(SOURCES)}")


def retrieve(store: ObjectStore, catalog: Catalog, request: dict, *, run_id: str,
             policy: FetchPolicy | None = None) -> RetrievalSummary:
    """Run a validated request (see :func:`validate_request`)."""
    if request["source"] == "folder":
        return ingest_folder(store, catalog, request["folder"], keyword=request["keyword"], run_id=run_id)
    return ingest_urls(store, catalog, request["urls"], keyword=request["keyword"], run_id=run_id, policy=policy)
