"""How a batch classifies each failure (image_pipeline.core.errors), on both catalogs: the image's
fault quarantines it, the recipe's fails that output only, the environment's fails the task with
nothing recorded, anything else is counted per run and quarantined only after max_attempts; and
the ways back (a new recipe version, Redo, Retry, a new release)."""

from __future__ import annotations

import errno
import pathlib

import pytest
import yaml
from PIL import Image

from image_pipeline import RELEASE
from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog
from image_pipeline.core.errors import Unavailable
from image_pipeline.core.storage import LocalStore
from image_pipeline.process import plan_batches, process_batch
from image_pipeline.process.operations import OPERATIONS
from image_pipeline.process.operations.base import operation
from image_pipeline.process.recipes import RecipeBook
from image_pipeline.process.recovery import retry_images, upgrade_retries
from image_pipeline.retrieve import ingest_folder

MARK = {"name": "brand_mark", "version": 1, "operations": [{"resize": {"longest": 200}},
                                                            {"watermark": {"image": "mark.png"}}],
        "output": {"format": "jpeg"}}


@pytest.fixture(params=["sqlite", "mongomock"])
def gallery(request, tmp_path, samples):
    """The samples ingested (6 images, a non-image, a truncated JPEG), a recipes folder of the user's."""
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    if request.param == "sqlite":
        catalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    else:
        import mongomock

        catalog = MongoCatalog(mongomock.MongoClient()["test"])
    store = LocalStore(tmp_path / "store")
    ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
    from image_pipeline.settings import config_dir

    book = RecipeBook([config_dir() / "recipes", recipes])
    yield store, catalog, book, recipes
    catalog.close()


def write_recipe(folder: pathlib.Path, spec: dict) -> None:
    (folder / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))


def run(store, catalog, book, recipes, run_id="run1", **kw):
    sha256s = [s for batch in plan_batches(catalog, recipes, 100, book=book) for s in batch]
    return process_batch(store, catalog, recipes, sha256s, book=book, run_id=run_id, **kw)


def images(catalog):
    return {d["sha256"]: d for d in catalog.find() if d.get("raw_key")}


def test_a_missing_picture_fails_that_output_only_until_the_recipe_changes(gallery):
    store, catalog, book, recipes = gallery
    write_recipe(recipes, MARK)  # mark.png is not on this worker
    counts = run(store, catalog, book, ["half_gray", "brand_mark"])
    assert (counts["processed"], counts["quarantined"], counts["failed_outputs"]) == (6, 1, 6)
    for doc in images(catalog).values():
        if doc["status"] == "quarantined":  # the truncated JPEG: the image's fault
            assert doc["quarantine"]["kind"] == "image" and doc["quarantine"]["release"] == RELEASE
            continue
        assert doc["status"] == "processed" and "half_gray" in doc["outputs"] and "brand_mark" not in doc["outputs"]
        failure = doc["failures"]["brand_mark"]
        assert failure["kind"] == "recipe" and failure["operation"] == "watermark" and "recipes' folders" in failure["reason"]
        assert (failure["version"], failure["run_id"]) == (1, "run1") and doc.get("quarantine") is None
        assert doc.get("features") is None or doc["features"]  # features, when on, are kept
    assert plan_batches(catalog, ["half_gray", "brand_mark"], book=book) == []  # left alone: no loop
    problems = catalog.problems()
    assert len([d for d in problems if d.get("failures")]) == 6

    # Redo (force) tries again, and fails again the same way: still no quarantine.
    chosen = sorted(s for s, d in images(catalog).items() if d["status"] == "processed")[:2]
    again = process_batch(store, catalog, ["brand_mark"], chosen, force=True, book=book, run_id="run2")
    assert again["failed_outputs"] == 2 and images(catalog)[chosen[0]]["failures"]["brand_mark"]["run_id"] == "run2"

    # The recipe corrected (a text mark): a new fingerprint, so exactly the failed outputs are redone.
    write_recipe(recipes, {**MARK, "operations": [{"resize": {"longest": 200}}, {"watermark": {"text": "(c)"}}]})
    counts = run(store, catalog, book, ["half_gray", "brand_mark"], run_id="run3")
    assert (counts["processed"], counts["failed_outputs"]) == (6, 0)
    for doc in images(catalog).values():
        if doc["status"] != "quarantined":
            assert "brand_mark" in doc["outputs"] and not doc.get("failures")
    assert all(d["status"] == "quarantined" for d in catalog.problems())


def test_the_environment_fails_the_task_and_records_nothing(gallery, monkeypatch):
    store, catalog, book, _ = gallery
    todo = [s for batch in plan_batches(catalog, ["half_gray"], 100, book=book) for s in batch]
    real_download = store.download

    def flaky(key, path):  # the store fails on the third image of the batch
        if key == catalog.get(todo[2])["raw_key"]:
            raise Unavailable("the object store could not read it: SlowDown")
        real_download(key, path)

    monkeypatch.setattr(store, "download", flaky)
    with pytest.raises(Unavailable):
        process_batch(store, catalog, ["half_gray"], todo, book=book, run_id="run1")
    docs = images(catalog)
    assert [docs[s]["status"] for s in todo[:2]] == ["processed", "processed"]  # done before it: kept
    assert docs[todo[2]]["status"] == "raw" and not docs[todo[2]].get("attempts") and not docs[todo[2]].get("quarantine")
    monkeypatch.undo()
    # Airflow's retry of the task: the rest is done, what was done is skipped.
    counts = process_batch(store, catalog, ["half_gray"], todo, book=book, run_id="run1")
    assert counts["skipped"] == 2 and counts["processed"] + counts["quarantined"] == len(todo) - 2


