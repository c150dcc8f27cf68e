"""The gallery inside Airflow's UI: the library's FastAPI app (``image_pipeline.ui``) mounted at
``/gallery``, behind Airflow's login (see the README's "Gallery API")."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from image_pipeline.ui import create_app


class GalleryPlugin(AirflowPlugin):
    name = "gallery"
    fastapi_apps = [{"app": create_app(), "url_prefix": "/gallery", "name": "Gallery"}]
