"""Delivery: what is asked (:mod:`.request`), the archive (:mod:`.archive`), the exactly-once ledger
(:mod:`.ledger`), the message (:mod:`.message`), the channels (:mod:`.mail`) and the recurring
deliveries (:mod:`.subscriptions`).

The names below are imported from their modules (plain imports, which editors and type checkers
follow); no module here imports a heavy library at its top, so importing the package (DAG files do)
stays light (tests/dags/test_dag_integrity.py)."""

from __future__ import annotations

from image_pipeline.deliver.request import DeliveryRequest, check_deliverable, describe
from image_pipeline.deliver.archive import (
    Archive, content_id, ensure_archive, manifest_rows, safe_stem, select_images, write_archive,
)
from image_pipeline.deliver.ledger import DeliveryUncertain, deliver, delivery_id, resolve_uncertain
from image_pipeline.deliver.message import TEMPLATES_DIR, render_message
from image_pipeline.deliver.subscriptions import Subscription, load_subscriptions
from image_pipeline.core.selection import Selection

__all__ = [
    "Archive", "DeliveryRequest", "DeliveryUncertain", "Selection", "Subscription", "TEMPLATES_DIR",
    "check_deliverable", "content_id", "deliver", "delivery_id", "describe", "ensure_archive", "load_subscriptions",
    "manifest_rows", "render_message", "resolve_uncertain", "safe_stem", "select_images", "write_archive",
]
