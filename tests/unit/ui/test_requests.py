"""The gallery's request endpoint: image_request started through Airflow's own DAG-run creation for the
logged-in user (recorded as its triggering user), refused to those who may not trigger it, and
rate-limited per user with a clear 429."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[3] / "dags"
CONF = {"engine": "urls", "keywords": ["cats"], "count": 1, "urls": ["https://example.com/a.jpg"],
        "email": "you@example.com"}


@pytest.fixture(scope="module")
def image_request_in_db(auth_manager):
    """image_request parsed and serialized into the metadata DB, as the DAG processor does."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()  # the "dags-folder" bundle the DAG belongs to
    bag = DagBag(dag_folder=str(DAGS_DIR / "image_request.py"))
    assert bag.import_errors == {}
    sync_bag_to_db(bag, "dags-folder", None)


@pytest.fixture
def limited(backends, monkeypatch):
    """A limit of 3 requests a window, and no run of image_request left from another test."""

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == "image_request").delete()
    cfg = backends.cfg
    backends._cfg = cfg.model_copy(update={"gallery": cfg.gallery.model_copy(
        update={"request_rate_limit": 3, "request_rate_window": 3600})})
    return backends


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_requests_start_runs_for_the_user_until_the_limit(image_request_in_db, limited, client, as_user):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    started = []
    for _ in range(3):
        answer = client.post("/api/requests", json={"conf": CONF}, headers=as_user("editor"))
        assert answer.status_code == 200, answer.text
        started.append(answer.json())
    assert all(run["dag_id"] == "image_request" and run["state"] == "queued" and run["conf"] == CONF for run in started)
    refused = client.post("/api/requests", json={"conf": CONF}, headers=as_user("editor"))
    assert refused.status_code == 429
    assert "at most 3 every hour per user" in refused.json()["detail"]
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3601
    # Another user has a limit of their own.
    assert client.post("/api/requests", json={"conf": CONF}, headers=as_user("admin")).status_code == 200
    with create_session() as session:
        users = sorted(r.triggering_user_name for r in session.query(DagRun).filter(DagRun.dag_id == "image_request"))
    assert users == ["admin", "editor", "editor", "editor"]


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_a_viewer_may_not_request_and_a_bad_form_is_refused(image_request_in_db, limited, client, as_user):
    assert client.post("/api/requests", json={"conf": CONF}, headers=as_user("viewer")).status_code == 403
    assert client.post("/api/requests", json={"conf": CONF}).status_code == 401
    bad = client.post("/api/requests", json={"conf": {**CONF, "count": "many"}}, headers=as_user("editor"))
    assert bad.status_code == 400  # the DAG's Params, checked by Airflow's own run creation


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_requests_racing_at_the_limit_let_only_one_through(image_request_in_db, limited, client, as_user,
                                                           monkeypatch):
    """Two requests arrive together with one left under the limit: one run, one 429. The run's
    creation is slowed so that, were counting and creating not one critical section, both would
    count two runs and both pass."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    from image_pipeline.ui import airflow_runs

    for _ in range(2):
        assert client.post("/api/requests", json={"conf": CONF}, headers=as_user("editor")).status_code == 200
    trigger = airflow_runs.trigger_dag_run

    def slow_trigger(**kwargs):
        time.sleep(0.5)
        return trigger(**kwargs)

    monkeypatch.setattr(airflow_runs, "trigger_dag_run", slow_trigger)
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: client.post("/api/requests", json={"conf": CONF},
                                                     headers=as_user("editor")).status_code, range(2)))
    assert sorted(answers) == [200, 429]
