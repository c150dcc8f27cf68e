"""Analytics' metrics documents, one per day."""

from __future__ import annotations

from image_pipeline.core.catalog.roles import DailyMetrics

ROLES = (DailyMetrics,)


def test_metrics_documents_are_upserted_by_day(catalog):
    assert catalog.get_metrics("2026-11-02") is None and catalog.metrics() == []
    catalog.put_metrics("2026-11-02", {"retrieved": 3, "by_format": {"JPEG": 3}})
    catalog.put_metrics("2026-11-01", {"retrieved": 1})
    catalog.put_metrics("2026-11-02", {"retrieved": 5, "by_format": {"PNG": 5}})  # a re-run replaces it
    assert catalog.get_metrics("2026-11-02") == {"day": "2026-11-02", "retrieved": 5, "by_format": {"PNG": 5}}
    assert [m["day"] for m in catalog.metrics()] == ["2026-11-01", "2026-11-02"]
    assert catalog.metrics()[0] == {"day": "2026-11-01", "retrieved": 1}
