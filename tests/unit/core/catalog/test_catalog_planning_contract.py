"""Processing's planning: the images whose outputs or features are missing or outdated, never a
quarantined one, and a failed output left alone until its recipe changes."""

from __future__ import annotations

from image_pipeline.core.catalog.roles import Planning
from support.catalog_records import failure, output, record

ROLES = (Planning,)


def test_pending_follows_outputs_and_recipe_versions(catalog):
    for sha in ("a" * 64, "b" * 64, "c" * 64):
        record(catalog, sha)
    assert catalog.pending("half_gray", 1) == ["a" * 64, "b" * 64, "c" * 64]
    catalog.record_output("a" * 64, "half_gray", output(version=1))
    catalog.record_quarantine("b" * 64, "cannot decode", "process", "quarantine/b", "2026-11-01T11:00:00.000000+00:00")
    assert catalog.pending("half_gray", 1) == ["c" * 64]
    assert catalog.pending("half_gray", 2) == ["a" * 64, "c" * 64]  # a new version reprocesses
    assert catalog.get("a" * 64)["status"] == "processed"
    assert catalog.get("b" * 64)["quarantine"]["reason"] == "cannot decode"


def test_a_failed_output_stands_for_its_recipe_until_it_changes_and_a_success_drops_it(catalog):
    a, b = "a" * 64, "b" * 64
    record(catalog, a)
    record(catalog, b)
    catalog.record_processing(a, {"half_gray": {**output(), "fingerprint": "g1"}}, failures={"mark": failure()})
    doc = catalog.get(a)
    assert doc["status"] == "processed" and doc["failures"]["mark"]["reason"].startswith("mark:")
    assert catalog.due([("mark", 1, "f1")], None) == [b]  # failed at this version: not planned again
    assert catalog.due([("mark", 2, "f1")], None) == [a, b] and catalog.due([("mark", 1, "f2")], None) == [a, b]
    assert catalog.pending("mark", 1) == [b] and catalog.pending("mark", "f1", "fingerprint") == [b]
    assert [d["sha256"] for d in catalog.problems()] == [a]
    catalog.record_processing(a, {"mark": {**output(), "fingerprint": "f1"}})  # a Redo that worked
    assert not catalog.get(a).get("failures") and catalog.problems() == []
    assert catalog.due([("mark", 1, "f1")], None) == [b]
