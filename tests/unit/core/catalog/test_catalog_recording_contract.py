"""What retrieval and processing record: an image seen (once, then merged), its outputs, features,
failures, quarantine and unexpected attempts; a retry of the same write changes nothing."""

from __future__ import annotations

import pytest

from image_pipeline.core.catalog import new_image_doc
from image_pipeline.core.catalog.roles import ImageRecorder
from support.catalog_records import image, output, record

ROLES = (ImageRecorder,)


def test_new_image_is_recorded_once(catalog):
    sha, fields = image()
    assert catalog.record_image(sha, **fields) is True
    assert catalog.record_image(sha, **fields) is False
    assert catalog.get(sha) == new_image_doc(sha, **fields)
    assert len(catalog.find()) == 1


def test_seeing_an_image_again_merges_keyword_run_and_source(catalog):
    sha, fields = image()
    catalog.record_image(sha, **fields)
    _, again = image(keyword="kittens", run_id="run2", uri="http://x/1.jpg", source="urls",
                     seen_at="2026-11-02T10:00:00.000000+00:00")
    catalog.record_image(sha, **again)
    catalog.record_image(sha, **{**again, "seen_at": "2026-11-01T12:00:00.000000+00:00"})  # older: ignored
    doc = catalog.get(sha)
    assert doc["keywords"] == ["cats", "kittens"]
    assert doc["run_ids"] == ["run1", "run2"]
    assert [s["source"] for s in doc["sources"]] == ["folder", "urls"]
    assert doc["retrieved_at"] == fields["seen_at"]
    assert doc["last_seen_at"] == "2026-11-02T10:00:00.000000+00:00"


def test_the_same_run_seeing_an_image_again_changes_nothing(catalog):
    sha, fields = image()
    catalog.record_image(sha, **fields)
    before = catalog.get(sha)
    catalog.record_image(sha, **{**fields, "seen_at": "2026-11-05T10:00:00.000000+00:00"})
    assert catalog.get(sha) == before


def test_a_trashed_image_found_again_stays_in_the_trash_and_is_not_new(catalog):
    sha, fields = image()
    catalog.record_image(sha, **fields)
    catalog.trash_image(sha, "ann")
    before = catalog.get(sha)
    assert catalog.record_image(sha, **{**fields, "keyword": "dogs", "run_id": "run9"}) is False
    assert catalog.get(sha) == before


def test_quarantine_can_create_the_record(catalog):
    sha, fields = image("d" * 64, format="unknown")
    base = new_image_doc(sha, **fields)
    catalog.record_quarantine(sha, "not an image", "retrieve", "quarantine/d", "2026-11-01T10:00:00.000000+00:00", base=base)
    catalog.record_quarantine(sha, "not an image", "retrieve", "quarantine/d", "2026-11-01T10:00:00.000000+00:00", base=base)
    catalog.record_quarantine(sha, "other", "process", "quarantine/d", "2026-11-09T10:00:00.000000+00:00")
    doc = catalog.get(sha)
    assert doc["status"] == "quarantined" and doc["keywords"] == ["cats"]
    assert doc["quarantine"] == {"reason": "not an image", "stage": "retrieve", "key": "quarantine/d",
                                 "at": "2026-11-01T10:00:00.000000+00:00", "kind": "image"}
    assert len(catalog.find()) == 1


def test_updates_of_unknown_images_fail(catalog):
    with pytest.raises(KeyError):
        catalog.record_output("e" * 64, "half_gray", output())
    with pytest.raises(KeyError):
        catalog.record_quarantine("e" * 64, "r", "process", "k", "2026-11-01T10:00:00.000000+00:00")


def test_processing_is_recorded_in_one_write_and_found_by_label(catalog):
    record(catalog, "a" * 64, seen_at="2026-11-02T10:00:00.000000+00:00")
    record(catalog, "b" * 64, seen_at="2026-11-01T10:00:00.000000+00:00")
    features = {"version": 1, "phash": "00ff00ff00ff00ff", "labels": [{"name": "tabby cat", "score": 0.8}]}
    catalog.record_processing("a" * 64, {"half_gray": output(), "thumb": output()}, features, duplicate_of=None)
    doc = catalog.get("a" * 64)
    assert doc["status"] == "processed" and set(doc["outputs"]) == {"half_gray", "thumb"}
    assert doc["features"] == features and doc["duplicate_of"] is None
    assert [d["sha256"] for d in catalog.find(label="tabby cat")] == ["a" * 64]
    assert catalog.find(label="tabby") == []
    # A later recipe adds to the outputs; features stay unless given again.
    catalog.record_processing("a" * 64, {"web": output(version=2)})
    doc = catalog.get("a" * 64)
    assert set(doc["outputs"]) == {"half_gray", "thumb", "web"} and doc["features"] == features
    assert catalog.pending_features(1) == ["b" * 64] and catalog.pending_features(2) == ["a" * 64, "b" * 64]
    assert catalog.pending("web", 2) == ["b" * 64] and catalog.pending("web", 3) == ["a" * 64, "b" * 64]
    catalog.record_processing("b" * 64, {}, {"version": 1, "phash": "00ff00ff00ff00fe"}, duplicate_of="a" * 64)
    assert catalog.get("b" * 64)["status"] == "raw" and catalog.get("b" * 64)["duplicate_of"] == "a" * 64
    # Oldest retrieval first: b was retrieved before a.
    assert catalog.phashes() == [("b" * 64, "00ff00ff00ff00fe"), ("a" * 64, "00ff00ff00ff00ff")]
    with pytest.raises(KeyError):
        catalog.record_processing("e" * 64, {}, {"version": 1})


def test_attempts_count_once_per_run_and_end_with_a_processing_or_a_quarantine(catalog):
    a = "a" * 64
    record(catalog, a)
    at = "2026-11-01T11:00:00.000000+00:00"
    assert catalog.record_attempt(a, "TypeError: x", at, run_id="r1", release="0.2.0") == 1
    assert catalog.record_attempt(a, "TypeError: y", at, run_id="r1") == 1  # a retried task of the same run
    assert catalog.record_attempt(a, "TypeError: z", at, run_id="r2") == 2
    assert catalog.get(a)["attempts"]["reason"] == "TypeError: z" and [d["sha256"] for d in catalog.problems()] == [a]
    catalog.record_processing(a, {"half_gray": output()})
    assert not catalog.get(a).get("attempts") and catalog.problems() == []
    catalog.record_attempt(a, "TypeError", at, run_id="r3")
    catalog.record_quarantine(a, "failed 3 times: TypeError", "process", "q/a", at, kind="unexpected", attempts=3)
    doc = catalog.get(a)
    assert not doc.get("attempts") and doc["quarantine"]["kind"] == "unexpected" and doc["quarantine"]["attempts"] == 3
