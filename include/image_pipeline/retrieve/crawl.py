"""icrawler, made safe: every image goes through :class:`~image_pipeline.retrieve.fetch.SafeFetcher`.

icrawler's own downloader fetches any URL it is handed, decides by file name whether it has an
image already, and writes whatever came back. Here its downloader is subclassed (icrawler is not
forked): the fetcher applies the address, size, type and pixel guards, files are named by the
sha256 of their content (so icrawler's skip-if-the-name-exists becomes a dedupe by content), and
every URL's outcome is recorded with its reason.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urldefrag, urlencode, urljoin, urlsplit

from bs4 import BeautifulSoup
from icrawler import Crawler, Feeder, ImageDownloader, Parser
from icrawler.builtin import BingImageCrawler, GreedyImageCrawler, UrlListCrawler
from icrawler.builtin.baidu import BaiduFeeder, BaiduParser
from icrawler.builtin.bing import BingFeeder
from icrawler.builtin.google import GoogleFeeder
from icrawler.builtin.greedy import GreedyParser

from image_pipeline.retrieve.fetch import Refused, SafeFetcher, guarded_session
from image_pipeline.retrieve.sources import SEARCH_ENDPOINTS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    url: str
    outcome: str  # "downloaded", "duplicate" (same content as another URL of this crawl) or "refused"
    reason: str = ""
    path: Path | None = None
    final_url: str = ""
    page_url: str = ""  # the page the engine found it on, where it says
    licence: str = ""  # a licence hint, where the engine gives one


class DownloadLog:
    """Thread-safe record of what happened to each URL, with running counts for the task log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Download] = []
        self.last_progress = time.monotonic()

    def add(self, item: Download) -> None:
        with self._lock:
            self.items.append(item)
            self.last_progress = time.monotonic()
            n = len(self.items)
        if item.outcome == "refused":
            log.info("refused %s: %s", item.url, item.reason)
        if n % 10 == 0:
            log.info("progress: %s", self.counts())

    def downloaded(self) -> int:
        with self._lock:
            return sum(item.outcome == "downloaded" for item in self.items)

    def counts(self) -> dict[str, int]:
        with self._lock:
            items = list(self.items)
        out = {"found": len(items)}
        for item in items:
            key = item.outcome if item.outcome != "refused" else f"refused_{item.reason}"
            out[key] = out.get(key, 0) + 1
        return out


def safe_downloader(fetcher: SafeFetcher, record: DownloadLog) -> type[ImageDownloader]:
    class SafeDownloader(ImageDownloader):
        def download(self, task, default_ext, timeout=5, max_retry=3, overwrite=False, **kwargs):
            url = task["file_url"]
            task["success"], task["filename"] = False, None
            try:
                got = fetcher.fetch(url)
            except Refused as exc:
                record.add(Download(url, "refused", exc.reason, page_url=task.get("page_url", "")))
                return
            filename = f"{hashlib.sha256(got.data).hexdigest()}.{got.info.ext}"
            path = Path(self.storage.root_dir) / filename
            with self.lock:
                duplicate = self.storage.exists(filename)
                if not duplicate:
                    if self.reach_max_num():
                        self.signal.set(reach_max_num=True)
                        return
                    self.fetched_num += 1
                    self.storage.write(filename, got.data)
            record.add(Download(url, "duplicate" if duplicate else "downloaded", path=path, final_url=got.final_url,
                                page_url=task.get("page_url", ""), licence=task.get("licence", "")))
            task["success"], task["filename"] = not duplicate, filename

    return SafeDownloader


@dataclass(frozen=True)
class CrawlResult:
    downloads: list[Download]
    stop_reason: str  # exhausted / count_reached / idle_timeout / deadline


def run_crawl(crawler: Crawler, crawl: dict[str, Any], record: DownloadLog, *, count: int,
              idle_timeout: float, deadline: float) -> CrawlResult:
    """Run ``crawler.crawl(**crawl)`` so that it always ends.

    icrawler waits for as many images as it was asked for; a source with fewer results (a small
    site, a rare keyword) would keep its threads waiting. A watchdog raises icrawler's own stop
    signal when nothing happened for ``idle_timeout`` seconds or the whole crawl ran ``deadline``.
    """
    thread = threading.Thread(target=crawler.crawl, kwargs=crawl, name="icrawler", daemon=True)
    started = time.monotonic()
    thread.start()
    stop_reason = "exhausted"
    while thread.is_alive():
        thread.join(0.2)
        now = time.monotonic()
        if record.downloaded() >= count:
            stop_reason = "count_reached"
        elif now - record.last_progress > idle_timeout:
            stop_reason = "idle_timeout"
        elif now - started > deadline:
            stop_reason = "deadline"
        else:
            continue
        crawler.signal.set(reach_max_num=True)
        thread.join(30)  # its threads poll the signal every few seconds
        break
    if stop_reason == "exhausted" and record.downloaded() >= count:
        stop_reason = "count_reached"
    log.info("crawl stopped (%s): %s", stop_reason, record.counts())
    return CrawlResult(sorted(record.items, key=lambda d: d.url), stop_reason)


