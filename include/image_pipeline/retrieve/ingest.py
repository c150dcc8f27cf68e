"""Retrieval: keyword searches, site crawls, URL lists (all through icrawler and the safe fetcher)
and the inbox zone, into the raw zone and the catalog.

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
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlparse

from image_pipeline import keys
from image_pipeline.catalog import Catalog, new_image_doc, utcnow_iso
from image_pipeline.fetch import FetchPolicy, SafeFetcher
from image_pipeline.processing import BadImage, inspect_image
from image_pipeline.settings import SEARCH_ENDPOINTS
from image_pipeline.storage import ObjectStore

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
    store: ObjectStore, catalog: Catalog, data: bytes, *, source: str, uri: str, keyword: str,
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
        catalog.record_quarantine(sha256, str(exc), "retrieve", qkey, now, base=base)
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
    store: ObjectStore, catalog: Catalog, files: Iterable[tuple[Path, str, dict[str, Any]]], *, source: str,
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


def ingest_folder(store: ObjectStore, catalog: Catalog, folder: str | Path, *, keyword: str, run_id: str) -> RetrievalSummary:
    files = [(p, p.resolve().as_uri(), {}) for p in list_folder(folder)]
    return _ingest_files(store, catalog, files, source="folder", keyword=keyword, run_id=run_id)


def _crawl_idle(idle_timeout: float, policy: FetchPolicy) -> float:
    """The idle timeout must outlast one whole download, or a slow but legal file ends the crawl."""
    return max(idle_timeout, policy.deadline + 1)


def _ingest_crawl(store: ObjectStore, catalog: Catalog, result: Any, *, source: str, keyword: str,
                  run_id: str, provenance: dict[str, Any]) -> RetrievalSummary:
    kept = [(d.path, d.url, {**provenance, "page_url": d.page_url, "licence": d.licence})
            for d in result.downloads if d.path is not None]
    summary = _ingest_files(store, catalog, kept, source=source, keyword=keyword, run_id=run_id)
    for d in result.downloads:
        if d.outcome == "refused":
            summary.refused[d.reason] += 1
    summary.stop_reason = result.stop_reason
    return summary


def ingest_urls(store: ObjectStore, catalog: Catalog, urls: list[str], *, keyword: str, run_id: str,
                policy: FetchPolicy | None = None, provenance: dict[str, Any] | None = None,
                idle_timeout: float = 60) -> RetrievalSummary:
    """Fetch URLs through the safe fetcher and ingest what came back; refusals are counted by reason."""
    from image_pipeline.crawl import download_urls

    policy = policy or FetchPolicy()
    with tempfile.TemporaryDirectory(prefix="image-pipeline-dl-") as tmp:
        result = download_urls(urls, Path(tmp), SafeFetcher(policy), idle_timeout=_crawl_idle(idle_timeout, policy))
        summary = _ingest_crawl(store, catalog, result, source="urls", keyword=keyword, run_id=run_id,
                                provenance=provenance or {})
    summary.counts["failed"] += len(set(urls)) - len(result.downloads)  # never answered before the crawl ended
    return summary


def ingest_crawl(store: ObjectStore, catalog: Catalog, request: dict, *, run_id: str,
                 policy: FetchPolicy | None = None, provenance: dict[str, Any] | None = None,
                 endpoints: dict[str, str] | None = None, api_keys: dict[str, str] | None = None,
                 idle_timeout: float = 60) -> RetrievalSummary:
    """A keyword search or a greedy site crawl, then ingestion. The crawl ends when the source is
    exhausted, ``count`` images are in, or nothing new came for ``idle_timeout`` seconds; the
    summary says which. ``endpoints`` overrides an engine's URL (a proxy, or a local page in tests)."""
    from image_pipeline import crawl

    policy = policy or FetchPolicy()
    fetcher = SafeFetcher(policy)
    engine, endpoints = request["engine"], {**SEARCH_ENDPOINTS, **(endpoints or {})}
    options = {"count": request["count"], "idle_timeout": _crawl_idle(idle_timeout, policy)}
    with tempfile.TemporaryDirectory(prefix="image-pipeline-crawl-") as tmp:
        if engine == "greedy":
            result = crawl.crawl_site(request["site_url"], Path(tmp), fetcher, **options)
        elif engine == "bing":
            result = crawl.search_bing(request["keyword"], Path(tmp), fetcher, filters=request["filters"],
                                       base_url=endpoints["bing"], **options)
        else:
            api_key = (api_keys or {}).get(engine, "")
            if engine == "flickr" and not api_key:
                raise ValueError("engine 'flickr' needs an API key (the Airflow connection GALLERY_FLICKR_CONN_ID)")
            result = crawl.search(engine, request["keyword"], Path(tmp), fetcher, filters=request["filters"],
                                  base_url=endpoints[engine], api_key=api_key, **options)
        return _ingest_crawl(store, catalog, result, source=engine, keyword=request["keyword"],
                             run_id=run_id, provenance={**(provenance or {}), "filters": request["filters"]})


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


