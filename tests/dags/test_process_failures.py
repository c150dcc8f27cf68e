"""Each failure class through ``dag.test()`` of gallery_process, on both catalogs (SQLite, and MongoDB
through the provider's hook given a mongomock client): where it is caught, what it does to the image
and to the run, and the way back. Each test fails if its mapping (core.errors, process.batches) is
removed: the missing picture would quarantine the image, the store's or the disk's failure would be
counted against the image, the injected bug would quarantine at first sight."""

from __future__ import annotations

import errno
import json
import pathlib
from datetime import timedelta

import pytest
import yaml

from dags.test_dags import RETRIEVE_INBOX, run, task_states


@pytest.fixture(params=["sqlite", "mongo"])
def backend(request, monkeypatch, pipeline_env, tmp_path):
    """The catalog the tasks open; recipes of the user's in ``tmp_path/recipes`` (GALLERY_RECIPES_DIR)."""
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    monkeypatch.setenv("GALLERY_RECIPES_DIR", str(recipes))
    if request.param == "mongo":
        import mongomock

        server = mongomock.MongoClient()
        monkeypatch.setattr("airflow.providers.mongo.hooks.mongo.MongoClient", lambda uri, **options: server)
        monkeypatch.setattr(server, "close", lambda: None)
        monkeypatch.setenv("AIRFLOW_CONN_MONGO_DEFAULT", json.dumps({"conn_type": "mongo", "host": "catalog.invalid"}))
        monkeypatch.setenv("GALLERY_CATALOG", "mongo")
    return recipes


def docs():
    from image_pipeline.airflow_adapter.hooks import catalog

    with catalog() as opened:
        return {d["sha256"]: d for d in opened.find()}


def fast_retries(dags, dag_id="gallery_process"):
    """The DAG with retries a second apart (dag.test() waits out a retry's delay)."""
    dag = dags.get_dag(dag_id)
    for task in dag.tasks:
        task.retry_delay, task.retry_exponential_backoff = timedelta(seconds=1), 0
    return dag


def write_recipe(folder: pathlib.Path, spec: dict) -> None:
    (folder / f"{spec['name']}.yaml").write_text(yaml.safe_dump(spec))


def summary_lines(caplog) -> list[str]:
    """What the run's summary task logged about its problems."""
    return [r.getMessage() for r in caplog.records if r.name == "image_pipeline.airflow_adapter.tasks"]


def test_a_missing_picture_fails_that_output_and_the_image_stays_processed(dags, backend, inbox, caplog):
    write_recipe(backend, {"name": "brand_mark", "operations": [{"watermark": {"image": "mark.png"}}],
                           "output": {"format": "jpeg"}})  # mark.png is not on this worker
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    dag_run = run(dags, "gallery_process", {"recipes": ["brand_mark"]})
    assert task_states(dag_run)[("summarize", -1)][0] == "success"
    processed = [d for d in docs().values() if d["status"] == "processed"]
    assert len(processed) == 6
    for doc in processed:
        assert "thumb" in doc["outputs"] and "brand_mark" not in doc["outputs"]  # the gallery's thumbnail made
        failure = doc["failures"]["brand_mark"]
        assert failure["kind"] == "recipe" and "recipes' folders" in failure["reason"]
        assert failure["run_id"] == dag_run.run_id
    named = summary_lines(caplog)  # the run's summary names each failed output, with its reason
    assert all(any(line.startswith(f"recipe {d['sha256']} (brand_mark): ") for line in named) for d in processed)
    # Nothing left to do at this version of the recipe: no loop of failing runs.
    again = run(dags, "gallery_process", {"recipes": ["brand_mark"]})
    assert task_states(again)[("summarize", -1)][0] == "skipped"

    # Its cause gone (the picture put on the worker, the recipe unchanged), the form's retry alone,
    # without a selection or recipes, remakes exactly the failed outputs.
    from PIL import Image

    Image.new("RGBA", (40, 20), (255, 0, 0, 128)).save(backend / "mark.png")
    run(dags, "gallery_process", {"retry": True})
    for doc in docs().values():
        if doc["status"] == "processed":
            assert "brand_mark" in doc["outputs"] and not doc.get("failures")
            assert doc["history"][-1]["action"] == "retry"

    write_recipe(backend, {"name": "brand_mark", "operations": [{"watermark": {"text": "(c) us"}}],
                           "output": {"format": "jpeg"}})  # corrected: a new fingerprint
    run(dags, "gallery_process", {"recipes": ["brand_mark"]})
    for doc in docs().values():
        if doc["status"] == "processed":
            assert "brand_mark" in doc["outputs"] and not doc.get("failures")


