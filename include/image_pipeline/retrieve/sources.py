"""The registry of sources: each one's name, kind and default endpoint, one line per source.

``search`` sources take keywords (and filters), ``site`` crawls one site, ``urls`` fetches a list,
``inbox`` ingests the store's inbox zone. ``GALLERY_<SOURCE>_URL`` overrides an endpoint.

A source implemented by a module of its own names that module third; the module is the whole
source, and nothing else needs to know it (:func:`source_module` imports it on first use):

- ``check_filters(filters)``: raises ValueError for a filter the API would refuse (called by
  :func:`~image_pipeline.retrieve.request.validate_request`, before any side effect);
- ``with_window(request, start, end, now)``: the request narrowed to a run's data interval (or as
  it is, when the API has no date filter);
- ``search(keyword, dest, fetcher, *, count, filters, base_url, credentials, threads, deadline)``:
  pages the API through the safe fetcher and downloads the images into ``dest`` (a
  :class:`~image_pipeline.retrieve.crawl.CrawlResult` whose downloads carry page, licence, creator).
"""

from __future__ import annotations

import importlib
from types import ModuleType

SOURCES: dict[str, tuple[str, ...]] = {  # name: (kind, default endpoint[, module that implements it])
    "bing": ("search", "https://www.bing.com/images/async"),
    "google": ("search", "https://www.google.com/search"),
    "baidu": ("search", "https://image.baidu.com/search/acjson"),
    "flickr": ("search", "https://api.flickr.com/services/rest/"),
    "openverse": ("search", "https://api.openverse.org/v1/images/", "image_pipeline.retrieve.openverse"),
    "wikimedia": ("search", "https://commons.wikimedia.org/w/api.php", "image_pipeline.retrieve.wikimedia"),
    "greedy": ("site", ""),
    "urls": ("urls", ""),
    "inbox": ("inbox", ""),
}

ENGINES = tuple(SOURCES)
SEARCH_ENGINES = tuple(name for name, (kind, *_) in SOURCES.items() if kind == "search")
# Where each search engine's results come from (GALLERY_<ENGINE>_URL overrides one).
SEARCH_ENDPOINTS = {name: endpoint for name, (kind, endpoint, *_) in SOURCES.items() if kind == "search"}


def source_module(engine: str) -> ModuleType | None:
    """The module that implements ``engine`` (see the module docstring), or None for the sources
    :mod:`.crawl` implements with icrawler."""
    spec = SOURCES.get(engine, ())
    return importlib.import_module(spec[2]) if len(spec) > 2 else None
