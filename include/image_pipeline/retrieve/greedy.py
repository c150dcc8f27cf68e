"""Every image of one web site (icrawler's GreedyImageCrawler): the source, whole.

- Endpoint: none; the request's ``site_url`` (an http(s) URL) is where the crawl starts.
- Filters: none. Date window: none.
- Parser: links and images resolved against the page they are on, followed on the start page's own
  host only, each page and image once; each image remembers the page it was found on.

icrawler's greedy feeder never stops before ``count`` images: :func:`~.crawl.run_crawl`'s idle
timeout ends a crawl of a site that has fewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin, urlsplit

from bs4 import BeautifulSoup
from icrawler.builtin import GreedyImageCrawler
from icrawler.builtin.greedy import GreedyParser

from image_pipeline.retrieve.crawl import CrawlResult, DownloadLog, make_crawler, run_crawl
from image_pipeline.retrieve.fetch import SafeFetcher
from image_pipeline.retrieve.request import is_http_url
from image_pipeline.core.errors import InvalidRequest


if TYPE_CHECKING:
    from image_pipeline.retrieve.ingest import RetrievalSummary, Run

ENDPOINT = ""


def check(request: dict, *, site_url: str = "", **_: Any) -> dict:
    """The request with its site, an http(s) URL."""
    if not is_http_url(site_url or ""):
        raise InvalidRequest(f"engine 'greedy' needs an http(s) site_url, got {site_url!r}")
    return {**request, "site_url": site_url}


def with_window(request: dict, start: Any, end: Any, now: Any) -> dict:
    """A site has no date filter: the request stays as it is."""
    return request


class SitePageParser(GreedyParser):
    """Links and images resolved against the page they are on (icrawler resolves relative links
    against the site root and takes only absolute ``<img src>``), followed on the start page's own
    host only (icrawler matches the start URL as a substring of the link); each image remembers
    the page it was found on."""

    IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff")
    PAGE_EXTENSIONS = ("", ".html", ".htm", ".shtml", ".php", ".asp", ".aspx", ".jsp")

    def is_in_domain(self, url, domains):
        return urlsplit(url).netloc.lower() in {urlsplit(d).netloc.lower() for d in domains}

    def _first_time(self, url: str) -> bool:
        """Each page and image once per crawl: pages that link to each other must not loop."""
        with self.lock:
            seen = self.__dict__.setdefault("_seen", set())
            if url in seen:
                return False
            seen.add(url)
            return True

    def parse(self, response, domains):
        soup = BeautifulSoup(response.content.decode("utf-8", "ignore"), "lxml")
        self._first_time(urldefrag(response.url)[0])
        candidates = [(tag["src"], True) for tag in soup.find_all("img", src=True)]
        candidates += [(tag["href"], False) for tag in soup.find_all("a", href=True)]
        for raw, is_img in candidates:
            try:
                url = urldefrag(urljoin(response.url, raw.strip()))[0]
                parts = urlsplit(url)
            except ValueError:  # not a URL (an unclosed IPv6 bracket...): skipped like a foreign scheme
                continue
            if parts.scheme not in ("http", "https") or not self._first_time(url):
                continue
            ext = Path(parts.path).suffix.lower()
            if is_img or ext in self.IMAGE_EXTENSIONS:
                yield {"file_url": url, "page_url": response.url}
            elif ext in self.PAGE_EXTENSIONS and self.is_in_domain(url, domains):
                yield url  # another page of the site


def crawl_site(site_url: str, dest: Path, fetcher: SafeFetcher, *, count: int, threads: int = 4,
               idle_timeout: float = 30, deadline: float = 3600) -> CrawlResult:
    """Greedy crawl of one site: its pages, then their images."""
    record = DownloadLog()
    crawler = make_crawler(GreedyImageCrawler, fetcher, record, dest, threads, parser_cls=SitePageParser)
    return run_crawl(crawler, {"domains": [site_url.rstrip("/")], "max_num": count}, record, count=count,
                     idle_timeout=idle_timeout, deadline=deadline)


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    return run.crawl(request, lambda dest, fetcher: crawl_site(
        request["site_url"], dest, fetcher, count=request["count"], idle_timeout=run.crawl_idle))
