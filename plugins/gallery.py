"""The gallery inside Airflow's UI: the library's FastAPI app (``image_pipeline.ui``) mounted at
``/gallery``, behind Airflow's login (docs/api.md)."""

from __future__ import annotations

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

from image_pipeline.ui import create_app
from image_pipeline.ui.react_app import react_app


class GalleryPlugin(AirflowPlugin):
    name = "gallery"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/gallery", "name": "Gallery"}]
    react_apps = [react_app(conf.get("api", "base_url", fallback="/"))]
