"""Every DAG loads, follows the project's rules, and parses fast without heavy imports."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_IDS = {"gallery_retrieve", "gallery_inbox", "gallery_process", "gallery_analytics", "gallery_deliver",
           "image_request", "gallery_maintenance"}
HEAVY_MODULES = ["cv2", "pandas", "matplotlib", "boto3", "icrawler", "pymongo", "duckdb", "pyarrow"]


@pytest.fixture(scope="module")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors_and_all_dags_present(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS


@pytest.mark.parametrize("dag_id", sorted(DAG_IDS))
def test_dag_conventions(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert dag.doc_md and dag_id in dag.doc_md
    assert "image-pipeline" in dag.tags and len(dag.tags) >= 2
    assert dag.owner == "image-pipeline"
    assert dag.catchup is False or dag_id == "gallery_analytics"
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff and task.retry_exponential_backoff > 1, task.task_id
        assert task.max_retry_delay is not None
        assert task.execution_timeout is not None and task.execution_timeout <= timedelta(hours=2)
    for name, param in dag.params.items():
        assert param.schema.get("type"), f"{dag_id}.{name} has no type: the form needs one"


def test_dag_files_parse_without_touching_the_catalog(airflow_db, monkeypatch):
    """Saved recipes live in the catalog, read by tasks only: parsing never opens it."""
    from airflow.dag_processing.dagbag import DagBag

    from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog

    def refuse(*args, **kwargs):
        raise AssertionError("a DAG file opened the catalog")

    monkeypatch.setattr(SqliteCatalog, "__init__", refuse)
    monkeypatch.setattr(MongoCatalog, "__init__", refuse)
    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {} and set(bag.dag_ids) == DAG_IDS
    assert "thumb" in bag.get_dag("gallery_process").params.get_param("recipes").schema["examples"]


def test_assets_chain_the_dags(dagbag):
    from image_pipeline.airflow_adapter import PROCESSED_IMAGES, RAW_IMAGES

    def outlets(dag_id):
        return {a.name for t in dagbag.get_dag(dag_id).tasks for a in t.outlets}

    assert RAW_IMAGES.name in outlets("gallery_retrieve") and RAW_IMAGES.name in outlets("gallery_inbox")
    assert "gallery_inbox_files" in str(dagbag.get_dag("gallery_inbox").timetable.asset_condition)
    assert PROCESSED_IMAGES.name in outlets("gallery_process")
    assert RAW_IMAGES.name in str(dagbag.get_dag("gallery_process").timetable.asset_condition)
    for dag_id in ("gallery_analytics", "gallery_deliver"):
        assert PROCESSED_IMAGES.name in str(dagbag.get_dag(dag_id).timetable.asset_condition)


def test_analytics_uses_data_intervals(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    assert isinstance(dagbag.get_dag("gallery_analytics").timetable.timetable, CronDataIntervalTimetable)


@pytest.mark.parametrize("dag_file", sorted(p.name for p in DAGS_DIR.glob("*.py")))
def test_dag_file_imports_fast_and_light(dag_file):
    """Time the DAG file itself (Airflow is already imported in the DAG processor). CPU time, not wall
    time: the budget is the file's own work, which a busy machine's other processes do not change."""
    probe = f"""
import runpy, sys, time
import airflow.sdk
already = [m for m in {HEAVY_MODULES!r} if m in sys.modules]
start = time.process_time()
runpy.run_path({str(DAGS_DIR / dag_file)!r})
elapsed = time.process_time() - start
print(elapsed, [m for m in {HEAVY_MODULES!r} if m in sys.modules and m not in already])
"""
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    elapsed, heavy = out.strip().splitlines()[-1].split(" ", 1)
    assert heavy == "[]", f"{dag_file} imports {heavy} at module level"
    assert float(elapsed) < 1.0, f"{dag_file} took {elapsed} s of CPU to import"
