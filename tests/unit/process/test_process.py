"""Batch planning and batch processing over the store and catalog."""

from __future__ import annotations

import pytest
from PIL import Image

from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.errors import InvalidRequest
from image_pipeline.process import plan_batches, process_batch
from image_pipeline.retrieve import ingest_folder
from image_pipeline.core.storage import LocalStore


def counted(result):
    """The counts the older tests compare (a batch also counts failed outputs and unexpected failures)."""
    return {k: result[k] for k in ("processed", "quarantined", "skipped")}


@pytest.fixture
def gallery(tmp_path, samples):
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
        yield store, catalog


def test_plan_batches_splits_pending_images(gallery):
    _, catalog = gallery
    batches = plan_batches(catalog, ["half_gray"], batch_size=3)
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(sum(batches, [])) == catalog.pending("half_gray", 1)
    # Airflow maps at most max_map_length tasks: past it, batches grow instead.
    assert [len(b) for b in plan_batches(catalog, ["half_gray"], batch_size=1, max_batches=2)] == [4, 3]
    with pytest.raises(InvalidRequest, match="batch_size"):
        plan_batches(catalog, ["half_gray"], batch_size=-1)
    with pytest.raises(InvalidRequest, match="unknown recipe"):
        plan_batches(catalog, ["nonesuch"])
    # Automatic size: one batch per slot (tasks at once), every image in one of them.
    assert [len(b) for b in plan_batches(catalog, ["half_gray"], slots=2)] == [4, 3]
    assert [len(b) for b in plan_batches(catalog, ["half_gray"])] == [7]
    assert [len(b) for b in plan_batches(catalog, ["half_gray"], slots=16)] == [1] * 7


@pytest.mark.parametrize("count, slots, size", [
    (1000, 2, 500),  # one round: a batch per core
    (46, 2, 23),
    (1001, 2, 251),  # past MAX_AUTO_BATCH: two full rounds of 2 batches, not 500 + 500 + 1
    (10_000, 2, 500),
    (10_001, 4, 417),  # 24 batches: 6 full rounds of 4
    (3, 8, 1),
    (0, 2, 1),
])
def test_auto_batch_size_is_a_round_of_one_batch_per_slot(count, slots, size):
    from image_pipeline.process.batches import MAX_AUTO_BATCH, auto_batch_size

    assert auto_batch_size(count, slots) == size
    assert size <= MAX_AUTO_BATCH