def test_a_full_temporary_disk_fails_the_task_and_records_nothing(gallery, monkeypatch):
    store, catalog, book, _ = gallery
    todo = [s for batch in plan_batches(catalog, ["half_gray"], 100, book=book) for s in batch]
    real_write = pathlib.Path.write_bytes

    def full(self, data):
        if self.name.startswith("out-"):  # the engine's output in the batch's temporary folder
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", full)
    with pytest.raises(OSError, match="No space left"):
        process_batch(store, catalog, ["half_gray"], todo, book=book, run_id="run1")
    monkeypatch.undo()
    assert all(d["status"] == "raw" and not d.get("attempts") for d in images(catalog).values()
               if d["status"] != "quarantined")
    assert not any(d.get("quarantine", {}) and d["quarantine"]["stage"] == "process" for d in catalog.find())


@pytest.fixture
def exploding():
    """An operation with a bug: it raises what no failure class names."""
    @operation("explode_for_test")
    def explode(im, ctx):
        raise RuntimeError("boom")

    yield
    OPERATIONS.pop("explode_for_test")


def test_an_unexpected_error_is_counted_per_run_and_quarantines_only_after_max_attempts(gallery, exploding):
    store, catalog, book, recipes = gallery
    write_recipe(recipes, {"name": "buggy", "operations": ["explode_for_test"]})
    target = sorted(s for s, d in images(catalog).items() if d["status"] == "raw" and d["format"] == "PNG")[0]

    def attempt(run_id):
        return process_batch(store, catalog, ["half_gray", "buggy"], [target], book=book, run_id=run_id,
                             max_attempts=3)

    first = attempt("run1")
    assert first["unexpected"] == 1 and first["quarantined"] == 0
    assert "RuntimeError: boom" in first["problems"][0]["reason"] and first["problems"][0]["kind"] == "unexpected"
    doc = catalog.get(target)
    assert doc["status"] == "raw" and doc["attempts"]["count"] == 1 and doc.get("quarantine") is None
    assert target in [s for b in plan_batches(catalog, ["half_gray", "buggy"], book=book) for s in b]  # still pending
    attempt("run1")  # Airflow retrying the same run's task: not another attempt
    assert catalog.get(target)["attempts"]["count"] == 1
    attempt("run2")
    third = attempt("run3")
    assert third["quarantined"] == 1
    doc = catalog.get(target)
    quarantine = doc["quarantine"]
    assert doc["status"] == "quarantined" and quarantine["kind"] == "unexpected" and quarantine["attempts"] == 3
    assert quarantine["reason"] == "failed 3 times: RuntimeError: boom" and quarantine["release"] == RELEASE
    assert store.exists(quarantine["key"])

    # Retry (the gallery, the form, the CLI): lifted, pending again, its history says who.
    result = retry_images(store, catalog, [target], "alice")
    assert result["retried"] == [target]
    doc = catalog.get(target)
    assert doc["status"] == "raw" and doc["quarantine"] is None and not doc.get("attempts")
    assert doc["history"][-1]["action"] == "retry" and doc["history"][-1]["by"] == "alice"
    assert process_batch(store, catalog, ["half_gray"], [target], book=book, run_id="run4")["processed"] == 1


def test_a_new_release_tries_its_predecessors_unexpected_quarantines_once(gallery):
    store, catalog, book, _ = gallery
    raw = sorted(s for s, d in images(catalog).items() if d["status"] == "raw")
    legacy = {"reason": "processing failed: KeyError: 'x'", "stage": "process", "key": "q/x", "at": "2026-01-01T00:00:00+00:00"}
    catalog._edit(raw[0], {"status": "quarantined", "quarantine": legacy}, {"action": "as a release before 0.2 did"})
    catalog.record_quarantine(raw[1], "failed 3 times: TypeError", "process", "q/y", "2026-01-01T00:00:00+00:00",
                              kind="unexpected", release="0.1.0")
    catalog.record_quarantine(raw[2], "failed 3 times: TypeError", "process", "q/z", "2026-01-01T00:00:00+00:00",
                              kind="unexpected", release=RELEASE)
    catalog.record_quarantine(raw[3], "cannot decode image", "process", "q/w", "2026-01-01T00:00:00+00:00",
                              kind="image", release="0.1.0")
    assert upgrade_retries(catalog) == sorted(raw[:2])
    assert [catalog.get(s)["status"] for s in raw[:4]] == ["raw", "raw", "quarantined", "quarantined"]
    assert upgrade_retries(catalog) == []  # once


def test_a_file_quarantined_at_retrieval_comes_back_only_when_it_reads(gallery, tmp_path):
    store, catalog, _, _ = gallery
    (bad,) = [d for d in catalog.find(status="quarantined") if d["quarantine"]["stage"] == "retrieve"]
    assert {k: bad["quarantine"][k] for k in ("kind", "release", "run_id")} == {"kind": "image", "release": RELEASE,
                                                                               "run_id": "r1"}
    assert retry_images(store, catalog, [bad["sha256"]], "alice") == {"retried": [], "unchanged": [bad["sha256"]]}
    assert catalog.get(bad["sha256"])["status"] == "quarantined"
    # A release that reads it (here: the quarantined bytes replaced by a PNG) brings it back as raw.
    Image.new("RGB", (8, 8)).save(tmp_path / "now.png")
    store.put_file(bad["quarantine"]["key"], tmp_path / "now.png")
    assert retry_images(store, catalog, [bad["sha256"]], "alice")["retried"] == [bad["sha256"]]
    doc = catalog.get(bad["sha256"])
    assert doc["status"] == "raw" and doc["format"] == "PNG" and store.exists(doc["raw_key"])
