"""Openverse (openverse.org), the search engine of openly licensed media: the source, whole.

- Endpoint: ``GET https://api.openverse.org/v1/images/?q=...&page=N&page_size=M`` (``GALLERY_OPENVERSE_URL``
  or ``endpoints`` of a retrieval overrides it). Each result gives the image's ``url``, the page
  it comes from (``foreign_landing_url``), its ``license`` and ``license_version`` (and
  ``license_url``), and its ``creator``: every image lands with its licence and creator.
- Filters (the form's JSON filters), checked before any request with the values the API accepts:
  ``license`` (``by``, ``by-sa``, ``by-nd``, ``by-nc``, ``by-nc-sa``, ``by-nc-nd``, ``cc0``, ``pdm``,
  ``sampling+``, ``nc-sampling+``), ``license_type`` (``all``, ``all-cc``, ``commercial``,
  ``modification``), ``category`` (``photograph``, ``illustration``, ``digitized_artwork``), ``size``
  (``small``, ``medium``, ``large``), ``aspect_ratio`` (``tall``, ``wide``, ``square``), ``extension``
  (raster formats the pipeline reads), ``source`` / ``excluded_source`` (provider names, e.g.
  ``flickr,wikimedia``; not both) and ``mature`` (true/false). A value is a string (several
  comma-separated) or a list of strings.
- Date window: none. The API has no date filter, so a scheduled search asks for the same results
  every day; the catalog keeps each image once (by content) and adds the run to it.
- Credentials: anonymous by default (20 results a page, about one request a second). With an
  application's client id and secret (``credentials``: ``{"client_id", "client_secret"}`` or
  ``"id:secret"``; the Airflow adapter reads them from a connection) a token is asked for once per
  search (OAuth2 client credentials, ``POST .../v1/auth_tokens/token/``): 100 results a page.
- Rate limits: pages are read one at a time, ``PAGE_DELAY`` seconds apart, at most ``MAX_PAGES``
  deep (the API refuses deeper pages); a 429 is retried after its ``Retry-After`` by the fetcher.

Every request, token, page and image, goes through the :class:`~.fetch.SafeFetcher`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlencode, urljoin

from image_pipeline.retrieve.crawl import CrawlResult, download_results
from image_pipeline.core.redact import secret
from image_pipeline.retrieve.fetch import Refused, SafeFetcher
from image_pipeline.retrieve.shapes import as_dict, as_list, number, text
from image_pipeline.core.errors import InvalidRequest

if TYPE_CHECKING:
    from image_pipeline.retrieve.ingest import RetrievalSummary, Run

log = logging.getLogger(__name__)

NAME = "openverse"
ENDPOINT = "https://api.openverse.org/v1/images/"
TOKEN_PATH = "../auth_tokens/token/"  # relative to the images endpoint

LICENCES = ("by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd", "cc0", "pdm", "sampling+", "nc-sampling+")
CHOICES: dict[str, tuple[str, ...]] = {
    "license": LICENCES,
    "license_type": ("all", "all-cc", "commercial", "modification"),
    "category": ("photograph", "illustration", "digitized_artwork"),
    "size": ("small", "medium", "large"),
    "aspect_ratio": ("tall", "wide", "square"),
    "extension": ("jpg", "png", "gif", "webp", "bmp", "tiff"),
}
NAMES = ("source", "excluded_source")  # provider names: the API's list changes, so only their form is checked
FILTERS = (*CHOICES, *NAMES, "mature")
PAGE_SIZE = {"anonymous": 20, "authenticated": 100}  # the API's anonymous maximum is 20
MAX_PAGES = 20  # the API's pagination depth
PAGE_DELAY = 1.0  # seconds between two pages (anonymous use: about one request a second)


def _values(name: str, value: Any) -> list[str]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not items or not all(isinstance(v, str) and v.strip() for v in items):
        raise InvalidRequest(f"invalid openverse filter {name}: give a string or a list of strings, got {value!r}")
    return [v.strip().lower() for v in items]


def check_filters(filters: dict[str, Any]) -> None:
    """Raise ValueError for a filter or value the API would refuse (before any request)."""
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise InvalidRequest(f"invalid openverse filters: {', '.join(sorted(unknown))} (known: {', '.join(FILTERS)})")
    for name, value in filters.items():
        if name == "mature":
            if not isinstance(value, bool):
                raise InvalidRequest(f"invalid openverse filter mature: true or false, got {value!r}")
            continue
        for item in _values(name, value):
            if name in CHOICES and item not in CHOICES[name]:
                raise InvalidRequest(f"invalid openverse {name} {item!r} (one or more of {', '.join(CHOICES[name])})")
            if name in NAMES and not all(c.isalnum() or c in "_-." for c in item):
                raise InvalidRequest(f"invalid openverse {name} {item!r}: a provider name, e.g. flickr")
    if "source" in filters and "excluded_source" in filters:
        raise InvalidRequest("openverse filters: give source or excluded_source, not both")


def query_filters(filters: dict[str, Any]) -> dict[str, str]:
    """The filters as the API's query parameters."""
    return {name: ("true" if value else "false") if name == "mature" else ",".join(_values(name, value))
            for name, value in filters.items()}


