"""``image_request`` (the one-form flow), the subscriptions and the failure notifier, run with
``dag.test()``: images from a loopback web server, email into a real SMTP server on loopback."""

from __future__ import annotations

import email
import json
import shutil
import socket
from datetime import datetime, timedelta, timezone
from email import policy
from pathlib import Path

import pytest

from dags.test_dags import catalog_docs, run, task_states

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


class SmtpSink:
    """aiosmtpd on loopback keeping every message it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"

    def to(self, address):
        return [email.message_from_bytes(m.content, policy=policy.default) for m in self.messages
                if address in m.rcpt_tos]


@pytest.fixture
def smtp_sink(monkeypatch):
    sink = SmtpSink()
    sink.controller.start()
    conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": sink.port, "extra": {"disable_ssl": True, "disable_tls": True}}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("GALLERY_EMAIL", "smtp")
    yield sink
    sink.controller.stop()


@pytest.fixture
def image_site(http_server, samples, monkeypatch):
    """The sample images on a loopback web server the safe fetcher may reach; returns their URLs."""
    base, root = http_server
    for path in samples.iterdir():
        shutil.copy(path, root / path.name)
    monkeypatch.setenv("GALLERY_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("GALLERY_CRAWL_IDLE_TIMEOUT", "3")
    return [f"{base}/{p.name}" for p in sorted(samples.iterdir())]


def form(urls, **changes):
    return {"keywords": ["my request"], "count": 20, "recipe": "half_gray", "email": "you@example.com",
            "engine": "urls", "urls": urls, **changes}


def test_image_request_delivers_the_requested_images_once(dags, pipeline_env, image_site, smtp_sink, tmp_path):
    dag_run = run(dags, "image_request", form(image_site))
    states = task_states(dag_run)
    steps = {task for task, _ in states}
    assert steps == {"check_request", "retrieve_images", "plan_processing", "process_batch", "deliver_archive"}
    assert all(state == "success" for state, _ in states.values()), states
    (msg,) = smtp_sink.to("you@example.com")
    (archive,) = (pipeline_env / "archives").iterdir()
    (attachment,) = msg.iter_attachments()
    assert attachment.get_content() == archive.read_bytes()
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n.startswith("images/")]
        assert len(names) == 6 and all(n.split("/")[1].startswith("sample-") for n in names)
        manifest = json.loads(zf.read("manifest.json"))
        assert {m["source_url"] for m in manifest} <= set(image_site) and all(m["keywords"] == "my request" for m in manifest)
    assert "6 images" in msg.get_body().get_content() and msg["Subject"] == "Your images: 6 (half_gray)"
    docs, deliveries = catalog_docs(tmp_path)
    (entry,) = deliveries
    assert entry["status"] == "sent" and entry["occasion"] == f"request:image_request/{dag_run.run_id}"
    assert all(dag_run.run_id in d["run_ids"] for d in docs)

    # The delivery task's body again for the same run, as a retry runs it: nothing is sent again.
    from types import SimpleNamespace

    from image_pipeline import airflow_adapter as af

    context = {"dag": SimpleNamespace(dag_id="image_request"), "run_id": dag_run.run_id,
               "task": SimpleNamespace(outlets=[])}
    request = {"selection": {"recipe": "half_gray", "run_id": dag_run.run_id}, "recipient": "you@example.com",
               "occasion": af.delivery_occasion(context, per_run=True)}
    assert af.run_delivery(request, context)["sent_at"] == entry["sent_at"]
    assert len(smtp_sink.to("you@example.com")) == 1
    # Another submission of the form is another request: it is delivered too, with its own archive's email.
    run(dags, "image_request", form(image_site))
    assert len(smtp_sink.to("you@example.com")) == 2


def test_image_request_refuses_a_bad_form_and_tells_the_operator(dags, pipeline_env, image_site, smtp_sink,
                                                                  monkeypatch):
    monkeypatch.setenv("GALLERY_OPERATOR_EMAIL", "ops@example.com")
    dag_run = run(dags, "image_request", form(image_site, email="you@example.com\r\nBcc: all@example.com"),
                  expect="failed")
    states = task_states(dag_run)
    assert states[("check_request", -1)][0] == "failed"
    assert not any(state == "success" for state, _ in states.values())
    assert not pipeline_env.exists() or not any(pipeline_env.rglob("*.*"))  # nothing fetched, built or sent
    (alert,) = smtp_sink.to("ops@example.com")
    assert alert["Subject"] == "[image-pipeline] image_request.check_request failed"
    assert "invalid email address" in alert.get_body().get_content()
    assert smtp_sink.to("all@example.com") == []


def test_image_request_through_the_email_api(dags, pipeline_env, image_site, monkeypatch, tmp_path):
    from unit.deliver.test_delivery import EmailApiStub  # the Resend-compatible stub
    from http.server import ThreadingHTTPServer
    import threading

    server = ThreadingHTTPServer(("127.0.0.1", 0), EmailApiStub)
    server.requests, server.delivered, server.refuse, server.kill_pid = [], {}, 0, None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = {"conn_type": "http", "host": "127.0.0.1", "port": server.server_address[1], "schema": "http",
                "password": "test-key"}
        monkeypatch.setenv("AIRFLOW_CONN_EMAIL_API_DEFAULT", json.dumps(conn))
        monkeypatch.setenv("GALLERY_EMAIL", "auto")  # no SMTP connection: the API
        run(dags, "image_request", form(image_site))
    finally:
        server.shutdown()
        server.server_close()
    (payload,) = server.delivered.values()
    (archive,) = (pipeline_env / "archives").iterdir()
    import base64

    assert payload["to"] == ["you@example.com"]
    assert base64.b64decode(payload["attachments"][0]["content"]) == archive.read_bytes()


@pytest.fixture
def subscription(tmp_path, monkeypatch):
    path = tmp_path / "subscriptions.yaml"
    path.write_text("subscriptions:\n  - name: demo_daily\n    recipient: digest@example.com\n"
                    "    cron: '0 0 * * *'\n    selection: {keyword: demo}\n    description: daily demo digest\n")
    monkeypatch.setenv("GALLERY_SUBSCRIPTIONS_FILE", str(path))
    return "gallery_subscription_demo_daily"


def test_a_subscription_delivers_each_interval_once(subscription, pipeline_env, inbox, smtp_sink, tmp_path,
                                                    airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import CronDataIntervalTimetable

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    dag = bag.get_dag(subscription)
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and "digest@example.com" in dag.doc_md
    run(bag, "gallery_retrieve", {"engine": "inbox", "keywords": ["demo"]})
    run(bag, "gallery_process")
    tomorrow = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    # A run at tomorrow's midnight covers today: the images retrieved today.
    first = dag.test(logical_date=tomorrow + timedelta(minutes=1))
    assert first.state == "success"
    dag.test(logical_date=tomorrow + timedelta(minutes=1))  # the same interval again: nothing new is sent
    (msg,) = smtp_sink.to("digest@example.com")
    assert len(list(msg.iter_attachments())) == 1
    yesterday = dag.test(logical_date=tomorrow - timedelta(days=1, minutes=-1))  # a past day with no images
    assert yesterday.state == "success"
    assert len(smtp_sink.to("digest@example.com")) == 1
    _, deliveries = catalog_docs(tmp_path)
    (entry,) = [d for d in deliveries if d["status"] == "sent"]
    assert entry["occasion"].startswith("interval:") and entry["selection"]["keyword"] == "demo"


def test_the_eleventh_request_of_a_user_within_the_window_is_refused_before_anything_is_fetched(
        dags, pipeline_env, image_site, smtp_sink, tmp_path, capfd):
    """The per-user limit (default 10 an hour) holds in image_request's first task, whatever triggered
    the run: dag.test() records every run as triggered by the user "dag_test". The eleventh run fails
    in check_request with the gallery's 429 message, before anything is fetched, stored or sent: it
    asks for an image the others never fetched, which would be in the store had it been."""
    from dags.test_dags import snapshot
    from image_pipeline.core.request_limit import too_many_requests

    first, other = [url for url in image_site if "/sample-" in url][:2]
    for _ in range(10):
        run(dags, "image_request", form([first], count=1))
    stored, (docs, deliveries) = snapshot(pipeline_env), catalog_docs(tmp_path)
    capfd.readouterr()
    refused = run(dags, "image_request", form([other], count=1), expect="failed")
    states = task_states(refused)
    assert states[("check_request", -1)][0] == "failed"
    assert not any(state == "success" for state, _ in states.values()), states
    assert snapshot(pipeline_env) == stored and catalog_docs(tmp_path) == (docs, deliveries)
    assert not any(refused.run_id in d["run_ids"] for d in docs)
    assert len(smtp_sink.to("you@example.com")) == 10
    out, err = capfd.readouterr()
    (line, *_) = [line for line in (out + err).splitlines() if "Too many image requests" in line]
    said = line[line.index("Too many image requests"):]
    # The wait is about an hour: the oldest of the last ten runs, a few seconds ago, leaves the window then.
    assert any(said.startswith(too_many_requests(10, 3600, wait)) for wait in range(3000, 3602)), said
