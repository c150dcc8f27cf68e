"""Google image search, through icrawler's crawler and the guarded session: the source, whole.

- Endpoint: ``https://www.google.com/search`` (``GALLERY_GOOGLE_URL`` overrides it), ``tbm=isch``,
  100 results a page.
- Filters: icrawler's Google filters (``type``, ``color``, ``size``, ``license``, ``date``), checked
  by icrawler's own rules before any request; ``date`` may be given as two ``YYYY-MM-DD`` strings.
- Date window: Google's custom range, of whole days, inclusive: a window becomes
  ``date: [first day, last day]``.
- Parser: the results page carries the image URLs inside its scripts; every format the pipeline
  reads is kept (icrawler's parser looks for jpg, png and bmp only).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bs4 import BeautifulSoup
from icrawler import Parser
from icrawler.builtin.google import GoogleFeeder

from image_pipeline.retrieve.crawl import CrawlResult, crawl_pages
from image_pipeline.retrieve.fetch import SafeFetcher
from image_pipeline.core.errors import InvalidRequest


if TYPE_CHECKING:
    from image_pipeline.retrieve.ingest import RetrievalSummary, Run

ENDPOINT = "https://www.google.com/search"


def google_filters(filters: dict) -> dict:
    """JSON-friendly filters to icrawler's: a ``date`` window given as two ``YYYY-MM-DD`` strings
    becomes the tuple of date tuples icrawler's Google filter expects."""
    date = filters.get("date")
    if isinstance(date, (list, tuple)) and len(date) == 2 and all(isinstance(d, str) for d in date):
        return {**filters, "date": tuple(tuple(int(x) for x in d.split("-")) for d in date)}
    return filters


def check(request: dict, **_) -> dict:
    """icrawler's own rules for Google's filters; :class:`InvalidRequest` for one it would refuse."""
    # icrawler's words for a filter it refuses, the request's fault: an unknown one (KeyError), a value it
    # does not know (ValueError, AssertionError), one of the wrong type (TypeError; AttributeError: size=5)
    try:
        GoogleFeeder.get_filter(None).apply(google_filters(request["filters"]) or None)
    except (AssertionError, KeyError, ValueError, TypeError, AttributeError) as exc:  # icrawler refuses the filter
        raise InvalidRequest(f"invalid google filters {request['filters']!r}: {exc or 'unknown option'}") from None
    return request


def with_window(request: dict, start: datetime, end: datetime, now: datetime) -> dict:
    """The window's whole days, inclusive (unless the request has a date range of its own)."""
    if "date" in request["filters"]:
        return request
    last_day = (end - timedelta(microseconds=1)).date()
    dates = [start.date().isoformat(), last_day.isoformat()]
    return {**request, "filters": {**request["filters"], "date": dates}}


class GoogleScriptParser(Parser):
    """Google's results page carries the image URLs inside its scripts; icrawler's parser looks
    for jpg, png and bmp only, this one for every format the pipeline reads."""

    PATTERN = re.compile(r"https?:(?://|\\u002f\\u002f)[^\[\]\"'\s]*?\.(?:jpe?g|png|gif|webp|bmp)", re.IGNORECASE)

    def parse(self, response):
        soup = BeautifulSoup(response.content.decode("utf-8", "ignore"), "lxml")
        seen = set()
        for script in soup.find_all("script"):
            for uri in self.PATTERN.findall(str(script)):
                try:
                    uri = bytes(uri, "utf-8").decode("unicode-escape")
                except UnicodeDecodeError:  # a broken escape: not a URL the page really holds
                    continue
                if uri not in seen:
                    seen.add(uri)
                    yield {"file_url": uri}


def search_pages(keyword: str, count: int, filters: dict, *, base_url: str = ENDPOINT, **_) -> list[str]:
    """The result-page URLs a search of ``count`` images reads."""
    tbs = GoogleFeeder.get_filter(None).apply(google_filters(filters) or None, sep=",")
    return [f"{base_url}?{urlencode({'q': keyword, 'ijn': first // 100, 'start': first, 'tbs': tbs, 'tbm': 'isch'})}"
            for first in range(0, count, 100)]


def search(keyword: str, dest: Path, fetcher: SafeFetcher, *, count: int, filters: dict | None = None,
           base_url: str = ENDPOINT, threads: int = 4, idle_timeout: float = 30,
           deadline: float = 3600) -> CrawlResult:
    return crawl_pages(search_pages(keyword, count, filters or {}, base_url=base_url), GoogleScriptParser, dest,
                       fetcher, count=count, threads=threads, idle_timeout=idle_timeout, deadline=deadline)


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    return run.search(request, search, idle_timeout=run.crawl_idle)
