"""Wikimedia Commons, through the MediaWiki Action API: the source, whole.

- Endpoint: ``https://commons.wikimedia.org/w/api.php`` (``GALLERY_WIKIMEDIA_URL``
  or ``endpoints`` of a retrieval overrides it), asked for a full-text search over the File namespace with
  each file's image information in the same request: ``action=query&generator=search&gsrnamespace=6
  &prop=imageinfo&iiprop=url|mime|size|extmetadata``. Each file gives its ``url``, its
  ``descriptionurl`` (the file page) and, from its metadata, ``Artist`` (HTML, reduced to its text),
  ``LicenseShortName`` and ``LicenseUrl``: every image lands with its licence and author.
- Filters (CirrusSearch keywords added to the search; checked before any request): ``mime``
  (``image/jpeg``, ``image/png``, ``image/gif``, ``image/webp``, ``image/tiff``), ``min_width`` and
  ``min_height`` (pixels), ``category`` (a Commons category, e.g. ``Lighthouses in France``).
  Only bitmaps are searched (``filetype:bitmap``): drawings (SVG), video and audio are left out.
- Date window: none. The search has no upload-date filter, so a scheduled search asks for the same
  results every day; the catalog keeps each image once (by content) and adds the run to it.
- Etiquette: requests are made one at a time, pages ``PAGE_DELAY`` seconds apart, with ``maxlag``
  (a lagged or rate-limited answer is retried after a pause), and a descriptive User-Agent, as the
  Wikimedia User-Agent policy requires: ``credentials`` is the contact it names (an email address or
  URL; the Airflow adapter reads it from a connection). Image downloads send the same User-Agent,
  one at a time. A 429 is retried after its ``Retry-After`` by the fetcher.

Every request, page and image, goes through the :class:`~.fetch.SafeFetcher`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlencode

from image_pipeline.retrieve.crawl import CrawlResult, download_results
from image_pipeline.retrieve.fetch import Refused, SafeFetcher
from image_pipeline.retrieve.shapes import as_dict, as_list, number, text
from image_pipeline.core.errors import InvalidRequest

if TYPE_CHECKING:
    from image_pipeline.retrieve.ingest import RetrievalSummary, Run

log = logging.getLogger(__name__)

NAME = "wikimedia"
ENDPOINT = "https://commons.wikimedia.org/w/api.php"
MIME_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff")
FILTERS = ("mime", "min_width", "min_height", "category")
PAGE_SIZE = 20
MAX_PAGES = 50
PAGE_DELAY = 1.0  # seconds between two pages
MAXLAG = 5  # seconds of replication lag beyond which the API asks non-interactive clients to wait
LAG_RETRIES, LAG_WAIT = 3, 5.0  # answers "maxlag"/"ratelimited": retried this often, this far apart
USER_AGENT = "image-pipeline/0.1 (Apache Airflow image pipeline; {contact}) python-requests"
_CATEGORY = re.compile(r"^[\w ,.()'&-]{1,100}$")


def check_filters(filters: dict[str, Any]) -> None:
    """Raise ValueError for a filter or value the search would not take (before any request)."""
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise InvalidRequest(f"invalid wikimedia filters: {', '.join(sorted(unknown))} (known: {', '.join(FILTERS)})")
    if "mime" in filters and filters["mime"] not in MIME_TYPES:
        raise InvalidRequest(f"invalid wikimedia mime {filters['mime']!r} (one of {', '.join(MIME_TYPES)})")
    for name in ("min_width", "min_height"):
        value = filters.get(name)
        if name in filters and (not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 100_000):
            raise InvalidRequest(f"invalid wikimedia {name}: pixels between 1 and 100000, got {value!r}")
    if "category" in filters and not (isinstance(filters["category"], str) and _CATEGORY.match(filters["category"])):
        raise InvalidRequest(f"invalid wikimedia category {filters.get('category')!r}: a Commons category name")


def search_text(keyword: str, filters: dict[str, Any]) -> str:
    """The CirrusSearch query: the keyword, bitmaps only, and the filters as keywords."""
    terms = [keyword, "filetype:bitmap"]
    if "mime" in filters:
        terms.append(f"filemime:{filters['mime']}")
    if "min_width" in filters:
        terms.append(f"filew:>{filters['min_width']}")  # '>N' reads "at least N"
    if "min_height" in filters:
        terms.append(f"fileh:>{filters['min_height']}")
    if "category" in filters:
        terms.append(f'incategory:"{filters["category"]}"')
    return " ".join(terms)


def check(request: dict, **_: Any) -> dict:
    """The request, its filters checked (:func:`check_filters`)."""
    check_filters(request["filters"])
    return request


def with_window(request: dict, start: Any, end: Any, now: Any) -> dict:
    """The search has no upload-date filter: the request stays as it is."""
    return request


def plain_text(markup: str) -> str:
    """Text of a metadata value (``Artist`` is HTML: links, spans, line breaks)."""
    if not markup:
        return ""
    from bs4 import BeautifulSoup

    return " ".join(BeautifulSoup(markup, "html.parser").get_text(" ").split())


def parse_page(content: dict[str, Any]) -> list[dict[str, str]]:
    """One answer's files, in search order: URL, file page, licence (and its deed) and author."""
    pages = as_dict(as_dict(content).get("query")).get("pages")
    pages = list(pages.values()) if isinstance(pages, dict) else as_list(pages)  # formatversion=1: by page id
    found = []
    for page in sorted((p for p in pages if isinstance(p, dict)), key=lambda p: number(p.get("index"))):
        info = as_dict((as_list(page.get("imageinfo")) or [{}])[0])
        mime = text(info.get("mime"))
        if not text(info.get("url")) or (mime and (not mime.startswith("image/") or mime == "image/svg+xml")):
            continue
        meta = as_dict(info.get("extmetadata"))

        def value(key: str, meta: dict = meta) -> str:
            entry = meta.get(key)
            return str(entry.get("value") or "") if isinstance(entry, dict) else ""

        found.append({"file_url": info["url"], "page_url": text(info.get("descriptionurl")),
                      "licence": plain_text(value("LicenseShortName")), "licence_url": value("LicenseUrl"),
                      "creator": plain_text(value("Artist"))})
    return found


