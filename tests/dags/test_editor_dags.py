"""What the gallery's editor and trash ask of the DAGs, with ``dag.test()``: gallery_process runs a
recipe saved in the catalog on chosen images, and a new version of it redoes exactly its outputs;
gallery_maintenance purges the trash, removes orphans and reports missing objects, re-runnably."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

from dags.test_dags import RETRIEVE_INBOX, catalog_docs, refusal, run, snapshot, task_states

SOFT_GRAY = {"name": "soft_gray", "description": "Gray and soft",
             "operations": [{"grayscale": {}}, {"blur": {"radius": 2}}, {"resize": {"longest": 120}}],
             "output": {"format": "jpeg", "quality": 80}}


def open_catalog(tmp_path):
    from image_pipeline.core.catalog import SqliteCatalog

    return SqliteCatalog(tmp_path / "catalog.sqlite3")


def test_a_saved_recipe_runs_on_chosen_images_and_its_new_version_redoes_exactly_its_outputs(
        dags, pipeline_env, inbox, tmp_path, capfd):
    from image_pipeline.process.recipes import save_recipe

    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process")
    processed = sorted(d["sha256"] for d in catalog_docs(tmp_path)[0] if d["status"] == "processed")
    chosen = processed[:2]
    with open_catalog(tmp_path) as cat:
        save_recipe(cat, SOFT_GRAY, "editor")
    refused = run(dags, "gallery_process", {"recipes": ["no_such_recipe"], "images": chosen}, expect="failed")
    assert task_states(refused)[("plan_batches", -1)][0] == "failed" and "unknown recipe" in refusal(capfd)

    run(dags, "gallery_process", {"recipes": ["soft_gray"], "images": chosen})
    before = {d["sha256"]: d["outputs"] for d in catalog_docs(tmp_path)[0] if d["status"] == "processed"}
    assert sorted(s for s, outputs in before.items() if "soft_gray" in outputs) == chosen
    assert all(before[s]["soft_gray"]["version"] == 1 for s in chosen)

    with open_catalog(tmp_path) as cat:
        assert save_recipe(cat, {**SOFT_GRAY, "output": {"format": "jpeg", "quality": 60}}, "editor")["version"] == 2
    run(dags, "gallery_process", {"recipes": ["soft_gray"], "images": chosen})
    after = {d["sha256"]: d["outputs"] for d in catalog_docs(tmp_path)[0] if d["status"] == "processed"}
    for sha in processed:
        for recipe, output in before[sha].items():
            if recipe == "soft_gray":
                assert after[sha][recipe]["version"] == 2 and output["processed_at"] < after[sha][recipe]["processed_at"]
            else:
                assert after[sha][recipe] == output  # the other recipes' outputs untouched
    again = run(dags, "gallery_process", {"recipes": ["soft_gray"], "images": chosen})
    assert task_states(again)[("summarize", -1)][0] == "skipped"  # once

    # the delivery form takes it too (an unknown name is refused before anything is built)
    refused = run(dags, "gallery_deliver", {"keyword": "demo", "recipe": "no_such_recipe"}, expect="failed")
    assert task_states(refused)[("plan_deliveries", -1)][0] == "failed" and "recipe" in refusal(capfd)
    assert not (pipeline_env / "archives").exists()
    run(dags, "gallery_deliver", {"keyword": "demo", "recipe": "soft_gray"})
    import zipfile

    (archive,) = (pipeline_env / "archives").iterdir()
    with zipfile.ZipFile(archive) as zf:
        assert len([n for n in zf.namelist() if n.startswith("images/")]) == len(chosen)


def test_maintenance_purges_removes_orphans_reports_missing_and_reruns_idempotently(
        dags, pipeline_env, inbox, tmp_path):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process")
    docs = [d for d in catalog_docs(tmp_path)[0] if d["status"] == "processed"]
    purged, damaged = docs[0], docs[1]
    with open_catalog(tmp_path) as cat:
        cat.trash_image(purged["sha256"], "ann", at=(datetime.now(timezone.utc) - timedelta(days=40)).isoformat())
        cat.trash_image(docs[2]["sha256"], "ann")  # trashed today: kept
    orphan = pipeline_env / "raw" / "ee" / f"{'e' * 64}.jpg"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a killed task")
    old = time.time() - 3 * 24 * 3600
    os.utime(orphan, (old, old))
    missing = damaged["outputs"]["web"]["key"]
    (pipeline_env / missing).unlink()

    dag_run = run(dags, "gallery_maintenance")
    left = {d["sha256"]: d for d in catalog_docs(tmp_path)[0]}
    assert purged["sha256"] not in left and left[docs[2]["sha256"]]["trashed"]
    assert not any((pipeline_env / o["key"]).exists() for o in purged["outputs"].values())
    assert not (pipeline_env / purged["raw_key"]).exists() and not orphan.exists()
    with create_session() as session:
        (event,) = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
    assert event.extra["missing_count"] == 1 and event.extra["missing"][0]["key"] == missing
    assert event.extra["missing"][0]["what"] == "output:web"

    before = snapshot(pipeline_env)
    run(dags, "gallery_maintenance")
    assert snapshot(pipeline_env) == before and len(catalog_docs(tmp_path)[0]) == len(left)
