"""Maintenance of the store and the catalog (the ``gallery_maintenance`` DAG): the trash purged past
its retention, orphan objects removed, every record's objects checked (:mod:`.store`).

``check(store, catalog)`` is the read-only report (missing objects, orphans); nothing here imports
another stage.

The names below are imported from their modules (plain imports, which editors and type checkers
follow); no module here imports a heavy library at its top, so importing the package (DAG files do)
stays light (tests/dags/test_dag_integrity.py)."""

from __future__ import annotations

from image_pipeline.maintain.store import IMAGE_ZONES, Report, check, image_keys, purge_trash, remove_orphans

__all__ = [
    "IMAGE_ZONES", "Report", "check", "image_keys", "purge_trash", "remove_orphans",
]
