"""Maintenance of the store and the catalog (the ``gallery_maintenance`` DAG): the trash purged past
its retention, orphan objects removed, every record's objects checked (:mod:`.store`).

``check(store, catalog)`` is the read-only report (missing objects, orphans); nothing here imports
another stage. Names below are loaded on first use (DAG files import the package)."""

from __future__ import annotations

from image_pipeline.core.exports import lazy_exports

_EXPORTS = {
    "image_pipeline.maintain.store": ("IMAGE_ZONES", "Report", "check", "image_keys", "purge_trash",
                                      "remove_orphans"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