def check(request: dict, **_: Any) -> dict:
    """The request, its filters checked (:func:`check_filters`)."""
    check_filters(request["filters"])
    return request


def with_window(request: dict, start: Any, end: Any, now: Any) -> dict:
    """The API has no date filter: the request stays as it is."""
    return request


def licence_name(code: str, version: str) -> str:
    """``by-sa`` and ``4.0`` as people (and Wikimedia Commons) write it: ``CC BY-SA 4.0``."""
    code = (code or "").strip().lower()
    if not code:
        return ""
    name = {"cc0": "CC0", "pdm": "Public Domain Mark"}.get(code, f"CC {code.upper()}")
    return f"{name} {version}".strip() if version else name


def parse_page(content: dict[str, Any]) -> list[dict[str, str]]:
    """One page of results: each image's URL, page, licence (and its deed) and creator."""
    found = []
    for item in as_list(as_dict(content).get("results")):
        if not isinstance(item, dict) or not text(item.get("url")):
            continue
        found.append({"file_url": item["url"], "page_url": text(item.get("foreign_landing_url")),
                      "licence": licence_name(text(item.get("license")), text(item.get("license_version"))),
                      "licence_url": text(item.get("license_url")), "creator": text(item.get("creator")).strip()})
    return found


def client_credentials(credentials: Any) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from a mapping or ``"id:secret"``; None for anonymous use."""
    if not credentials:
        return None
    if isinstance(credentials, dict):
        pair = (credentials.get("client_id") or "", credentials.get("client_secret") or "")
    elif isinstance(credentials, str) and ":" in credentials:
        pair = tuple(credentials.split(":", 1))
    else:
        pair = tuple(credentials) if isinstance(credentials, (list, tuple)) and len(credentials) == 2 else ("", "")
    if not all(pair):
        raise InvalidRequest("openverse credentials need a client id and a client secret")
    return pair[0], pair[1]


def access_token(fetcher: SafeFetcher, base_url: str, credentials: Any) -> str:
    """A bearer token for the application's credentials, or ``""`` for anonymous use."""
    pair = client_credentials(credentials)
    if pair is None:
        return ""
    body = fetcher.fetch_document(urljoin(base_url, TOKEN_PATH), form={
        "grant_type": "client_credentials", "client_id": pair[0], "client_secret": pair[1]})
    try:
        answer = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):  # an answer that is not JSON (nor UTF-8): no token in it
        answer = None
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise Refused("api_error", "Openverse's token endpoint answered without an access_token")
    return secret(token)  # masked in task logs from now on, like the connection's secret


def results(keyword: str, filters: dict[str, Any], fetcher: SafeFetcher, *, base_url: str = ENDPOINT,
            credentials: Any = None, page_delay: float | None = None) -> Iterator[dict[str, str]]:
    """The search's images, page after page, read only as far as they are consumed."""
    token = access_token(fetcher, base_url, credentials)
    headers = {"Accept": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    size = PAGE_SIZE["authenticated" if token else "anonymous"]
    delay = PAGE_DELAY if page_delay is None else page_delay
    for page in range(1, MAX_PAGES + 1):
        if page > 1:
            fetcher.sleep(delay)
        query = {"q": keyword, "page": page, "page_size": size, **query_filters(filters)}
        body = fetcher.fetch_document(f"{base_url}?{urlencode(query)}", headers=headers)
        try:
            content = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):  # an answer that is not JSON (nor UTF-8): refused
            raise Refused("api_error", f"Openverse answered page {page} with something that is not JSON") from None
        if not isinstance(content, dict):
            raise Refused("api_error", f"Openverse answered page {page} with JSON that is not an object")
        yield from parse_page(content)
        if not content.get("results") or page >= number(content.get("page_count")):
            return


def search(keyword: str, dest: Path, fetcher: SafeFetcher, *, count: int, filters: dict[str, Any] | None = None,
           base_url: str = ENDPOINT, credentials: Any = None, threads: int = 4, deadline: float = 3600,
           **_: Any) -> CrawlResult:
    """Up to ``count`` images of an Openverse search downloaded into ``dest``."""
    found = results(keyword, filters or {}, fetcher, base_url=base_url, credentials=credentials)
    return download_results(found, dest, fetcher, count=count, threads=threads, deadline=deadline)


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    return run.search(request, search, credentials=run.credentials)
