"""Retrieval: requests and their windows (:mod:`.request`), the registry of sources (:mod:`.sources`),
the safe fetcher (:mod:`.fetch`), icrawler made safe (:mod:`.crawl`), ingestion into the raw zone and
the catalog (:mod:`.ingest`), and one module per source, each its endpoint, filters, date window and
parser: :mod:`.bing`, :mod:`.google`, :mod:`.baidu`, :mod:`.flickr`, :mod:`.openverse`,
:mod:`.wikimedia` (keyword searches), :mod:`.greedy` (a site), :mod:`.urls` (a URL list) and
:mod:`.inbox` (the store's inbox zone).

The names below are imported from their modules (plain imports, which editors and type checkers
follow); no module here imports a heavy library at its top, so importing the package (DAG files do)
stays light (tests/dags/test_dag_integrity.py)."""

from __future__ import annotations

from image_pipeline.retrieve.sources import ENGINES, SEARCH_ENGINES, SOURCES, source_module
from image_pipeline.retrieve.request import (
    REQUEST_FIELDS, RetrievalRequest, load_saved_searches, plan_requests, validate_request, with_window,
)
from image_pipeline.retrieve.ingest import RetrievalSummary, Run, ingest_bytes, ingest_folder, list_folder, retrieve
from image_pipeline.retrieve.urls import ingest_urls
from image_pipeline.retrieve.inbox import INBOX, ingest_inbox, upload_to_inbox

__all__ = [
    "ENGINES", "INBOX", "REQUEST_FIELDS", "RetrievalRequest", "RetrievalSummary", "Run", "SEARCH_ENGINES", "SOURCES",
    "ingest_bytes", "ingest_folder", "ingest_inbox", "ingest_urls", "list_folder", "load_saved_searches",
    "plan_requests", "retrieve", "source_module", "upload_to_inbox", "validate_request", "with_window",
]
