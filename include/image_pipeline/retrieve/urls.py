"""A list of image URLs (icrawler's UrlListCrawler): the source, whole.

- Endpoint: none; the request's ``urls`` (http(s) URLs, at most ``max_count``, each once).
- Filters: none. Date window: none.
- Each URL is fetched through the safe fetcher; a URL never answered before the crawl ended counts
  as ``failed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from image_pipeline.core.catalog.roles import ImageRecorder
from image_pipeline.core.storage import ObjectStore
from image_pipeline.retrieve.fetch import FetchPolicy, SafeFetcher
from image_pipeline.retrieve.request import is_http_url
from image_pipeline.retrieve.ingest import RetrievalSummary, Run
from image_pipeline.core.errors import InvalidRequest

if TYPE_CHECKING:
    from image_pipeline.retrieve.crawl import CrawlResult

ENDPOINT = ""


def check(request: dict, *, urls: list[str] | None = None, max_count: int = 1000, **_: Any) -> dict:
    """The request with its URLs (blank ones dropped, each once), all http(s)."""
    urls = [u.strip() for u in (urls or []) if u and u.strip()]
    if not urls:
        raise InvalidRequest("engine 'urls' needs at least one URL")
    if len(urls) > max_count:
        raise InvalidRequest(f"at most {max_count} URLs per run, got {len(urls)}")
    for url in urls:
        if not is_http_url(url):
            raise InvalidRequest(f"not an http(s) URL: {url!r}")
    return {**request, "urls": list(dict.fromkeys(urls))}


def with_window(request: dict, start: Any, end: Any, now: Any) -> dict:
    """A URL list has no date filter: the request stays as it is."""
    return request


def download_urls(urls: list[str], dest: Path, fetcher: SafeFetcher, *, threads: int = 4,
                  idle_timeout: float = 30, deadline: float = 3600) -> CrawlResult:
    """Fetch a URL list into ``dest`` with icrawler's UrlListCrawler and the safe downloader."""
    from icrawler.builtin import UrlListCrawler

    from image_pipeline.retrieve.crawl import DownloadLog, make_crawler, run_crawl

    record = DownloadLog()
    url_file = dest / ".urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    crawler = make_crawler(UrlListCrawler, fetcher, record, dest, threads)
    return run_crawl(crawler, {"url_list": str(url_file), "max_num": len(urls)}, record, count=len(urls),
                     idle_timeout=idle_timeout, deadline=deadline)


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    results: list[CrawlResult] = []

    def fetch(dest: Path, fetcher: SafeFetcher) -> CrawlResult:
        results.append(download_urls(request["urls"], dest, fetcher, idle_timeout=run.crawl_idle))
        return results[0]

    summary = run.crawl(request, fetch, provenance={})
    summary.counts["failed"] += len(set(request["urls"])) - len(results[0].downloads)  # never answered in time
    return summary


def ingest_urls(store: ObjectStore, catalog: ImageRecorder, urls: list[str], *, keyword: str, run_id: str,
                policy: FetchPolicy | None = None, provenance: dict[str, Any] | None = None,
                idle_timeout: float = 60) -> RetrievalSummary:
    """Fetch URLs through the safe fetcher and ingest what came back; refusals are counted by reason."""
    request = {"engine": "urls", "keyword": keyword, "count": len(urls), "filters": {}, "site_url": "", "urls": urls}
    run = Run(store, catalog, run_id, policy or FetchPolicy(), provenance or {}, idle_timeout=idle_timeout)
    return retrieve(request, run)
