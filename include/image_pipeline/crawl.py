"""icrawler, made safe: every image goes through :class:`~image_pipeline.fetch.SafeFetcher`.

icrawler's own downloader fetches any URL it is handed, decides by file name whether it has an
image already, and writes whatever came back. Here its downloader is subclassed (icrawler is not
forked): the fetcher applies the address, size, type and pixel guards, files are named by the
sha256 of their content (so icrawler's skip-if-the-name-exists becomes a dedupe by content), and
every URL's outcome is recorded with its reason.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from icrawler import ImageDownloader
from icrawler.builtin import UrlListCrawler

from image_pipeline.fetch import Refused, SafeFetcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Download:
    url: str
    outcome: str  # "downloaded", "duplicate" (same content as another URL of this crawl) or "refused"
    reason: str = ""
    path: Path | None = None
    final_url: str = ""


class DownloadLog:
    """Thread-safe record of what happened to each URL, with running counts for the task log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[Download] = []

    def add(self, item: Download) -> None:
        with self._lock:
            self.items.append(item)
            n = len(self.items)
        if item.outcome == "refused":
            log.info("refused %s: %s", item.url, item.reason)
        if n % 10 == 0:
            log.info("progress: %s", self.counts())

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
                record.add(Download(url, "refused", exc.reason))
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
            record.add(Download(url, "duplicate" if duplicate else "downloaded", path=path, final_url=got.final_url))
            task["success"], task["filename"] = not duplicate, filename

    return SafeDownloader


def download_urls(urls: list[str], dest: Path, fetcher: SafeFetcher, *, threads: int = 4,
                  idle_timeout: int = 30) -> list[Download]:
    """Fetch a URL list into ``dest`` with icrawler's UrlListCrawler and the safe downloader."""
    record = DownloadLog()
    url_file = dest / ".urls.txt"
    url_file.write_text("\n".join(urls) + "\n")
    crawler = UrlListCrawler(
        downloader_cls=safe_downloader(fetcher, record), downloader_threads=threads,
        storage={"root_dir": str(dest)}, log_level=logging.WARNING,
    )
    crawler.crawl(str(url_file), max_num=len(urls), max_idle_time=idle_timeout)
    log.info("download finished: %s", record.counts())
    return sorted(record.items, key=lambda d: urls.index(d.url) if d.url in urls else len(urls))
