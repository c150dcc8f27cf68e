"""gallery_analytics backfilled over 14 past days through dag.test() (one run per logical date, as
the scheduler would), on a catalog generated across those days: 14 partitions, 14 metrics
documents and 14 reports whose numbers match an independent computation; re-running a day leaves
one of each; the overview equals one rebuilt from scratch."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import datetime, time, timedelta, timezone
from pathlib import Path

import pytest

from unit.analytics.test_analytics import DAYS, expected, html_numbers

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def analytics_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR / "gallery_analytics.py"))
    assert bag.import_errors == {}
    return bag.get_dag("gallery_analytics")


@pytest.fixture
def gallery(pipeline_env, tmp_path):
    from image_pipeline.core.catalog import SqliteCatalog
    from support.synthetic import gallery_docs, insert_docs

    docs = list(gallery_docs(DAYS, per_day=30, seed=11))
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as cat:
        insert_docs(cat, docs)
    return docs


def run_day(dag, day):
    # dag.test() gives a manual run the data interval that ends at its logical date (a scheduled or
    # backfilled run's logical date is its interval's start): the day after, for the day itself.
    logical = datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.utc)
    dag_run = dag.test(logical_date=logical)
    assert dag_run.state == "success"
    assert dag_run.data_interval_start.date() == day  # the run's interval is the day it reports on
    return dag_run


def test_backfill_of_14_days(analytics_dag, gallery, pipeline_env, tmp_path, monkeypatch):
    from image_pipeline import analytics
    from image_pipeline.wiring import all_recipes
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import LocalStore

    for day in reversed(DAYS):  # a backfill may run in any order
        run_day(analytics_dag, day)
    store = LocalStore(pipeline_env)
    partitions = sorted(store.list("reports/images/"))
    assert partitions == [f"reports/images/dt={d}/part-0.parquet" for d in DAYS]
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as cat:
        documents = cat.metrics()
    assert [m["day"] for m in documents] == [d.isoformat() for d in DAYS]
    RECIPES = sorted(all_recipes())  # the DAG counts the outputs of the recipes the pipeline knows

    for day, metrics in zip(DAYS, documents, strict=True):
        exp = expected(gallery, day, RECIPES)
        headline = {k: exp[k] for k in ("retrieved", "processed", "quarantined", "duplicated", "outputs")}
        assert {k: metrics[k] for k in headline} == headline
        page = store.get_bytes(f"reports/daily/dt={day}/report.html").decode()
        assert {k: int(v) for k, v in html_numbers(page).items() if k in headline} == headline
        assert json.loads(store.get_bytes(f"reports/daily/dt={day}/metrics.json")) == metrics

    # Re-running any day leaves exactly one partition and one document for it.
    again = random.Random(5).choice(DAYS)
    before = {k: store.get_bytes(k) for k in store.list("reports/")}
    run_day(analytics_dag, again)
    assert sorted(store.list("reports/images/")) == partitions
    assert {k: store.get_bytes(k) for k in store.list("reports/")} == before
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as cat:
        assert [m["day"] for m in cat.metrics()] == [d.isoformat() for d in DAYS]

        # The overview the backfill left equals one computed from scratch, day by day in order. The
        # overview reads only the partitions: the scratch days' charts (most of a day's time, and
        # compared with nothing) are left out: empty images in their report.
        scratch = LocalStore(tmp_path / "scratch")
        with monkeypatch.context() as patch:
            patch.setattr("image_pipeline.analytics.daily.daily_charts", lambda *args: defaultdict(bytes))
            for day in DAYS:
                analytics.write_daily_report(scratch, cat, day, sorted(all_recipes()))
    fresh = analytics.rollup(scratch)
    for name in ("trends.csv", "by_source.csv", "top_labels.csv", "index.html"):
        assert store.get_bytes(f"reports/overview/{name}") == scratch.get_bytes(f"reports/overview/{name}"), name
    assert [(t["retrieved"], t["outputs"]) for t in fresh["trends"]] == \
        [(expected(gallery, d, RECIPES)["retrieved"], expected(gallery, d, RECIPES)["outputs"]) for d in DAYS]