ENGINES = ("bing", "google", "baidu", "flickr", "greedy", "urls", "inbox")
SEARCH_ENGINES = ("bing", "google", "baidu", "flickr")
REQUEST_FIELDS = ("engine", "keywords", "count", "filters", "site_url", "urls")  # the form's and a saved search's
FLICKR_FILTERS = {"license", "tags", "tag_mode", "sort", "content_types", "media", "min_upload_date",
                  "max_upload_date", "min_taken_date", "max_taken_date", "safe_search"}


def validate_request(*, engine: str, keywords: list[str] | None = None, count: int = 20,
                     filters: dict | None = None, site_url: str = "", urls: list[str] | None = None,
                     max_count: int = 1000) -> list[dict]:
    """Check a retrieval request before any side effect; returns one normalised request per task
    (one per keyword for a search engine) or raises ValueError with what is wrong."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    cleaned = []
    for keyword in keywords or []:
        keyword = (keyword or "").strip()
        if not keyword:
            raise ValueError("keywords must not be empty")
        if len(keyword) > 100 or any(not (c.isalnum() or c in " -_.") for c in keyword):
            raise ValueError(f"keyword {keyword!r}: use at most 100 letters, digits, spaces, '-', '_' or '.'")
        if keyword not in cleaned:
            cleaned.append(keyword)
    if not isinstance(count, int) or not 1 <= count <= max_count:
        raise ValueError(f"count must be between 1 and {max_count}, got {count!r}")
    filters = dict(filters or {})
    base = {"engine": engine, "count": count, "filters": filters, "site_url": "", "urls": []}
    if engine in SEARCH_ENGINES:
        if not cleaned:
            raise ValueError(f"engine {engine!r} needs at least one keyword")
        _check_filters(engine, filters)
        return [{**base, "keyword": k} for k in cleaned]
    if filters:
        raise ValueError(f"engine {engine!r} takes no search filters")
    label = cleaned[0] if cleaned else engine
    if engine == "greedy":
        if not _is_http_url(site_url or ""):
            raise ValueError(f"engine 'greedy' needs an http(s) site_url, got {site_url!r}")
        return [{**base, "keyword": label, "site_url": site_url}]
    if engine == "urls":
        urls = [u.strip() for u in (urls or []) if u and u.strip()]
        if not urls:
            raise ValueError("engine 'urls' needs at least one URL")
        if len(urls) > max_count:
            raise ValueError(f"at most {max_count} URLs per run, got {len(urls)}")
        for url in urls:
            if not _is_http_url(url):
                raise ValueError(f"not an http(s) URL: {url!r}")
        return [{**base, "keyword": label, "urls": list(dict.fromkeys(urls))}]
    return [{**base, "keyword": label}]  # inbox


def load_saved_searches(path: str | Path, max_count: int = 1000) -> list[dict]:
    """The saved searches of a YAML file, validated and expanded into requests (one per keyword)."""
    import yaml

    try:
        content = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise ValueError(f"saved searches file not found: {path}") from None
    searches = content.get("searches") or []
    if not isinstance(searches, list):
        raise ValueError(f"{path}: 'searches' must be a list")
    requests = []
    for i, search in enumerate(searches):
        if not isinstance(search, dict) or set(search) - set(REQUEST_FIELDS):
            raise ValueError(f"{path}: search {i + 1} must be a mapping of engine, keywords, count, filters, "
                             "site_url, urls")
        try:
            requests += validate_request(**{"engine": "bing", **search, "max_count": max_count})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: search {i + 1}: {exc}") from None
    return requests


# Bing's only date filter is an age relative to now: a past window maps to the smallest age that
# still reaches back to the window's start.
BING_AGES = [(timedelta(days=1), "pastday"), (timedelta(days=7), "pastweek"), (timedelta(days=31), "pastmonth"),
             (timedelta(days=365), "pastyear")]


def with_window(request: dict, start: datetime | None, end: datetime | None, now: datetime) -> dict:
    """The request with its run's data interval passed to the engine's date filter, where it has one."""
    if start is None or end is None:
        return request
    if request["engine"] == "flickr" and not {"min_upload_date", "max_upload_date"} & set(request["filters"]):
        window = {"min_upload_date": int(start.timestamp()), "max_upload_date": int(end.timestamp())}
        return {**request, "filters": {**request["filters"], **window}}  # Flickr takes the exact window
    if request["engine"] == "google" and "date" not in request["filters"]:
        last_day = (end - timedelta(microseconds=1)).date()  # Google's range is of whole days, inclusive
        dates = [start.date().isoformat(), last_day.isoformat()]
        return {**request, "filters": {**request["filters"], "date": dates}}
    if request["engine"] != "bing" or "date" in request["filters"]:
        return request
    age = now - start
    for limit, name in BING_AGES:
        if age <= limit:
            return {**request, "filters": {**request["filters"], "date": name}}
    return request  # older than a year: Bing cannot narrow it


def plan_requests(params: dict, *, scheduled: bool, searches_file: str | Path, max_count: int = 1000,
                  window: tuple[datetime | None, datetime | None] = (None, None),
                  now: datetime | None = None) -> list[dict]:
    """What one run retrieves: the form's request for a manual run; for a scheduled or backfill
    run, the saved searches narrowed to the run's data interval. Raises ValueError when invalid."""
    if not scheduled:
        return validate_request(**{k: params[k] for k in REQUEST_FIELDS if k in params}, max_count=max_count)
    now = now or datetime.now(timezone.utc)
    return [with_window(r, window[0], window[1], now) for r in load_saved_searches(searches_file, max_count)]


