"""Delivery: what is asked (:mod:`.request`), the archive (:mod:`.archive`), the exactly-once ledger
(:mod:`.ledger`), the message (:mod:`.message`), the channels (:mod:`.mail`) and the recurring
deliveries (:mod:`.subscriptions`). Names below are loaded on first use (DAG files import the package)."""

from __future__ import annotations

from image_pipeline.core.exports import lazy_exports

_EXPORTS = {
    "image_pipeline.deliver.request": ("DeliveryRequest", "check_deliverable", "describe"),
    "image_pipeline.deliver.archive": ("Archive", "content_id", "ensure_archive", "manifest_rows", "safe_stem",
                                       "select_images", "write_archive"),
    "image_pipeline.deliver.ledger": ("DeliveryUncertain", "deliver", "delivery_id", "resolve_uncertain"),
    "image_pipeline.deliver.message": ("TEMPLATES_DIR", "render_message"),
    "image_pipeline.deliver.subscriptions": ("Subscription", "load_subscriptions"),
    "image_pipeline.core.selection": ("Selection",),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
