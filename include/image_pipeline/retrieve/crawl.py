"""icrawler, made safe: every image goes through :class:`~image_pipeline.retrieve.fetch.SafeFetcher`.
This is the generic glue the sources build on; what is particular to a source (its endpoint, its
feeder or result pages, its parser) is in that source's module (see :mod:`.sources`).

icrawler's own downloader fetches any URL it is handed, decides by file name whether it has an
image already, and writes whatever came back. Here its downloader is subclassed (icrawler is not
forked): the fetcher applies the address, size, type and pixel guards, files are named by the
sha256 of their content (so icrawler's skip-if-the-name-exists becomes a dedupe by content), and
every URL's outcome is recorded with its reason. :func:`run_crawl` ends every crawl (count, idle
timeout, deadline); :func:`crawl_pages` reads result pages a source built with the source's parser;
:func:`download_results` downloads what an image-search API lists, without icrawler.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from icrawler import Crawler, Feeder, ImageDownloader, Parser

from image_pipeline.retrieve.fetch import Refused, SafeFetcher, guarded_session

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
    licence_url: str = ""  # the licence's deed, where the engine gives it
    creator: str = ""  # who made the image, where the engine says


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
                                page_url=task.get("page_url", ""), licence=task.get("licence", ""),
                                licence_url=task.get("licence_url", ""), creator=task.get("creator", "")))
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


def make_crawler(crawler_cls: type[Crawler], fetcher: SafeFetcher, record: DownloadLog, dest: Path, threads: int,
          **kwargs: Any) -> Crawler:
    crawler = crawler_cls(downloader_cls=safe_downloader(fetcher, record), downloader_threads=threads,
                          storage={"root_dir": str(dest)}, log_level=logging.WARNING, **kwargs)
    # Result pages and site pages go through the same address guard as the images.
    session = guarded_session(fetcher.policy)
    crawler.session = crawler.feeder.session = crawler.parser.session = session
    # icrawler logs every result page's URL at INFO; an API key can be in it.
    crawler.parser.logger.setLevel(logging.WARNING)
    return crawler


class ResultPagesFeeder(Feeder):
    """Feeds result-page URLs built by the source (icrawler's feeders hard-code their endpoints)."""

    def feed(self, pages):
        for page in pages:
            self.out_queue.put(page)


def crawl_pages(pages: list[str], parser_cls: type[Parser], dest: Path, fetcher: SafeFetcher, *, count: int,
                threads: int = 4, idle_timeout: float = 30, deadline: float = 3600) -> CrawlResult:
    """A keyword search through result pages a source built, read by the guarded session and parsed
    by the source's ``parser_cls`` (a parser yields ``{"file_url", "page_url", "licence"...}``)."""
    record = DownloadLog()
    crawler = make_crawler(Crawler, fetcher, record, dest, threads, feeder_cls=ResultPagesFeeder,
                           parser_cls=parser_cls)
    crawl = {"feeder_kwargs": {"pages": pages}, "downloader_kwargs": {"max_num": count}}
    return run_crawl(crawler, crawl, record, count=count, idle_timeout=idle_timeout, deadline=deadline)


def search_pages(engine: str, keyword: str, count: int, filters: dict, *, base_url: str,
                 api_key: str = "") -> list[str]:
    """The result-page URLs a search of ``count`` images reads (the source module's ``search_pages``)."""
    from image_pipeline.retrieve.sources import source_module

    return source_module(engine).search_pages(keyword, count, filters, base_url=base_url, api_key=api_key)


def download_results(results: Iterable[dict[str, str]], dest: Path, fetcher: SafeFetcher, *, count: int,
                     threads: int = 4, deadline: float = 3600) -> CrawlResult:
    """Download what an image-search API lists, through ``fetcher``, until ``count`` images are in.

    ``results`` yields one dict per image (``file_url``; ``page_url``, ``licence``, ``licence_url``,
    ``creator`` where known), reading the API's pages lazily: a page is asked for only when the
    images of the previous ones were not enough. The API sources (:mod:`.openverse`,
    :mod:`.wikimedia`) use this rather than icrawler, whose parser reads result pages with a plain
    session (no POSTed token request, no ``Retry-After``, no size limit) and cannot stop paging
    at ``count``. Files are named by content as the icrawler downloader names them. When the API
    fails after some images came, the crawl ends with them (``source_error``); before, it raises.
    """
    from concurrent.futures import ThreadPoolExecutor

    record, seen, written = DownloadLog(), set(), set()
    started, stop_reason = time.monotonic(), "exhausted"
    iterator = iter(results)

    def one(task: dict[str, str]) -> tuple[Download, bytes]:
        meta = {k: task.get(k) or "" for k in ("page_url", "licence", "licence_url", "creator")}
        try:
            got = fetcher.fetch(task["file_url"])
        except Refused as exc:
            return Download(task["file_url"], "refused", exc.reason, **meta), b""
        path = dest / f"{hashlib.sha256(got.data).hexdigest()}.{got.info.ext}"
        return Download(task["file_url"], "downloaded", path=path, final_url=got.final_url, **meta), got.data

    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="api-download") as pool:
        while stop_reason == "exhausted":
            wanted = count - record.downloaded()
            if wanted <= 0:
                stop_reason = "count_reached"
                break
            if time.monotonic() - started > deadline:
                stop_reason = "deadline"
                break
            batch, size = [], wanted  # no more results than could still be wanted: pages stay unread
            try:
                while len(batch) < size:
                    task = next(iterator)
                    if task.get("file_url") and task["file_url"] not in seen:
                        seen.add(task["file_url"])
                        batch.append(task)
            except StopIteration:
                pass
            except Refused as exc:
                if not batch and not record.downloaded():
                    raise  # nothing came: the task fails and is retried
                log.warning("the search API failed; keeping what came: %s", exc)
                stop_reason = "source_error"
            for download, data in pool.map(one, batch):
                if download.path is not None:
                    if download.path.name in written:
                        download = dataclasses.replace(download, outcome="duplicate")
                    elif record.downloaded() >= count:
                        continue  # enough already: a batch may bring more than were wanted
                    else:
                        download.path.write_bytes(data)
                        written.add(download.path.name)
                record.add(download)
            if len(batch) < size:
                break  # the source has no more (or failed)
    if stop_reason == "exhausted" and record.downloaded() >= count:
        stop_reason = "count_reached"
    log.info("crawl stopped (%s): %s", stop_reason, record.counts())
    return CrawlResult(sorted(record.items, key=lambda d: d.url), stop_reason)
