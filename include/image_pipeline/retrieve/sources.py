"""The registry of sources: each one's name, kind and the module that implements it, one line per source.

``search`` sources take keywords (and filters), ``site`` crawls one site, ``urls`` fetches a list,
``inbox`` ingests the store's inbox zone. Adding a source is one module and one line here.

A source's module is the whole source (its endpoint, filters, date window and parser), behind one
interface; :mod:`.request` and :mod:`.ingest` only call it (:func:`source_module` imports it on
first use, so the registry stays light for the DAG files):

- ``ENDPOINT``: where its searches go (``""`` when it has none); ``GALLERY_<SOURCE>_URL``
  overrides it (:meth:`~image_pipeline.settings.Settings.endpoints`);
- ``check(request, *, site_url, urls, max_count)``: the request with what the source takes, checked
  (a search source's filters, a site's URL, a URL list); raises ValueError for what it would refuse
  (called by :func:`~image_pipeline.retrieve.request.validate_request`, before any side effect);
- ``with_window(request, start, end, now)``: the request narrowed to a run's data interval (or as
  it is, when the source has no date filter);
- ``retrieve(request, run)``: the images into the raw zone and the catalog, a
  :class:`~image_pipeline.retrieve.ingest.RetrievalSummary`; ``run`` (an
  :class:`~image_pipeline.retrieve.ingest.Run`) gives the store, catalog, fetch policy, endpoint
  and credentials, and ``run.crawl(request, fetch)`` ingests what ``fetch(dest, fetcher)`` downloaded.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from image_pipeline.core.errors import InvalidRequest

SOURCES: dict[str, tuple[str, str]] = {  # name: (kind, module that implements it)
    "bing": ("search", "image_pipeline.retrieve.bing"),
    "google": ("search", "image_pipeline.retrieve.google"),
    "baidu": ("search", "image_pipeline.retrieve.baidu"),
    "flickr": ("search", "image_pipeline.retrieve.flickr"),
    "openverse": ("search", "image_pipeline.retrieve.openverse"),
    "wikimedia": ("search", "image_pipeline.retrieve.wikimedia"),
    "greedy": ("site", "image_pipeline.retrieve.greedy"),
    "urls": ("urls", "image_pipeline.retrieve.urls"),
    "inbox": ("inbox", "image_pipeline.retrieve.inbox"),
}

ENGINES = tuple(SOURCES)
SEARCH_ENGINES = tuple(name for name, (kind, _) in SOURCES.items() if kind == "search")


def source_module(engine: str) -> ModuleType:
    """The module that implements ``engine`` (see the module docstring)."""
    if engine not in SOURCES:
        raise InvalidRequest(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return importlib.import_module(SOURCES[engine][1])
