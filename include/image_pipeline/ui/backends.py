"""The gallery's store and catalog, built once per process from the settings through ``wiring`` and
the Airflow adapter's hooks (S3 through ``aws_default``, MongoDB through ``mongo_default``).

Routes are plain ``def`` functions: FastAPI runs them in its threadpool, so the catalog's and the
store's blocking calls never block the event loop. A SQLite connection belongs to the thread that
opened it, so each worker thread keeps its own; MongoDB's client is shared (pymongo is thread-safe).
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from fastapi import Request

from image_pipeline import wiring
from image_pipeline.core.catalog import Catalog
from image_pipeline.core.storage import ObjectStore
from image_pipeline.settings import Settings


class Backends:
    """Settings, store and catalog of the gallery's API. Tests pass their own ``store`` and
    ``catalog`` (a factory called once per thread)."""

    def __init__(self, cfg: Settings | None = None, *, store: ObjectStore | None = None,
                 catalog: Callable[[], Catalog] | None = None):
        self._cfg = cfg
        self._store = store
        self._catalog_factory = catalog
        self._shared: Catalog | None = None
        self._local = threading.local()
        self._lock = threading.Lock()

    @property
    def cfg(self) -> Settings:
        if self._cfg is None:
            self._cfg = wiring.settings()
        return self._cfg

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            from image_pipeline.airflow_adapter import hooks

            with self._lock:
                if self._store is None:
                    self._store = hooks.object_store(self.cfg)
        return self._store

    @property
    def catalog(self) -> Catalog:
        if self._catalog_factory is not None:
            opened = getattr(self._local, "catalog", None)
            if opened is None:
                opened = self._local.catalog = self._catalog_factory()
            return opened
        if self.cfg.catalog.backend == "mongo":  # one client for the process
            if self._shared is None:
                from image_pipeline.airflow_adapter import hooks

                with self._lock:
                    if self._shared is None:
                        self._shared = wiring.open_catalog(self.cfg, lambda: hooks.mongo_client(self.cfg))
            return self._shared
        opened = getattr(self._local, "catalog", None)
        if opened is None:
            opened = self._local.catalog = wiring.open_catalog(self.cfg)
        return opened

    def recipe_book(self) -> Any:
        """Recipe files and the catalog's saved recipes."""
        return wiring.recipe_book(self.cfg, self.catalog)

    def file_recipe_book(self) -> Any:
        return wiring.recipe_book(self.cfg)

    def recipes(self) -> dict[str, Any]:
        return self.recipe_book().all()


def backends(request: Request) -> Backends:
    """The app's backends (a FastAPI dependency)."""
    return request.app.state.backends