def _make(crawler_cls: type[Crawler], fetcher: SafeFetcher, record: DownloadLog, dest: Path, threads: int,
          **kwargs: Any) -> Crawler:
    crawler = crawler_cls(downloader_cls=safe_downloader(fetcher, record), downloader_threads=threads,
                          storage={"root_dir": str(dest)}, log_level=logging.WARNING, **kwargs)
    # Result pages and site pages go through the same address guard as the images.
    session = guarded_session(fetcher.policy)
    crawler.session = crawler.feeder.session = crawler.parser.session = session
    # icrawler logs every result page's URL at INFO; an API key can be in it.
    crawler.parser.logger.setLevel(logging.WARNING)
    return crawler


def download_urls(urls: list[str], dest: Path, fetcher: SafeFetcher, *, threads: int = 4,
                  idle_timeout: float = 30, deadline: float = 3600) -> CrawlResult:
    """Fetch a URL list into ``dest`` with icrawler's UrlListCrawler and the safe downloader."""
    record = DownloadLog()
    url_file = dest / ".urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    crawler = _make(UrlListCrawler, fetcher, record, dest, threads)
    return run_crawl(crawler, {"url_list": str(url_file), "max_num": len(urls)}, record, count=len(urls),
                     idle_timeout=idle_timeout, deadline=deadline)


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
            url = urldefrag(urljoin(response.url, raw.strip()))[0]
            if urlsplit(url).scheme not in ("http", "https") or not self._first_time(url):
                continue
            ext = Path(urlsplit(url).path).suffix.lower()
            if is_img or ext in self.IMAGE_EXTENSIONS:
                yield {"file_url": url, "page_url": response.url}
            elif ext in self.PAGE_EXTENSIONS and self.is_in_domain(url, domains):
                yield url  # another page of the site


def crawl_site(site_url: str, dest: Path, fetcher: SafeFetcher, *, count: int, threads: int = 4,
               idle_timeout: float = 30, deadline: float = 3600) -> CrawlResult:
    """Greedy crawl of one site (icrawler's GreedyImageCrawler): its pages, then their images.

    icrawler's greedy feeder never stops before ``count`` images: :func:`run_crawl`'s idle timeout
    ends a crawl of a site that has fewer."""
    record = DownloadLog()
    crawler = _make(GreedyImageCrawler, fetcher, record, dest, threads, parser_cls=SitePageParser)
    return run_crawl(crawler, {"domains": [site_url.rstrip("/")], "max_num": count}, record, count=count,
                     idle_timeout=idle_timeout, deadline=deadline)


class ConfigurableBingFeeder(BingFeeder):
    """Bing's feeder with its endpoint as a setting (icrawler hard-codes it), for tests and proxies."""

    base_url = SEARCH_ENDPOINTS["bing"]

    def feed(self, keyword, offset, max_num, filters=None):
        filter_str = self.get_filter().apply(filters)
        extra = "&qft=" + filter_str if filter_str else ""
        for first in range(offset, offset + max_num, 35):
            self.out_queue.put(f"{self.base_url}?q={quote_plus(keyword)}&first={first}&count=35{extra}")


class BingMetadataParser(Parser):
    """Reads each result's metadata: icrawler's parser keeps only ``.jpg`` URLs and drops the page."""

    def parse(self, response):
        soup = BeautifulSoup(response.content.decode("utf-8", "ignore"), "lxml")
        for anchor in soup.select("a.iusc[m]"):
            try:
                meta = json.loads(html.unescape(anchor["m"]))
            except (ValueError, KeyError):
                continue
            if meta.get("murl"):
                yield {"file_url": meta["murl"], "page_url": meta.get("purl", ""), "licence": meta.get("lic", "")}


def search_bing(keyword: str, dest: Path, fetcher: SafeFetcher, *, count: int, filters: dict | None = None,
                base_url: str = SEARCH_ENDPOINTS["bing"], threads: int = 4, idle_timeout: float = 30,
                deadline: float = 3600) -> CrawlResult:
    record = DownloadLog()
    feeder = type("Feeder", (ConfigurableBingFeeder,), {"base_url": base_url})
    crawler = _make(BingImageCrawler, fetcher, record, dest, threads, feeder_cls=feeder, parser_cls=BingMetadataParser)
    crawl = {"keyword": keyword, "filters": filters or None, "max_num": count}
    return run_crawl(crawler, crawl, record, count=count, idle_timeout=idle_timeout, deadline=deadline)


class ResultPagesFeeder(Feeder):
    """Feeds result-page URLs built by the caller (icrawler's feeders hard-code their endpoints)."""

    def feed(self, pages):
        for page in pages:
            self.out_queue.put(page)


