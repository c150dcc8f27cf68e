"""Retrieval into the raw zone and the catalog: :func:`retrieve` runs a request with its source's
module (:mod:`.sources`), which downloads through the safe fetcher and hands what it kept to
:meth:`Run.crawl`, or ingests the store's inbox.

A request is validated (:func:`validate_request`, :func:`plan_requests`) before anything is fetched.
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
from typing import TYPE_CHECKING, Any, Callable, Iterable

from image_pipeline.core import keys
from image_pipeline.core.catalog import new_image_doc, utcnow_iso
from image_pipeline.core.catalog.roles import ImageRecorder
from image_pipeline import RELEASE
from image_pipeline.core.errors import BadImage
from image_pipeline.core.probe import inspect_image
from image_pipeline.core.storage import ObjectStore
from image_pipeline.retrieve.fetch import FetchPolicy, SafeFetcher
from image_pipeline.retrieve.sources import source_module

if TYPE_CHECKING:
    from image_pipeline.retrieve.crawl import CrawlResult

log = logging.getLogger(__name__)


@dataclass
class RetrievalSummary:
    counts: Counter = field(default_factory=Counter)  # new / duplicate / quarantined / failed
    refused: Counter = field(default_factory=Counter)  # by the fetcher's reason
    stop_reason: str = "exhausted"  # why a crawl ended: exhausted / count_reached / idle_timeout / deadline

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: self.counts.get(k, 0) for k in ("new", "duplicate", "quarantined", "failed")}
        out["refused"] = sum(self.refused.values())
        out["refused_reasons"] = dict(sorted(self.refused.items()))
        out["stop_reason"] = self.stop_reason
        return out


def ingest_bytes(
    store: ObjectStore, catalog: ImageRecorder, data: bytes, *, source: str, uri: str, keyword: str,
    run_id: str, name_hint: str = "", provenance: dict[str, Any] | None = None,
) -> str:
    """Store one retrieved file; returns its outcome: new, duplicate or quarantined."""
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
            source=source, uri=uri, keyword=keyword, run_id=run_id, seen_at=now, provenance=provenance,
        )
        catalog.record_quarantine(sha256, str(exc), "retrieve", qkey, now, base=base, kind="image", release=RELEASE,
                                  run_id=run_id, dag_id=(provenance or {}).get("dag_id"))
        log.warning("quarantined %s: %s", uri, exc)
        return "quarantined"
    raw_key = keys.raw_key(sha256, info.ext)
    # Object first, record second: a record never points at a missing object.
    store.put_if_absent(raw_key, data, f"image/{info.format.lower()}")
    is_new = catalog.record_image(
        sha256, raw_key=raw_key, format=info.format, width=info.width, height=info.height,
        bytes=len(data), source=source, uri=uri, keyword=keyword, run_id=run_id, seen_at=now, provenance=provenance,
    )
    return "new" if is_new else "duplicate"


def _ingest_files(
    store: ObjectStore, catalog: ImageRecorder, files: Iterable[tuple[Path, str, dict[str, Any]]], *, source: str,
    keyword: str, run_id: str,
) -> RetrievalSummary:
    summary = RetrievalSummary()
    for path, uri, provenance in files:
        try:
            data = path.read_bytes()
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            summary.counts["failed"] += 1
            continue
        outcome = ingest_bytes(store, catalog, data, source=source, uri=uri, keyword=keyword,
                               run_id=run_id, name_hint=path.name, provenance=provenance)
        summary.counts[outcome] += 1
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


def ingest_folder(store: ObjectStore, catalog: ImageRecorder, folder: str | Path, *, keyword: str,
                  run_id: str) -> RetrievalSummary:
    files = [(p, p.resolve().as_uri(), {}) for p in list_folder(folder)]
    return _ingest_files(store, catalog, files, source="folder", keyword=keyword, run_id=run_id)


def _ingest_crawl(store: ObjectStore, catalog: ImageRecorder, result: CrawlResult, *, source: str, keyword: str,
                  run_id: str, provenance: dict[str, Any]) -> RetrievalSummary:
    kept = [(d.path, d.url, {**provenance, "page_url": d.page_url, "licence": d.licence, "licence_url": d.licence_url,
                             "creator": d.creator})
            for d in result.downloads if d.path is not None]
    summary = _ingest_files(store, catalog, kept, source=source, keyword=keyword, run_id=run_id)
    for d in result.downloads:
        if d.outcome == "refused":
            summary.refused[d.reason] += 1
    summary.stop_reason = result.stop_reason
    return summary


@dataclass(frozen=True)
class Run:
    """What a source's ``retrieve(request, run)`` has besides its request (see :mod:`.sources`): where
    the images go, the run, the fetch guards, its endpoint (the settings' override, else the source's
    own) and its credentials (``None`` when none were given)."""

    store: ObjectStore
    catalog: ImageRecorder
    run_id: str
    policy: FetchPolicy
    provenance: dict[str, Any]
    endpoint: str = ""
    credentials: Any = None
    idle_timeout: float = 60

    @property
    def crawl_idle(self) -> float:
        """The idle timeout must outlast one whole download, or a slow but legal file ends the crawl."""
        return max(self.idle_timeout, self.policy.deadline + 1)

    def fetcher(self) -> SafeFetcher:
        return SafeFetcher(self.policy)

    def crawl(self, request: dict, fetch: Callable[[Path, SafeFetcher], CrawlResult], *,
              provenance: dict[str, Any] | None = None) -> RetrievalSummary:
        """``fetch(dest, fetcher)`` downloads into a temporary folder; what it kept is ingested
        (provenance: the run's and ``provenance``, by default the request's filters)."""
        extra = {"filters": request["filters"]} if provenance is None else provenance
        with tempfile.TemporaryDirectory(prefix="image-pipeline-crawl-") as tmp:
            result = fetch(Path(tmp), self.fetcher())
            summary = _ingest_crawl(self.store, self.catalog, result, source=request["engine"],
                                    keyword=request["keyword"], run_id=self.run_id,
                                    provenance={**self.provenance, **extra})
        return summary

    def search(self, request: dict, search: Callable[..., CrawlResult], **options: Any) -> RetrievalSummary:
        """A keyword source's ``search(keyword, dest, fetcher, count=, filters=, base_url=, ...)`` run
        as :meth:`crawl` with the request's keyword, count and filters and the run's endpoint
        (``options``: the source's own, e.g. credentials)."""
        return self.crawl(request, lambda dest, fetcher: search(
            request["keyword"], dest, fetcher, count=request["count"], filters=request["filters"],
            base_url=self.endpoint, **options))


def retrieve(store: ObjectStore, catalog: ImageRecorder, request: dict, *, run_id: str,
             policy: FetchPolicy | None = None, provenance: dict[str, Any] | None = None,
             endpoints: dict[str, str] | None = None, api_keys: dict[str, Any] | None = None,
             idle_timeout: float = 60) -> RetrievalSummary:
    """Run one request from :func:`validate_request` (a dict, or a :class:`RetrievalRequest`) with
    its source's module. A crawl ends when the source is exhausted, ``count`` images are in, or
    nothing new came for ``idle_timeout`` seconds; the summary says which. ``endpoints`` overrides
    a source's URL (a proxy, or a local page in tests); ``api_keys`` gives a source its credentials
    (Flickr's key; Openverse's client id and secret; Wikimedia's contact)."""
    if not isinstance(request, dict):
        request = request.to_dict()
    engine = request["engine"]
    source = source_module(engine)
    run = Run(store, catalog, run_id, policy or FetchPolicy(), provenance or {},
              endpoint=(endpoints or {}).get(engine) or source.ENDPOINT, credentials=(api_keys or {}).get(engine),
              idle_timeout=idle_timeout)
    return source.retrieve(request, run)
