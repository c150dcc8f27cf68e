"""``image_request`` in a running Airflow: `airflow standalone` in a throw-away home, a run
triggered through the REST API with the form's payload, images from a loopback web server, the
email into a real SMTP server on loopback and the archive into the store."""

from __future__ import annotations

import email
import json
import shutil
import tempfile
from email import policy
from pathlib import Path

import pytest

from airflow_stack import airflow_standalone, wait_for
from dags.test_image_request import SmtpSink
from support.loopback import served


@pytest.fixture(scope="module")
def image_urls(tmp_path_factory):
    from support.samples import make_samples

    root = tmp_path_factory.mktemp("site")
    make_samples(root)
    with served(root) as base:
        yield [f"{base}/{p.name}" for p in sorted(root.iterdir())]


def trigger(rest, body):
    """POST a run. SQLite has one writer at a time and the scheduler may hold the lock (the embedded
    default's limit, as in tests/test_backfill.py): a 500 is tried again; the run's fixed id makes a
    repeat after a committed first attempt a 409, not a second run."""
    import time

    for _attempt in range(10):
        try:
            return rest.post("/api/v2/dags/image_request/dagRuns", body)
        except AssertionError as exc:  # RestApi's error names the status
            if "HTTP 409" in str(exc):
                return None
            if "HTTP 500" not in str(exc):
                raise
            error = str(exc)
        time.sleep(3)
    raise AssertionError(f"could not trigger image_request: {error}")


def test_image_request_triggered_through_the_rest_api(image_urls):
    sink = SmtpSink()
    sink.controller.start()
    home = Path(tempfile.mkdtemp(prefix="image-pipeline-request-"))
    smtp = {"conn_type": "smtp", "host": "127.0.0.1", "port": sink.port,
            "extra": {"disable_ssl": True, "disable_tls": True}}
    env = {"GALLERY_EMAIL": "smtp", "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(smtp),
           "GALLERY_ALLOWED_HOSTS": "127.0.0.1", "GALLERY_CRAWL_IDLE_TIMEOUT": "3"}
    try:
        with airflow_standalone(home, env, "image_request") as server:
            rest = server["rest_api"]()
            conf = {"keywords": ["api request"], "count": 20, "recipe": "half_gray", "email": "you@example.com",
                    "engine": "urls", "urls": image_urls}
            run_id = "api_request_1"
            trigger(rest, {"dag_run_id": run_id, "logical_date": None, "conf": conf})
            path = f"/api/v2/dags/image_request/dagRuns/{run_id}"
            state = wait_for(lambda: (s := rest.get(path)["state"]) in ("success", "failed") and s,
                             300, "the image_request run")
            tasks = rest.get(f"{path}/taskInstances")["task_instances"]
            assert state == "success", [(t["task_id"], t["state"]) for t in tasks]
            assert {t["task_id"] for t in tasks} == {"check_request", "retrieve_images", "plan_processing",
                                                     "process_batch", "deliver_archive"}
            assert all(t["state"] == "success" for t in tasks)
        (archive,) = (home / "data" / "archives").iterdir()
        (msg,) = [email.message_from_bytes(m.content, policy=policy.default) for m in sink.messages]
        assert msg["To"] == "you@example.com"
        (attachment,) = msg.iter_attachments()
        assert attachment.get_content() == archive.read_bytes()
        assert "6 images" in msg.get_body().get_content()
    finally:
        sink.controller.stop()
        shutil.rmtree(home, ignore_errors=True)


def test_the_request_limit_holds_for_runs_triggered_through_the_rest_api(image_urls):
    """The issue's scenario as it is: one user (admin) triggers image_request eleven times through
    Airflow's REST API within the window, at the default limit (10 an hour): the eleventh fails in
    check_request with the gallery's message, before anything is fetched. The first ten ask for a
    URL that is not there (cheap runs: nothing to process; they count all the same), the eleventh for
    a real image, which would be in the catalog had it been fetched. Each run is triggered once the
    one before has been checked, so the eleventh checked is the eleventh triggered."""
    import sqlite3

    from image_pipeline.core.request_limit import too_many_requests

    home = Path(tempfile.mkdtemp(prefix="image-pipeline-request-limit-"))
    env = {"GALLERY_ALLOWED_HOSTS": "127.0.0.1", "GALLERY_CRAWL_IDLE_TIMEOUT": "3"}
    (real,) = [url for url in image_urls if "/sample-" in url][:1]
    missing = real.rsplit("/", 1)[0] + "/not-there.jpg"
    run_ids = [f"limited_{n:02d}" for n in range(1, 12)]
    try:
        with airflow_standalone(home, env, "image_request") as server:
            rest = server["rest_api"]()
            checked = []
            for run_id in run_ids:
                url = real if run_id == run_ids[-1] else missing
                conf = {"keywords": ["limited"], "count": 1, "recipe": "half_gray", "email": "you@example.com",
                        "engine": "urls", "urls": [url]}
                trigger(rest, {"dag_run_id": run_id, "logical_date": None, "conf": conf})
                checked.append(wait_for(lambda run_id=run_id: (s := check_request_state(rest, run_id))
                                        in ("success", "failed") and s, 300, f"check_request of {run_id}"))
            assert checked == ["success"] * 10 + ["failed"]
            path = f"/api/v2/dags/image_request/dagRuns/{run_ids[-1]}"
            assert wait_for(lambda: (s := rest.get(path)["state"]) in ("success", "failed") and s, 300,
                            run_ids[-1]) == "failed"
            tasks = {t["task_id"]: t["state"] for t in rest.get(f"{path}/taskInstances")["task_instances"]}
            assert tasks["check_request"] == "failed" and "success" not in tasks.values(), tasks
            log = str(rest.get(f"{path}/taskInstances/check_request/logs/1?full_content=true"))
            # The wait is about an hour: the first run, a minute or two before, leaves the window then.
            assert any(too_many_requests(10, 3600, wait) in log for wait in range(3000, 3602)), log[-3000:]
        from image_pipeline.core.catalog import SqliteCatalog

        with SqliteCatalog(home / "catalog.sqlite3") as cat:
            docs = cat.find()
        assert not any(run_ids[-1] in d["run_ids"] or real in {s["uri"] for s in d["sources"]} for d in docs)
        with sqlite3.connect(home / "catalog.sqlite3") as ledger:  # counted as admin's, the REST API's user
            rows = ledger.execute("SELECT run_id, user, admitted FROM request_ledger ORDER BY run_id").fetchall()
        assert rows == [(run_id, "admin", 1) for run_id in run_ids[:10]] + [(run_ids[-1], "admin", 0)]
    finally:
        shutil.rmtree(home, ignore_errors=True)


def check_request_state(rest, run_id: str) -> str | None:
    tis = rest.get(f"/api/v2/dags/image_request/dagRuns/{run_id}/taskInstances")["task_instances"]
    return next((t["state"] for t in tis if t["task_id"] == "check_request"), None)