@pytest.mark.parametrize("fault", ["store", "disk"])
def test_the_environment_fails_the_task_airflow_retries_it_and_nothing_is_recorded(dags, backend, inbox, monkeypatch,
                                                                                   fault):
    from image_pipeline.core.errors import Unavailable
    from image_pipeline.core.storage import LocalStore

    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    calls = {"n": 0}
    if fault == "store":
        real_download = LocalStore.download

        def download(self, key, path):  # the store times out on the batch's third image, once
            calls["n"] += 1
            if calls["n"] == 3:
                raise Unavailable(f"the object store could not read {key}: ReadTimeout")
            return real_download(self, key, path)

        monkeypatch.setattr(LocalStore, "download", download)
    else:
        real_write = pathlib.Path.write_bytes

        def write_bytes(self, data):  # the temporary disk is full for the batch's third output, once
            if self.name.startswith("out-"):
                calls["n"] += 1
                if calls["n"] == 3:
                    raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(self, data)

        monkeypatch.setattr(pathlib.Path, "write_bytes", write_bytes)
    dag_run = fast_retries(dags).test(run_conf={"recipes": ["half_gray"]})
    assert dag_run.state == "success"
    from airflow.utils.session import create_session

    with create_session() as session:
        tries = sorted(ti.try_number for ti in dag_run.get_task_instances(session=session)
                       if ti.task_id == "process_batch")
        assert tries[-1] == 2 and tries[0] == 1  # the batch that met the fault failed once, retried by Airflow
    found = docs()
    assert sum(d["status"] == "processed" for d in found.values()) == 6
    assert not any(d.get("attempts") or (d.get("quarantine") or {}).get("kind") == "unexpected" for d in found.values())


@pytest.fixture
def buggy_operation():
    """An operation with a bug nobody classified (a RuntimeError on valid pixels)."""
    from image_pipeline.process.operations import OPERATIONS
    from image_pipeline.process.operations.base import operation

    @operation("explode_for_test")
    def explode(im, ctx):
        raise RuntimeError("boom")

    yield
    OPERATIONS.pop("explode_for_test")


def test_an_unexpected_error_leaves_the_image_pending_then_quarantines_it_and_retry_brings_it_back(
        dags, backend, inbox, buggy_operation, monkeypatch, caplog):
    monkeypatch.setenv("GALLERY_MAX_ATTEMPTS", "2")
    write_recipe(backend, {"name": "buggy", "operations": ["explode_for_test"]})
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    target = sorted(s for s, d in docs().items() if d["status"] == "raw")[0]
    run(dags, "gallery_process", {"recipes": ["buggy"], "images": [target]})
    doc = docs()[target]
    assert doc["status"] == "raw" and doc["attempts"]["count"] == 1 and doc.get("quarantine") is None
    assert any(line.startswith(f"unexpected {target}: attempt 1 of 2: RuntimeError: boom")
               for line in summary_lines(caplog))  # named in the run's summary

    run(dags, "gallery_process", {"recipes": ["buggy"], "images": [target]})
    quarantine = docs()[target]["quarantine"]
    assert quarantine["kind"] == "unexpected" and quarantine["reason"] == "failed 2 times: RuntimeError: boom"

    # Its cause gone (the recipe fixed), the form's retry brings it back and processes it.
    write_recipe(backend, {"name": "buggy", "operations": ["grayscale"]})
    run(dags, "gallery_process", {"recipes": ["buggy"], "images": [target], "retry": True})
    doc = docs()[target]
    assert doc["status"] == "processed" and "buggy" in doc["outputs"] and doc["quarantine"] is None
    assert doc["history"][-1]["action"] == "retry"


def test_an_image_that_cannot_be_decoded_is_quarantined_as_the_images_fault(dags, backend, inbox):
    from image_pipeline import RELEASE

    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    dag_run = run(dags, "gallery_process")
    (broken,) = [d for d in docs().values() if (d.get("quarantine") or {}).get("stage") == "process"]
    assert broken["quarantine"]["kind"] == "image" and "truncated" in broken["quarantine"]["reason"]
    assert broken["quarantine"]["release"] == RELEASE and broken["quarantine"]["run_id"] == dag_run.run_id
    # A retry of an image whose cause is still there quarantines it again, as the image's fault.
    run(dags, "gallery_process", {"images": [broken["sha256"]], "retry": True})
    assert docs()[broken["sha256"]]["quarantine"]["kind"] == "image"
