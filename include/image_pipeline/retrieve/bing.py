"""Bing image search, through icrawler: the source, whole.

- Endpoint: ``https://www.bing.com/images/async`` (``GALLERY_BING_URL`` overrides it), read 35
  results a page; icrawler hard-codes it, so its feeder is subclassed with the endpoint as a setting.
- Filters: icrawler's Bing filters (``type``, ``color``, ``size``, ``license``, ``layout``, ``people``,
  ``date``), checked by icrawler's own filter rules before any request.
- Date window: Bing's only date filter is an age relative to now (``date``: ``pastday`` ...
  ``pastyear``); a past window maps to the smallest age that still reaches back to its start.
- Parser: each result's metadata (``m`` attribute): the image URL, its page and Bing's licence hint,
  every format (icrawler's own parser keeps only ``.jpg`` and drops the page).
"""

from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from bs4 import BeautifulSoup
from icrawler import Parser
from icrawler.builtin import BingImageCrawler
from icrawler.builtin.bing import BingFeeder

from image_pipeline.retrieve.crawl import CrawlResult, DownloadLog, make_crawler, run_crawl
from image_pipeline.retrieve.fetch import SafeFetcher
from image_pipeline.retrieve.shapes import as_dict, text
from image_pipeline.core.errors import InvalidRequest

if TYPE_CHECKING:
    from image_pipeline.retrieve.ingest import RetrievalSummary, Run

ENDPOINT = "https://www.bing.com/images/async"
AGES = [(timedelta(days=1), "pastday"), (timedelta(days=7), "pastweek"), (timedelta(days=31), "pastmonth"),
        (timedelta(days=365), "pastyear")]


def check(request: dict, **_) -> dict:
    """icrawler's own rules for Bing's filters; :class:`InvalidRequest` for one it would refuse."""
    # icrawler's words for a filter it refuses, the request's fault: an unknown one (KeyError), a value it
    # does not know (ValueError, AssertionError), one of the wrong type (TypeError; AttributeError: size=5)
    try:
        BingFeeder.get_filter(None).apply(request["filters"] or None)
    except (AssertionError, KeyError, ValueError, TypeError, AttributeError) as exc:  # icrawler refuses the filter
        raise InvalidRequest(f"invalid bing filters {request['filters']!r}: {exc or 'unknown option'}") from None
    return request


def with_window(request: dict, start: datetime, end: datetime, now: datetime) -> dict:
    """The smallest age that reaches back to the window's start (none older than a year)."""
    if "date" in request["filters"]:
        return request
    age = now - start
    for limit, name in AGES:
        if age <= limit:
            return {**request, "filters": {**request["filters"], "date": name}}
    return request  # older than a year: Bing cannot narrow it


class ConfigurableBingFeeder(BingFeeder):
    """Bing's feeder with its endpoint as a setting (icrawler hard-codes it), for tests and proxies."""

    base_url = ENDPOINT

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
                meta = json.loads(html.unescape(anchor["m"]))  # the selector found the attribute m
            except json.JSONDecodeError:  # a result whose metadata is not JSON: that result skipped
                continue
            meta = as_dict(meta)
            if text(meta.get("murl")):
                yield {"file_url": meta["murl"], "page_url": text(meta.get("purl")), "licence": text(meta.get("lic"))}


def search(keyword: str, dest: Path, fetcher: SafeFetcher, *, count: int, filters: dict | None = None,
           base_url: str = ENDPOINT, threads: int = 4, idle_timeout: float = 30,
           deadline: float = 3600) -> CrawlResult:
    record = DownloadLog()
    feeder = type("Feeder", (ConfigurableBingFeeder,), {"base_url": base_url})
    crawler = make_crawler(BingImageCrawler, fetcher, record, dest, threads, feeder_cls=feeder,
                           parser_cls=BingMetadataParser)
    crawl = {"keyword": keyword, "filters": filters or None, "max_num": count}
    return run_crawl(crawler, crawl, record, count=count, idle_timeout=idle_timeout, deadline=deadline)


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    return run.search(request, search, idle_timeout=run.crawl_idle)
