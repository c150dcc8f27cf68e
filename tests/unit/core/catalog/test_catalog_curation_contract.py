"""What people change in the gallery, recorded with who and when: title, description, tags, the
trash; and maintenance's purge of a record."""

from __future__ import annotations

import pytest

from image_pipeline.core.catalog.roles import Curation
from image_pipeline.core.errors import InvalidRequest
from support.catalog_records import record

ROLES = (Curation,)


def test_edits_are_recorded_with_who_and_when_and_only_what_changed(catalog):
    sha = "a" * 64
    record(catalog, sha)
    doc = catalog.edit_image(sha, {"title": " Lighthouse ", "tags": ["sea", "sea", "night"]}, "ann")
    assert (doc["title"], doc["tags"]) == ("Lighthouse", ["sea", "night"])
    assert catalog.edit_image(sha, {"title": "Lighthouse", "description": None}, "bob") == doc  # nothing new
    doc = catalog.edit_image(sha, {"description": "At dusk"}, "bob")
    assert [(h["by"], h["action"], h["changes"]) for h in doc["history"]] == [
        ("ann", "edit", {"title": "Lighthouse", "tags": ["sea", "night"]}), ("bob", "edit", {"description": "At dusk"})]
    assert catalog.edit_image("f" * 64, {"title": "x"}, "ann") is None
    with pytest.raises(InvalidRequest):
        catalog.edit_image(sha, {"status": "raw"}, "ann")
    with pytest.raises(InvalidRequest):
        catalog.edit_image(sha, {"tags": [""]}, "ann")


def test_trash_hides_restore_round_trips(catalog):
    for sha in ("a" * 64, "b" * 64):
        record(catalog, sha)
    catalog.tag_images(["a" * 64], ["sea"], "ann")
    doc, changed = catalog.trash_image("a" * 64, "ann", at="2026-11-02T00:00:00+00:00")
    assert changed and doc["trashed"] == {"at": "2026-11-02T00:00:00.000000+00:00", "by": "ann"}
    assert catalog.trash_image("a" * 64, "bob")[1] is False  # trashing twice changes nothing
    assert [d["sha256"] for d in catalog.list_images()[0]] == ["b" * 64] and catalog.count_images() == 1
    assert [d["sha256"] for d in catalog.list_images({"trashed": True})[0]] == ["a" * 64]
    assert catalog.facets()["tags"] == [] and {f["name"] for f in catalog.facets()["keywords"]} == {"cats"}
    assert catalog.pending("half_gray", 1) == ["b" * 64] and catalog.pending_features(1) == ["b" * 64]
    assert catalog.due([("half_gray", 1, "f1")], 1) == ["b" * 64]  # planning never takes a trashed image
    assert [d["sha256"] for d in catalog.trashed_before("2026-11-03T00:00:00+00:00")] == ["a" * 64]
    assert catalog.trashed_before("2026-11-01T00:00:00+00:00") == []
    doc, changed = catalog.restore_image("a" * 64, "bob")
    assert changed and doc["trashed"] is None and doc["tags"] == ["sea"]
    assert [h["action"] for h in doc["history"]] == ["tag", "trash", "restore"]
    assert catalog.count_images() == 2 and catalog.pending("half_gray", 1) == ["a" * 64, "b" * 64]


def test_delete_image_removes_only_the_record(catalog):
    record(catalog, "a" * 64)
    catalog.put_delivery("d1", {"status": "sent", "images": ["a" * 64]})
    assert catalog.delete_image("a" * 64) is True and catalog.delete_image("a" * 64) is False
    assert catalog.get("a" * 64) is None and catalog.count_images() == 0 and catalog.facets()["keywords"] == []
    assert catalog.get_delivery("d1")["images"] == ["a" * 64]
