"""Reading image documents: one by sha256, filtered, or all of them a batch at a time."""

from __future__ import annotations

import pytest

from image_pipeline.core.catalog.roles import Images
from support.catalog_records import output, record

ROLES = (Images,)


def test_iter_images_gives_every_document_by_sha256_in_batches(catalog):
    shas = [c * 64 for c in "dbeac"]
    for sha in shas:
        record(catalog, sha)
    catalog.record_output("e" * 64, "half_gray", output())
    streamed = catalog.iter_images(batch_size=2)
    first = next(streamed)  # a generator: nothing read beyond the first batch yet
    assert first["sha256"] == "a" * 64
    assert [first, *streamed] == catalog.find() and [d["sha256"] for d in catalog.find()] == sorted(shas)


def test_find_filters(catalog):
    record(catalog, "a" * 64, keyword="cats", run_id="r1", seen_at="2026-11-01T10:00:00.000000+00:00")
    record(catalog, "b" * 64, keyword="dogs", run_id="r1", seen_at="2026-11-02T10:00:00.000000+00:00")
    record(catalog, "c" * 64, keyword="cats", run_id="r2", seen_at="2026-11-03T10:00:00.000000+00:00")
    catalog.record_output("c" * 64, "half_gray", output(at="2026-11-03T11:00:00.000000+00:00"))

    def shas(**kw):
        return [d["sha256"][0] for d in catalog.find(**kw)]

    assert shas(keyword="cats") == ["a", "c"]
    assert shas(run_id="r1") == ["a", "b"]
    assert shas(keyword="cats", run_id="r1") == ["a"]
    assert shas(status="processed") == ["c"]
    assert shas(has_output="half_gray") == ["c"]
    assert shas(between=("retrieved_at", "2026-11-02T00:00:00", "2026-11-03T00:00:00")) == ["b"]
    assert shas(between=("outputs.half_gray.processed_at", "2026-11-03T00:00:00", "2026-11-04T00:00:00")) == ["c"]
    assert shas(keyword="birds") == []
    with pytest.raises(ValueError):
        catalog.find(between=("retrieved_at') OR 1=1 --", "a", "b"))