def _is_http_url(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def _check_filters(engine: str, filters: dict) -> None:
    """An engine's search filters, checked with icrawler's own filter rules where it has them."""
    if engine == "flickr":
        unknown = set(filters) - FLICKR_FILTERS
        if unknown:
            raise ValueError(f"invalid flickr filters: {', '.join(sorted(unknown))} (known: {', '.join(sorted(FLICKR_FILTERS))})")
        return
    from icrawler.builtin.baidu import BaiduFeeder
    from icrawler.builtin.bing import BingFeeder
    from icrawler.builtin.google import GoogleFeeder

    from image_pipeline.crawl import google_filters

    feeder = {"bing": BingFeeder, "google": GoogleFeeder, "baidu": BaiduFeeder}[engine]
    try:
        feeder.get_filter(None).apply((google_filters(filters) if engine == "google" else filters) or None)
    except (AssertionError, KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"invalid {engine} filters {filters!r}: {exc or 'unknown option'}") from None


def retrieve(store: ObjectStore, catalog: Catalog, request: dict, *, run_id: str,
             policy: FetchPolicy | None = None, provenance: dict[str, Any] | None = None,
             endpoints: dict[str, str] | None = None, api_keys: dict[str, str] | None = None,
             idle_timeout: float = 60) -> RetrievalSummary:
    """Run one request from :func:`validate_request`."""
    if request["engine"] == "inbox":
        return ingest_inbox(store, catalog, keyword=request["keyword"], run_id=run_id, provenance=provenance)
    if request["engine"] == "urls":
        return ingest_urls(store, catalog, request["urls"], keyword=request["keyword"], run_id=run_id,
                           policy=policy, provenance=provenance, idle_timeout=idle_timeout)
    return ingest_crawl(store, catalog, request, run_id=run_id, policy=policy, provenance=provenance,
                        endpoints=endpoints, api_keys=api_keys, idle_timeout=idle_timeout)
