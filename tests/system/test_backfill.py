"""A real backfill: `airflow standalone` (scheduler, API server, DAG processor, triggerer) in a
throw-away home, `airflow backfill create` over three past days of saved searches against a site
on loopback. Each run queries its own window; re-running a day adds nothing."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_stack import airflow_standalone, wait_for
from image_pipeline.core.catalog import SqliteCatalog


@pytest.fixture(scope="module")
def standalone(http_site):
    home = Path(tempfile.mkdtemp(prefix="image-pipeline-backfill-"))
    searches = home / "searches.yaml"
    searches.write_text(f"searches:\n  - engine: greedy\n    site_url: {http_site}/index.html\n    count: 3\n")
    env = {"GALLERY_SEARCHES_FILE": str(searches), "GALLERY_ALLOWED_HOSTS": "127.0.0.1",
           "GALLERY_CRAWL_IDLE_TIMEOUT": "3"}
    try:
        with airflow_standalone(home, env, "gallery_retrieve") as server:
            yield server
    finally:
        if os.environ.get("KEEP_BACKFILL_HOME") is None:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def http_site(tmp_path_factory):
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    import threading

    from support.samples import make_samples

    root = tmp_path_factory.mktemp("site")
    make_samples(root / "img")
    (root / "index.html").write_text('<html><img src="img/sample-0.jpg"><img src="img/sample-1.png">'
                                     '<img src="img/sample-2.gif"></html>')
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[assignment]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def writing(airflow, *args):
    """A CLI command that writes the metadata DB: SQLite has one writer at a time, and the scheduler
    may hold the lock (the embedded default's limit; Postgres has none), so it is tried again."""
    for _attempt in range(10):
        done = airflow(*args, check=False)
        if done.returncode == 0 or "database is locked" not in done.stdout + done.stderr:
            break
        time.sleep(3)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def retrieve_runs(rest):
    """gallery_retrieve's backfill runs, oldest first, through the REST API (a poll costs a request, not a
    CLI start); ``logical_date`` as the tasks' ``isoformat()`` writes it."""
    runs = rest.get("/api/v2/dags/gallery_retrieve/dagRuns?limit=100")["dag_runs"]
    return sorted(({**r, "run_id": r["dag_run_id"], "logical_date": datetime.fromisoformat(r["logical_date"]).isoformat()}
                   for r in runs if r["dag_run_id"].startswith("backfill__")), key=lambda r: r["logical_date"])


def processed(home: Path) -> int:
    """How many images of the catalog have outputs."""
    with SqliteCatalog(home / "catalog.sqlite3") as catalog:
        return sum(1 for d in catalog.find() if d.get("outputs"))


def test_a_backfill_of_three_days_queries_each_window_once(standalone):
    airflow, home, rest = standalone["airflow"], standalone["home"], standalone["rest_api"]()
    today = datetime.now(timezone.utc).date()
    start, end = today - timedelta(days=6), today - timedelta(days=3)
    writing(airflow, "backfill", "create", "--dag-id", "gallery_retrieve", "--from-date", start.isoformat(),
            "--to-date", end.isoformat())
    runs = wait_for(lambda: (r := retrieve_runs(rest)) and all(x["state"] in ("success", "failed") for x in r)
                    and len(r) >= 3 and r, 600, "the backfill runs")  # generous: two shared cores
    assert [r["state"] for r in runs] == ["success"] * len(runs) and len(runs) == 3
    # Every DAG is unpaused: the retrieved images' Asset event starts gallery_process, which adds
    # features and outputs. The documents are compared once it has processed the three.
    wait_for(lambda: processed(home) == 3, 300, "gallery_process to process the retrieved images")
    with SqliteCatalog(home / "catalog.sqlite3") as catalog:
        docs = catalog.find()
    assert len(docs) == 3  # the same three images every day: stored once
    # Each backfill run recorded its own window (the DAG's latest scheduled run may add one more).
    windows = {tuple(s["data_interval"]) for d in docs for s in d["sources"]}
    expected = {(r["logical_date"], (datetime.fromisoformat(r["logical_date"]) + timedelta(days=1)).isoformat())
                for r in runs}
    assert expected <= windows and len(expected) == 3
    assert all({r["run_id"] for r in runs} <= set(d["run_ids"]) for d in docs)
    objects = sorted(p.relative_to(home / "data") for p in (home / "data" / "raw").rglob("*.*"))
    assert len(objects) == 3

    # Re-running one day: its tasks run again, nothing is added or changed.
    day = runs[0]["logical_date"][:10]
    writing(airflow, "tasks", "clear", "gallery_retrieve", "-s", day, "-e", day, "-y")
    time.sleep(5)
    wait_for(lambda: all(x["state"] == "success" for x in retrieve_runs(rest)), 180, "the cleared day to re-run")
    with SqliteCatalog(home / "catalog.sqlite3") as catalog:
        assert catalog.find() == docs
    assert sorted(p.relative_to(home / "data") for p in (home / "data" / "raw").rglob("*.*")) == objects
