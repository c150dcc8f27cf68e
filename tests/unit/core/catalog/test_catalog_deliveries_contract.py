"""Delivery's ledger, an entry per delivery id."""

from __future__ import annotations

from image_pipeline.core.catalog.roles import DeliveryLedger

ROLES = (DeliveryLedger,)


def test_delivery_ledger_upserts(catalog):
    assert catalog.get_delivery("d1") is None
    catalog.put_delivery("d1", {"status": "sending", "recipient": "a@example.com"})
    catalog.put_delivery("d1", {"status": "sent", "recipient": "a@example.com"})
    assert catalog.get_delivery("d1") == {"id": "d1", "status": "sent", "recipient": "a@example.com"}
    assert [d["id"] for d in catalog.deliveries()] == ["d1"]