def _answer(fetcher: SafeFetcher, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """One API answer; a "maxlag" or "ratelimited" error is waited out and asked again."""
    for attempt in range(LAG_RETRIES + 1):
        try:
            content = json.loads(fetcher.fetch_document(url, headers=headers))
        except (json.JSONDecodeError, UnicodeDecodeError):  # an answer that is not JSON (nor UTF-8): refused
            raise Refused("api_error", "Wikimedia Commons answered with something that is not JSON") from None
        if not isinstance(content, dict):
            raise Refused("api_error", "Wikimedia Commons answered with JSON that is not an object")
        error = content.get("error")
        if not error:
            return content
        error = error if isinstance(error, dict) else {"code": str(error)[:100]}
        if error.get("code") not in ("maxlag", "ratelimited") or attempt == LAG_RETRIES:
            raise Refused("api_error", f"Wikimedia Commons: {error.get('code')}: {error.get('info', '')}")
        log.info("Wikimedia Commons asks to wait (%s)", error.get("code"))
        fetcher.sleep(LAG_WAIT * (attempt + 1))
    raise AssertionError("unreachable")


def results(keyword: str, filters: dict[str, Any], fetcher: SafeFetcher, *, base_url: str = ENDPOINT,
            page_delay: float | None = None) -> Iterator[dict[str, str]]:
    """The search's files, page after page (following ``continue``), read only as far as consumed."""
    query = {"action": "query", "format": "json", "formatversion": "2", "generator": "search",
             "gsrsearch": search_text(keyword, filters), "gsrnamespace": "6", "gsrlimit": str(PAGE_SIZE),
             "prop": "imageinfo", "iiprop": "url|mime|size|extmetadata",
             "iiextmetadatafilter": "Artist|LicenseShortName|LicenseUrl", "maxlag": str(MAXLAG)}
    headers = {"Accept": "application/json", "User-Agent": fetcher.policy.user_agent}
    delay = PAGE_DELAY if page_delay is None else page_delay
    carry: dict[str, str] = {}
    for page in range(MAX_PAGES):
        if page:
            fetcher.sleep(delay)
        content = _answer(fetcher, f"{base_url}?{urlencode({**query, **carry})}", headers)
        yield from parse_page(content)
        carry = {k: str(v) for k, v in as_dict(content.get("continue")).items()}
        if not carry:
            return


def polite(fetcher: SafeFetcher, contact: str | None) -> SafeFetcher:
    """A fetcher under the same guards whose User-Agent says who is asking, as Wikimedia requires."""
    agent = USER_AGENT.format(contact=contact or "contact not configured")
    return SafeFetcher(dataclasses.replace(fetcher.policy, user_agent=agent), sleep=fetcher.sleep,
                       resolve=fetcher.resolve)


def search(keyword: str, dest: Path, fetcher: SafeFetcher, *, count: int, filters: dict[str, Any] | None = None,
           base_url: str = ENDPOINT, credentials: Any = None, deadline: float = 3600, **_: Any) -> CrawlResult:
    """Up to ``count`` images of a Commons search downloaded into ``dest``, one at a time."""
    fetcher = polite(fetcher, credentials if isinstance(credentials, str) else None)
    found = results(keyword, filters or {}, fetcher, base_url=base_url)
    return download_results(found, dest, fetcher, count=count, threads=1, deadline=deadline)


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    return run.search(request, search, credentials=run.credentials)
