"""The registry of sources: each one's name, kind and default endpoint, one line per source.

``search`` sources take keywords (and filters), ``site`` crawls one site, ``urls`` fetches a list,
``inbox`` ingests the store's inbox zone. ``GALLERY_<SOURCE>_URL`` overrides an endpoint.
"""

from __future__ import annotations

SOURCES: dict[str, tuple[str, str]] = {  # name: (kind, default endpoint)
    "bing": ("search", "https://www.bing.com/images/async"),
    "google": ("search", "https://www.google.com/search"),
    "baidu": ("search", "https://image.baidu.com/search/acjson"),
    "flickr": ("search", "https://api.flickr.com/services/rest/"),
    "greedy": ("site", ""),
    "urls": ("urls", ""),
    "inbox": ("inbox", ""),
}

ENGINES = tuple(SOURCES)
SEARCH_ENGINES = tuple(name for name, (kind, _) in SOURCES.items() if kind == "search")
# Where each search engine's results come from (GALLERY_<ENGINE>_URL overrides one).
SEARCH_ENDPOINTS = {name: endpoint for name, (kind, endpoint) in SOURCES.items() if kind == "search"}
