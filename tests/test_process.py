"""Batch planning and batch processing over the store and catalog."""

from __future__ import annotations

import pytest
from PIL import Image

from image_pipeline.catalog import SqliteCatalog
from image_pipeline.process import plan_batches, process_batch
from image_pipeline.retrieve import ingest_folder
from image_pipeline.storage import LocalStore


@pytest.fixture
def gallery(tmp_path, samples):
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
        yield store, catalog


def test_plan_batches_splits_pending_images(gallery):
    _, catalog = gallery
    batches = plan_batches(catalog, "half_gray", batch_size=3)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(sum(batches, [])) == catalog.pending("half_gray", 1)
    # Airflow maps at most max_map_length tasks: past it, batches grow instead.
    assert [len(b) for b in plan_batches(catalog, "half_gray", batch_size=1, max_batches=2)] == [4, 3]
    with pytest.raises(ValueError):
        plan_batches(catalog, "half_gray", batch_size=0)


def test_process_batch_writes_outputs_and_quarantines_bad_images(gallery, tmp_path):
    store, catalog = gallery
    (batch,) = plan_batches(catalog, "half_gray", batch_size=100)
    assert process_batch(store, catalog, "half_gray", batch) == {"processed": 6, "quarantined": 1, "skipped": 0}
    for doc in catalog.find(status="processed"):
        out = doc["outputs"]["half_gray"]
        store.download(out["key"], tmp_path / "o.jpg")
        with Image.open(tmp_path / "o.jpg") as im:
            assert im.format == "JPEG" and im.mode == "L"
            assert sorted(im.size) == sorted((doc["width"] // 2, doc["height"] // 2))
    (bad,) = [d for d in catalog.find(status="quarantined") if d["quarantine"]["stage"] == "process"]
    assert "cannot decode" in bad["quarantine"]["reason"] and store.exists(bad["quarantine"]["key"])
    assert plan_batches(catalog, "half_gray", batch_size=100) == []


def test_retried_batch_redoes_nothing(gallery):
    store, catalog = gallery
    (batch,) = plan_batches(catalog, "half_gray", batch_size=100)
    process_batch(store, catalog, "half_gray", batch)
    objects = list(store.list())
    docs = catalog.find()
    assert process_batch(store, catalog, "half_gray", batch) == {"processed": 0, "quarantined": 0, "skipped": 7}
    assert list(store.list()) == objects and catalog.find() == docs


def test_lost_output_object_is_redone(gallery):
    store, catalog = gallery
    (batch,) = plan_batches(catalog, "half_gray", batch_size=100)
    process_batch(store, catalog, "half_gray", batch)
    doc = catalog.find(status="processed")[0]
    store.delete(doc["outputs"]["half_gray"]["key"])
    assert process_batch(store, catalog, "half_gray", [doc["sha256"]])["processed"] == 1
    assert store.exists(doc["outputs"]["half_gray"]["key"])
