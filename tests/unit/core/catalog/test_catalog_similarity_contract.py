"""What images are compared by: the perceptual hashes a new image's near-duplicate group is looked up
in, and the embeddings similar images are found by."""

from __future__ import annotations

from image_pipeline.core.catalog.roles import Similarity
from support.catalog_records import record

ROLES = (Similarity,)

A, B, C, D = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)


def test_phashes_are_every_image_with_features_oldest_retrieval_first(catalog):
    record(catalog, A, seen_at="2026-11-02T10:00:00.000000+00:00")
    record(catalog, B, seen_at="2026-11-01T10:00:00.000000+00:00")
    record(catalog, C, seen_at="2026-11-01T09:00:00.000000+00:00")  # not processed yet: no features
    catalog.record_processing(A, {}, {"version": 1, "phash": "00ff00ff00ff00ff"})
    catalog.record_processing(B, {}, {"version": 1, "phash": "00ff00ff00ff00fe"}, duplicate_of=A)
    assert catalog.phashes() == [(B, "00ff00ff00ff00fe"), (A, "00ff00ff00ff00ff")]


def test_embeddings_are_read_for_every_image_or_those_asked_by_sha256(catalog):
    def features(embedding):
        return {"version": 1, "phash": "00ff00ff00ff00ff", "embedding": embedding}

    for sha in (C, A, B, D):
        record(catalog, sha)
    catalog.record_processing(C, {}, features({"model": "m", "dim": 2, "f16": "CCCC"}))
    catalog.record_processing(A, {}, features({"model": "m", "dim": 2, "f16": "AAAA"}))
    catalog.record_processing(B, {}, features(None))  # processed without the model
    assert catalog.embedding_shas() == [A, C]
    assert catalog.embeddings() == [(A, "AAAA"), (C, "CCCC")]
    assert catalog.embeddings([C, B, "e" * 64, C]) == [(C, "CCCC")]  # those that have one, each once
    assert catalog.embeddings([]) == []
