"""Retrieval: requests and their windows (:mod:`.request`), the registry of sources (:mod:`.sources`),
the safe fetcher (:mod:`.fetch`), icrawler made safe (:mod:`.crawl`), ingestion into the raw zone and
the catalog (:mod:`.ingest`), and one module per source, each its endpoint, filters, date window and
parser: :mod:`.bing`, :mod:`.google`, :mod:`.baidu`, :mod:`.flickr`, :mod:`.openverse`,
:mod:`.wikimedia` (keyword searches), :mod:`.greedy` (a site), :mod:`.urls` (a URL list) and
:mod:`.inbox` (the store's inbox zone).

The names below are loaded on first use, so importing the package (DAG files do) stays light."""

from __future__ import annotations

from image_pipeline.core.exports import lazy_exports

_EXPORTS = {
    "image_pipeline.retrieve.sources": ("ENGINES", "SEARCH_ENGINES", "SOURCES", "source_module"),
    "image_pipeline.retrieve.request": ("REQUEST_FIELDS", "RetrievalRequest", "load_saved_searches", "plan_requests",
                                        "validate_request", "with_window"),
    "image_pipeline.retrieve.ingest": ("RetrievalSummary", "Run", "ingest_bytes", "ingest_folder", "list_folder",
                                       "retrieve"),
    "image_pipeline.retrieve.urls": ("ingest_urls",),
    "image_pipeline.retrieve.inbox": ("INBOX", "ingest_inbox", "upload_to_inbox"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
