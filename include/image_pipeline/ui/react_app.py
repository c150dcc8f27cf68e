"""The gallery's ``react_apps`` entry for Airflow's plugin manager (Airflow >= 3.1).

The bundle (``static/main.umd.cjs``, built from ``ui/`` by ``make ui`` and committed) is served by
the gallery's FastAPI app, mounted at ``/gallery``, as ``/gallery/static/main.umd.cjs``. Airflow's UI
imports it from ``bundle_url`` and renders its default export at ``<base>/plugin/gallery/*``, with
React, react-router-dom and Chakra UI from the host page. ``bundle_url`` and the icons must carry
Airflow's base path (``[api] base_url``): a relative URL breaks when Airflow is served under a prefix.

No Airflow import here (only ``airflow_adapter`` imports Airflow): the plugin file passes the base URL,
``react_app(conf.get("api", "base_url", fallback="/"))``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

PREFIX = "/gallery"  # the gallery FastAPI app's url_prefix
STATIC_DIR = Path(__file__).parent / "static"  # what the FastAPI app serves at PREFIX + "/static"
BUNDLE = "main.umd.cjs"


def base_path(base_url: str | None) -> str:
    """The path part of Airflow's ``[api] base_url`` ("http://host:8080/airflow/" -> "/airflow"), no
    trailing slash; "" for the root."""
    path = urlparse(base_url).path if base_url and "://" in base_url else (base_url or "")
    return "/" + path.strip("/") if path.strip("/") else ""


def react_app(base_url: str | None = "/") -> dict[str, object]:
    """The ``react_apps`` entry: "Gallery" as a top-level item of Airflow's navigation."""
    static = f"{base_path(base_url)}{PREFIX}/static"
    return {
        "name": "Gallery",
        "url_route": "gallery",  # the app lives at <base>/plugin/gallery
        "bundle_url": f"{static}/{BUNDLE}",
        "destination": "nav",
        "nav_top_level": True,  # Airflow 3.3: a button of its own in the nav bar, not under "Plugins"
        "icon": f"{static}/gallery.svg",
        "icon_dark_mode": f"{static}/gallery-dark.svg",
    }