def test_process_batch_writes_outputs_and_quarantines_bad_images(gallery, tmp_path):
    store, catalog = gallery
    (batch,) = plan_batches(catalog, ["half_gray"], batch_size=100)
    assert counted(process_batch(store, catalog, ["half_gray"], batch)) == {"processed": 6, "quarantined": 1, "skipped": 0}
    for doc in catalog.find(status="processed"):
        out = doc["outputs"]["half_gray"]
        store.download(out["key"], tmp_path / "o.jpg")
        with Image.open(tmp_path / "o.jpg") as im:
            assert im.format == "JPEG" and im.mode == "L"
            assert sorted(im.size) == sorted((doc["width"] // 2, doc["height"] // 2))
    (bad,) = [d for d in catalog.find(status="quarantined") if d["quarantine"]["stage"] == "process"]
    assert "cannot decode" in bad["quarantine"]["reason"] and store.exists(bad["quarantine"]["key"])
    assert plan_batches(catalog, ["half_gray"], batch_size=100) == []


def test_retried_batch_redoes_nothing(gallery):
    store, catalog = gallery
    (batch,) = plan_batches(catalog, ["half_gray"], batch_size=100)
    process_batch(store, catalog, ["half_gray"], batch)
    objects = list(store.list())
    docs = catalog.find()
    assert counted(process_batch(store, catalog, ["half_gray"], batch)) == {"processed": 0, "quarantined": 0, "skipped": 7}
    assert list(store.list()) == objects and catalog.find() == docs


def test_lost_output_object_is_redone(gallery):
    store, catalog = gallery
    (batch,) = plan_batches(catalog, ["half_gray"], batch_size=100)
    process_batch(store, catalog, ["half_gray"], batch)
    doc = catalog.find(status="processed")[0]
    store.delete(doc["outputs"]["half_gray"]["key"])
    assert process_batch(store, catalog, ["half_gray"], [doc["sha256"]])["processed"] == 1
    assert store.exists(doc["outputs"]["half_gray"]["key"])


def test_three_recipes_one_pass_then_nothing_pending(gallery):
    store, catalog = gallery
    recipes = ["half_gray", "web", "thumb"]
    (batch,) = plan_batches(catalog, recipes, batch_size=100)
    assert counted(process_batch(store, catalog, recipes, batch)) == {"processed": 6, "quarantined": 1, "skipped": 0}
    for doc in catalog.find(status="processed"):
        assert set(doc["outputs"]) == set(recipes)
        for name, out in doc["outputs"].items():
            assert store.exists(out["key"]) and out["key"].startswith(f"processed/{name}/")
    assert plan_batches(catalog, recipes, batch_size=100) == []


def write_recipe(folder, version, quality=85):
    folder.mkdir(exist_ok=True)
    (folder / "mine.yaml").write_text(
        f"name: mine\nversion: {version}\noperations: [auto_orient, {{resize: {{longest: 64}}}}]\n"
        f"output: {{format: jpeg, quality: {quality}}}\n")


def test_changing_a_recipe_reprocesses_exactly_its_outputs_once(gallery, tmp_path, monkeypatch):
    store, catalog = gallery
    from image_pipeline import wiring

    monkeypatch.setenv("GALLERY_RECIPES_DIR", str(tmp_path / "recipes"))

    def mine():  # the book the composition root builds from the settings, as a task's
        return wiring.recipe_book(wiring.settings(), catalog)

    write_recipe(tmp_path / "recipes", 1)
    (batch,) = plan_batches(catalog, ["half_gray", "mine"], batch_size=100, book=mine())
    process_batch(store, catalog, ["half_gray", "mine"], batch, book=mine())
    before = {d["sha256"]: d["outputs"] for d in catalog.find(status="processed")}
    assert plan_batches(catalog, ["half_gray", "mine"], batch_size=100, book=mine()) == []

    for change in ({"version": 2}, {"version": 2, "quality": 60}):  # a version bump, then an edit
        write_recipe(tmp_path / "recipes", **change)
        (batch,) = plan_batches(catalog, ["half_gray", "mine"], batch_size=100, book=mine())
        assert sorted(batch) == sorted(before)  # every processed image, no quarantined one
        counts = process_batch(store, catalog, ["half_gray", "mine"], batch, book=mine())
        assert counted(counts) == {"processed": 6, "quarantined": 0, "skipped": 0}
        for sha, doc in ((d["sha256"], d) for d in catalog.find(status="processed")):
            assert doc["outputs"]["half_gray"] == before[sha]["half_gray"]  # untouched
            assert doc["outputs"]["mine"]["version"] == change["version"]
            assert doc["outputs"]["mine"]["processed_at"] > before[sha]["mine"]["processed_at"]
        before = {d["sha256"]: d["outputs"] for d in catalog.find(status="processed")}
        assert plan_batches(catalog, ["half_gray", "mine"], batch_size=100, book=mine()) == []  # once


def test_selection_and_force(gallery, samples, tmp_path):
    store, catalog = gallery
    from image_pipeline.core.selection import Selection
    from image_pipeline.retrieve import ingest_folder

    extra = tmp_path / "extra"
    extra.mkdir()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(extra / "green.png")
    ingest_folder(store, catalog, extra, keyword="green", run_id="r2")
    only_green = plan_batches(catalog, ["thumb"], 100, Selection(keyword="green"))
    assert len(only_green) == 1 and len(only_green[0]) == 1
    process_batch(store, catalog, ["thumb"], only_green[0])
    assert plan_batches(catalog, ["thumb"], 100, Selection(keyword="green")) == []
    assert plan_batches(catalog, ["thumb"], 100, Selection(keyword="green"), force=True) == only_green
    with pytest.raises(InvalidRequest, match="selection"):
        plan_batches(catalog, ["thumb"], 100, force=True)
    assert plan_batches(catalog, ["thumb"], 100, Selection(since="2999-01-01")) == []


def test_an_engine_crash_is_an_attempt_on_that_image_and_the_batch_goes_on(gallery, monkeypatch):
    store, catalog = gallery
    from image_pipeline.process import batches as process

    real = process.process_image
    (batch,) = plan_batches(catalog, ["half_gray"], batch_size=100)
    victim = batch[0]

    victim_bytes = store.get_bytes(catalog.get(victim)["raw_key"])

    def flaky(src, recipes, dest, **kw):
        if src.read_bytes() == victim_bytes:
            raise RuntimeError("boom")
        return real(src, recipes, dest, **kw)

    monkeypatch.setattr(process, "process_image", flaky)
    counts = process_batch(store, catalog, ["half_gray"], batch, run_id="r1")
    assert counted(counts) == {"processed": 5, "quarantined": 1, "skipped": 0} and counts["unexpected"] == 1
    victim_doc = catalog.get(victim)  # not the image's fault: pending, its attempt counted
    assert victim_doc["status"] == "raw" and victim_doc["attempts"]["reason"] == "RuntimeError: boom"
