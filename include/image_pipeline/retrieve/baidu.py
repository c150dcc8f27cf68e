"""Baidu image search, through icrawler's crawler and the guarded session: the source, whole.

- Endpoint: ``https://image.baidu.com/search/acjson`` (``GALLERY_BAIDU_URL`` overrides it), JSON
  results, 30 a page.
- Filters: icrawler's Baidu filters (``type``, ``color``, ``size``), checked by icrawler's own rules
  before any request.
- Date window: none (Baidu has no date filter): a scheduled search asks for the same results.
- Parser: the plain ``replaceUrl`` when present, else icrawler's decoding of the obfuscated
  ``objURL``; the page the image is on is kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from icrawler import Parser
from icrawler.builtin.baidu import BaiduFeeder, BaiduParser

from image_pipeline.retrieve.crawl import CrawlResult, crawl_pages
from image_pipeline.retrieve.fetch import SafeFetcher
from image_pipeline.retrieve.shapes import as_dict, as_list, text
from image_pipeline.core.errors import InvalidRequest

if TYPE_CHECKING:
    from image_pipeline.retrieve.ingest import RetrievalSummary, Run

ENDPOINT = "https://image.baidu.com/search/acjson"


def check(request: dict, **_) -> dict:
    """icrawler's own rules for Baidu's filters; :class:`InvalidRequest` for one it would refuse."""
    # icrawler's words for a filter it refuses, the request's fault: an unknown one (KeyError), a value it
    # does not know (ValueError, AssertionError), one of the wrong type (TypeError; AttributeError: size=5)
    try:
        BaiduFeeder.get_filter(None).apply(request["filters"] or None)
    except (AssertionError, KeyError, ValueError, TypeError, AttributeError) as exc:  # icrawler refuses the filter
        raise InvalidRequest(f"invalid baidu filters {request['filters']!r}: {exc or 'unknown option'}") from None
    return request


def with_window(request: dict, start: Any, end: Any, now: Any) -> dict:
    """Baidu has no date filter: the request stays as it is."""
    return request


class BaiduJsonParser(Parser):
    """Baidu's JSON results: the plain ``replaceUrl`` when present, else icrawler's decoding of the
    obfuscated ``objURL``; the page the image is on is kept."""

    def parse(self, response):
        try:
            content = json.loads(response.content.decode("utf-8", "ignore"), strict=False)
        except json.JSONDecodeError:  # a page of results that is not JSON (a block page...): skipped, logged
            self.logger.exception("Baidu answered with something that is not JSON")
            return
        if not isinstance(content, dict):
            self.logger.error("Baidu answered with JSON that is not an object")
            return
        for item in as_list(content.get("data")):
            if not isinstance(item, dict):
                continue
            plain = as_dict((as_list(item.get("replaceUrl")) or [{}])[0])
            obfuscated = text(item.get("objURL"))
            url = text(plain.get("ObjURL")) or (BaiduParser._decode_url(self, obfuscated) if obfuscated else "")
            if url:
                yield {"file_url": url, "page_url": text(plain.get("FromURL")) or text(item.get("fromURL"))}


def search_pages(keyword: str, count: int, filters: dict, *, base_url: str = ENDPOINT, **_) -> list[str]:
    """The result-page URLs a search of ``count`` images reads."""
    extra = BaiduFeeder.get_filter(None).apply(filters or None, sep="&")
    return [f"{base_url}?tn=resultjson_com&ipn=rj&word={quote_plus(keyword)}&pn={first}&rn=30"
            + (f"&{extra}" if extra else "") for first in range(0, count, 30)]


def search(keyword: str, dest: Path, fetcher: SafeFetcher, *, count: int, filters: dict | None = None,
           base_url: str = ENDPOINT, threads: int = 4, idle_timeout: float = 30,
           deadline: float = 3600) -> CrawlResult:
    return crawl_pages(search_pages(keyword, count, filters or {}, base_url=base_url), BaiduJsonParser, dest,
                       fetcher, count=count, threads=threads, idle_timeout=idle_timeout, deadline=deadline)


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    return run.search(request, search, idle_timeout=run.crawl_idle)
