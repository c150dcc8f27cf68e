"""Flickr, through its REST API (``flickr.photos.search``) read by icrawler's crawler: the source, whole.

- Endpoint: ``https://api.flickr.com/services/rest/`` (``GALLERY_FLICKR_URL`` overrides it), 100
  photos a page with their URL extras: one API call per page (icrawler's parser makes a
  ``getSizes`` call for every photo).
- Credentials: an API key is required (the Airflow connection ``GALLERY_FLICKR_CONN_ID``).
- Filters: the API's own search arguments (:data:`FILTERS`), passed as they are.
- Date window: the exact window, as ``min_upload_date`` and ``max_upload_date`` (unless the request
  has upload dates of its own).
- Parser: each photo's largest URL, its page on Flickr and its licence id (``flickr-license-N``).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from icrawler import Parser

from image_pipeline.retrieve.crawl import CrawlResult, crawl_pages
from image_pipeline.retrieve.fetch import SafeFetcher
from image_pipeline.retrieve.shapes import as_dict, as_list, text
from image_pipeline.core.errors import InvalidRequest

if TYPE_CHECKING:
    from image_pipeline.retrieve.ingest import RetrievalSummary, Run

ENDPOINT = "https://api.flickr.com/services/rest/"
FILTERS = {"license", "tags", "tag_mode", "sort", "content_types", "media", "min_upload_date",
           "max_upload_date", "min_taken_date", "max_taken_date", "safe_search"}


def check(request: dict, **_) -> dict:
    """:class:`InvalidRequest` for a filter that is not one of the API's search arguments."""
    unknown = set(request["filters"]) - FILTERS
    if unknown:
        raise InvalidRequest(f"invalid flickr filters: {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(sorted(FILTERS))})")
    return request


def with_window(request: dict, start: datetime, end: datetime, now: datetime) -> dict:
    """Flickr takes the exact window, as upload dates."""
    if {"min_upload_date", "max_upload_date"} & set(request["filters"]):
        return request
    window = {"min_upload_date": int(start.timestamp()), "max_upload_date": int(end.timestamp())}
    return {**request, "filters": {**request["filters"], **window}}


class FlickrJsonParser(Parser):
    """flickr.photos.search results with their URL extras: one API call per page of 100 photos
    (icrawler's parser makes a getSizes call for every photo)."""

    SIZES = ("url_o", "url_l", "url_c", "url_z")

    def parse(self, response):
        try:
            content = json.loads(response.content.decode("utf-8", "ignore"))
        except json.JSONDecodeError:  # a page of results that is not JSON (a block page...): skipped, logged
            self.logger.exception("Flickr answered with something that is not JSON")
            return
        if not isinstance(content, dict) or content.get("stat") != "ok":
            content = as_dict(content)
            self.logger.error("Flickr refused the search: %s", content.get("message", content.get("stat")))
            return
        for photo in as_list(as_dict(content.get("photos")).get("photo")):
            if not isinstance(photo, dict):
                continue
            url = next((text(photo.get(size)) for size in self.SIZES if text(photo.get(size))), "")
            licence = photo.get("license")
            if url:
                yield {"file_url": url, "page_url": f"https://www.flickr.com/photos/{photo.get('owner')}/{photo.get('id')}",
                       "licence": f"flickr-license-{licence}" if isinstance(licence, (str, int)) else ""}


def search_pages(keyword: str, count: int, filters: dict, *, base_url: str = ENDPOINT, api_key: str = "") -> list[str]:
    """The result-page URLs a search of ``count`` images reads."""
    params = {"method": "flickr.photos.search", "api_key": api_key, "text": keyword, "per_page": 100,
              "extras": ",".join(("license", "owner_name", "date_upload") + FlickrJsonParser.SIZES),
              "format": "json", "nojsoncallback": 1, "safe_search": 1, **filters}
    return [f"{base_url}?{urlencode({**params, 'page': page})}" for page in range(1, -(-count // 100) + 1)]


def search(keyword: str, dest: Path, fetcher: SafeFetcher, *, count: int, filters: dict | None = None,
           base_url: str = ENDPOINT, api_key: str = "", threads: int = 4, idle_timeout: float = 30,
           deadline: float = 3600) -> CrawlResult:
    pages = search_pages(keyword, count, filters or {}, base_url=base_url, api_key=api_key)
    return crawl_pages(pages, FlickrJsonParser, dest, fetcher, count=count, threads=threads,
                       idle_timeout=idle_timeout, deadline=deadline)


def retrieve(request: dict, run: Run) -> RetrievalSummary:
    if not run.credentials:
        raise InvalidRequest("engine 'flickr' needs an API key (the Airflow connection GALLERY_FLICKR_CONN_ID)")
    return run.search(request, search, api_key=run.credentials, idle_timeout=run.crawl_idle)
