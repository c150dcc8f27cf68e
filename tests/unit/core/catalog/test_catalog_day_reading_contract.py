"""A day's images for analytics, streamed, without the images trashed before the day."""

from __future__ import annotations

from image_pipeline.core.catalog.roles import DayReading
from support.catalog_records import image, output, record

ROLES = (DayReading,)


def test_touched_streams_images_retrieved_processed_or_quarantined_in_a_window(catalog):
    day2 = ("2026-11-02T00:00:00.000000+00:00", "2026-11-03T00:00:00.000000+00:00")
    record(catalog, "a" * 64, seen_at="2026-11-02T10:00:00.000000+00:00")  # retrieved in the window
    record(catalog, "b" * 64, seen_at="2026-11-01T23:00:00.000000+00:00")  # processed in it
    catalog.record_output("b" * 64, "half_gray", output(at="2026-11-02T00:30:00.000000+00:00"))
    record(catalog, "c" * 64, seen_at="2026-11-01T22:00:00.000000+00:00")  # quarantined in it
    catalog.record_quarantine("c" * 64, "cannot decode", "process", "q", "2026-11-02T01:00:00.000000+00:00")
    record(catalog, "d" * 64, seen_at="2026-11-01T10:00:00.000000+00:00")  # processed the day before
    catalog.record_output("d" * 64, "half_gray", output(at="2026-11-01T11:00:00.000000+00:00"))
    record(catalog, "e" * 64, seen_at="2026-11-03T00:00:00.000000+00:00")  # the window's end is open
    record(catalog, "f" * 64, seen_at="2026-11-01T10:00:00.000000+00:00")  # another recipe in it
    catalog.record_output("f" * 64, "thumb", output(at="2026-11-02T11:00:00.000000+00:00"))
    touched = [d["sha256"] for d in catalog.touched(*day2, recipes=["half_gray", "thumb"], batch_size=2)]
    assert touched == ["a" * 64, "b" * 64, "c" * 64, "f" * 64]
    assert [d["sha256"] for d in catalog.touched(*day2)] == ["a" * 64, "c" * 64]  # outputs only when named
    assert catalog.get("b" * 64) == next(d for d in catalog.touched(*day2, recipes=["half_gray"]) if d["sha256"] == "b" * 64)


def test_touched_json_holds_at_least_the_touched_documents(catalog):
    import json

    record(catalog, "a" * 64, seen_at="2026-11-02T10:00:00.000000+00:00")
    record(catalog, "b" * 64, seen_at="2026-11-05T10:00:00.000000+00:00")
    window = ("2026-11-02T00:00:00.000000+00:00", "2026-11-03T00:00:00.000000+00:00")
    texts = [json.loads(t) for t in catalog.touched_json(*window)]
    assert catalog.get("a" * 64) in texts and catalog.get("b" * 64) not in texts


def test_analytics_leave_out_images_trashed_before_the_day_only(catalog):
    sha, fields = image(seen_at="2026-11-01T10:00:00+00:00")
    catalog.record_image(sha, **fields)
    catalog.trash_image(sha, "ann", at="2026-11-01T12:00:00+00:00")  # the day it was retrieved
    day = ("2026-11-01T00:00:00.000000+00:00", "2026-11-02T00:00:00.000000+00:00")
    assert [d["sha256"] for d in catalog.touched(*day)] == [sha]  # that day reads as it did
    assert len(list(catalog.touched_json(*day))) == 1
    catalog.record_output(sha, "half_gray", output(at="2026-11-05T10:00:00.000000+00:00"))
    later = ("2026-11-05T00:00:00.000000+00:00", "2026-11-06T00:00:00.000000+00:00")
    assert list(catalog.touched(*later, ["half_gray"])) == [] and list(catalog.touched_json(*later, ["half_gray"])) == []
    catalog.restore_image(sha, "ann")
    assert len(list(catalog.touched(*later, ["half_gray"]))) == 1