class BaiduJsonParser(Parser):
    """Baidu's JSON results: the plain ``replaceUrl`` when present, else icrawler's decoding of the
    obfuscated ``objURL``; the page the image is on is kept."""

    def parse(self, response):
        try:
            content = json.loads(response.content.decode("utf-8", "ignore"), strict=False)
        except ValueError:
            self.logger.error("Baidu answered with something that is not JSON")
            return
        for item in content.get("data") or []:
            if not isinstance(item, dict):
                continue
            plain = (item.get("replaceUrl") or [{}])[0]
            url = plain.get("ObjURL") or (BaiduParser._decode_url(self, item["objURL"]) if item.get("objURL") else "")
            if url:
                yield {"file_url": url, "page_url": plain.get("FromURL") or item.get("fromURL", "")}


class FlickrJsonParser(Parser):
    """flickr.photos.search results with their URL extras: one API call per page of 100 photos
    (icrawler's parser makes a getSizes call for every photo)."""

    SIZES = ("url_o", "url_l", "url_c", "url_z")

    def parse(self, response):
        try:
            content = json.loads(response.content.decode("utf-8", "ignore"))
        except ValueError:
            self.logger.error("Flickr answered with something that is not JSON")
            return
        if content.get("stat") != "ok":
            self.logger.error("Flickr refused the search: %s", content.get("message", content.get("stat")))
            return
        for photo in content.get("photos", {}).get("photo", []):
            url = next((photo[size] for size in self.SIZES if photo.get(size)), "")
            if url:
                yield {"file_url": url, "page_url": f"https://www.flickr.com/photos/{photo.get('owner')}/{photo.get('id')}",
                       "licence": f"flickr-license-{photo['license']}" if "license" in photo else ""}


class GoogleScriptParser(Parser):
    """Google's results page carries the image URLs inside its scripts; icrawler's parser looks
    for jpg, png and bmp only, this one for every format the pipeline reads."""

    PATTERN = re.compile(r"https?:(?://|\\u002f\\u002f)[^\[\]\"'\s]*?\.(?:jpe?g|png|gif|webp|bmp)", re.IGNORECASE)

    def parse(self, response):
        soup = BeautifulSoup(response.content.decode("utf-8", "ignore"), "lxml")
        seen = set()
        for script in soup.find_all("script"):
            for uri in self.PATTERN.findall(str(script)):
                uri = bytes(uri, "utf-8").decode("unicode-escape")
                if uri not in seen:
                    seen.add(uri)
                    yield {"file_url": uri}


def google_filters(filters: dict) -> dict:
    """JSON-friendly filters to icrawler's: a ``date`` window given as two ``YYYY-MM-DD`` strings
    becomes the tuple of date tuples icrawler's Google filter expects."""
    date = filters.get("date")
    if isinstance(date, (list, tuple)) and len(date) == 2 and all(isinstance(d, str) for d in date):
        return {**filters, "date": tuple(tuple(int(x) for x in d.split("-")) for d in date)}
    return filters




def search_pages(engine: str, keyword: str, count: int, filters: dict, *, base_url: str, api_key: str = "") -> list[str]:
    """The result-page URLs a search of ``count`` images reads."""
    if engine == "google":
        tbs = GoogleFeeder.get_filter(None).apply(google_filters(filters) or None, sep=",")
        return [f"{base_url}?{urlencode({'q': keyword, 'ijn': first // 100, 'start': first, 'tbs': tbs, 'tbm': 'isch'})}"
                for first in range(0, count, 100)]
    if engine == "baidu":
        extra = BaiduFeeder.get_filter(None).apply(filters or None, sep="&")
        return [f"{base_url}?tn=resultjson_com&ipn=rj&word={quote_plus(keyword)}&pn={first}&rn=30"
                + (f"&{extra}" if extra else "") for first in range(0, count, 30)]
    if engine == "flickr":
        params = {"method": "flickr.photos.search", "api_key": api_key, "text": keyword, "per_page": 100,
                  "extras": ",".join(("license", "owner_name", "date_upload") + FlickrJsonParser.SIZES),
                  "format": "json", "nojsoncallback": 1, "safe_search": 1, **filters}
        return [f"{base_url}?{urlencode({**params, 'page': page})}" for page in range(1, -(-count // 100) + 1)]
    raise ValueError(f"no result pages for engine {engine!r}")


def search(engine: str, keyword: str, dest: Path, fetcher: SafeFetcher, *, count: int, filters: dict | None = None,
           base_url: str, api_key: str = "", threads: int = 4, idle_timeout: float = 30,
           deadline: float = 3600) -> CrawlResult:
    """A Google, Baidu or Flickr keyword search through result pages read by the guarded session."""
    record = DownloadLog()
    parser = {"google": GoogleScriptParser, "baidu": BaiduJsonParser, "flickr": FlickrJsonParser}[engine]
    crawler = _make(Crawler, fetcher, record, dest, threads, feeder_cls=ResultPagesFeeder, parser_cls=parser)
    pages = search_pages(engine, keyword, count, filters or {}, base_url=base_url, api_key=api_key)
    crawl = {"feeder_kwargs": {"pages": pages}, "downloader_kwargs": {"max_num": count}}
    return run_crawl(crawler, crawl, record, count=count, idle_timeout=idle_timeout, deadline=deadline)
