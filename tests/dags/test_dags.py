"""Each DAG run end to end with ``dag.test()`` on the embedded default (and on S3 and SMTP through
Airflow connections), asserting the run's state and what it wrote."""

from __future__ import annotations

import email
import hashlib
import io
import json
import socket
import urllib.request
import zipfile
from datetime import datetime, timezone
from email import policy
from pathlib import Path

import pytest
from PIL import Image

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
TODAY = datetime.now(timezone.utc).date().isoformat()


def run(dags, dag_id, conf=None, expect="success"):
    dag_run = dags.get_dag(dag_id).test(run_conf=conf or {})
    assert dag_run.state == expect, f"{dag_id} ended {dag_run.state}"  # dag.test() does not raise
    return dag_run


def refusal(capfd) -> str:
    """The message a task failed with, from the task log that dag.test() prints."""
    out, err = capfd.readouterr()
    lines = [line for line in (out + err).splitlines() if "invalid request" in line]
    return lines[-1][lines[-1].index("invalid request"):] if lines else ""


def task_states(dag_run):
    from airflow.utils.session import create_session

    with create_session() as session:
        return {(ti.task_id, ti.map_index): (ti.state, ti.rendered_map_index) for ti in dag_run.get_task_instances(session=session)}


def catalog_docs(tmp_path):
    from image_pipeline.core.catalog import SqliteCatalog

    with SqliteCatalog(tmp_path / "catalog.sqlite3") as cat:
        return cat.find(), cat.deliveries()


def snapshot(data: Path) -> dict[str, str]:
    return {p.relative_to(data).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(data.rglob("*")) if p.is_file()}


RETRIEVE_INBOX = {"engine": "inbox", "keywords": ["demo"]}


def upload(samples):
    from image_pipeline import airflow_adapter as af
    from image_pipeline.retrieve import upload_to_inbox

    upload_to_inbox(af.object_store(), samples)


def run_chain(dags, samples):
    upload(samples)  # the same files uploaded again on every run
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process", {"batch_size": 3})
    run(dags, "gallery_analytics", {"day": TODAY})
    run(dags, "gallery_deliver", {"keyword": "demo", "recipient": "you@example.com"})


def test_retrieve_stores_each_distinct_image_once(dags, pipeline_env, inbox, tmp_path):
    dag_run = run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    raw = sorted((pipeline_env / "raw").rglob("*.*"))
    assert len(raw) == 7 and len(list((pipeline_env / "quarantine").rglob("*.*"))) == 1
    docs, _ = catalog_docs(tmp_path)
    assert len(docs) == 8
    assert {d["status"] for d in docs} == {"raw", "quarantined"}
    assert all(d["run_ids"] == [dag_run.run_id] and d["keywords"] == ["demo"] for d in docs)
    assert all(Path(pipeline_env, d["raw_key"]).name.startswith(d["sha256"]) for d in docs if d["raw_key"])
    assert not list(inbox.iterdir())  # the inbox is emptied: each file is ingested once
    assert {d["sources"][0]["source"] for d in docs} == {"inbox"}


@pytest.mark.parametrize("conf, field", [
    ({"engine": "bing", "keywords": []}, "keyword"),
    ({"engine": "bing"}, "keyword"),
    ({"engine": "bing", "keywords": ["cats"], "filters": {"colour": "red"}}, "filters"),
    ({"engine": "bing", "keywords": ["cats/../../etc"]}, "keyword"),
    ({"engine": "greedy"}, "site_url"),
    ({"engine": "urls"}, "urls"),
])
def test_retrieve_refuses_a_bad_request_before_any_side_effect(dags, pipeline_env, conf, field, capfd):
    """What the form's schema cannot check, the first task refuses, naming the field."""
    dag_run = run(dags, "gallery_retrieve", conf, expect="failed")
    states = task_states(dag_run)
    assert states[("plan_requests", -1)][0] == "failed"
    assert not any(task == "retrieve_images" and state == "success" for (task, _), (state, _) in states.items())
    assert not pipeline_env.exists() or snapshot(pipeline_env) == {}
    message = refusal(capfd)
    assert message.startswith("invalid request: ") and field in message, message


@pytest.mark.parametrize("conf, field", [({"engine": "ftp"}, "engine"), ({"count": 0}, "count"),
                                         ({"count": 1001}, "count"), ({"urls": ["file:///etc/passwd"]}, "urls"),
                                         ({"site_url": "not a url"}, "site_url"), ({"keywords": [""]}, "keywords")])
def test_the_form_schema_refuses_malformed_params(dags, conf, field):
    with pytest.raises(Exception, match=field):
        dags.get_dag("gallery_retrieve").test(run_conf=conf)


def test_process_maps_batches_and_quarantines(dags, pipeline_env, inbox, tmp_path):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    dag_run = run(dags, "gallery_process", {"batch_size": 3})
    states = task_states(dag_run)
    mapped = sorted(v[1] for (task, idx), v in states.items() if task == "process_batch")
    assert mapped == ["batch 0: 3 images", "batch 1: 3 images", "batch 2: 1 images"]
    docs, _ = catalog_docs(tmp_path)
    processed = [d for d in docs if d["status"] == "processed"]
    assert len(processed) == 6
    for doc in processed:
        out = doc["outputs"]["half_gray"]
        with Image.open(pipeline_env / out["key"]) as im:
            assert (im.format, im.mode) == ("JPEG", "L")
            assert sorted(im.size) == sorted((doc["width"] // 2, doc["height"] // 2))
        assert out["seconds"] > 0 and out["bytes"] == (pipeline_env / out["key"]).stat().st_size
    reasons = {d["quarantine"]["stage"]: d["quarantine"]["reason"] for d in docs if d["status"] == "quarantined"}
    assert set(reasons) == {"retrieve", "process"} and "truncated" in reasons["process"]
    # Nothing pending: the summary is skipped, so no Asset event triggers downstream DAGs.
    rerun = run(dags, "gallery_process", {"batch_size": 3})
    assert task_states(rerun)[("summarize", -1)][0] == "skipped"


def test_process_form_picks_recipes_and_a_selection(dags, pipeline_env, inbox, tmp_path):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    nothing = run(dags, "gallery_process", {"recipes": ["thumb"], "keyword": "no such keyword"})
    assert task_states(nothing)[("summarize", -1)][0] == "skipped" and not (pipeline_env / "processed").exists()
    run(dags, "gallery_process", {"recipes": ["thumb"], "keyword": "demo"})
    docs, _ = catalog_docs(tmp_path)
    processed = [d for d in docs if d["status"] == "processed"]
    assert len(processed) == 6 and all(set(d["outputs"]) == {"thumb"} for d in processed)
    for doc in processed:
        with Image.open(pipeline_env / doc["outputs"]["thumb"]["key"]) as im:
            assert max(im.size) == min(320, max(doc["width"], doc["height"]))
    # force redoes the selection; the outputs' keys stay, their records are renewed
    run(dags, "gallery_process", {"recipes": ["thumb"], "keyword": "demo", "force": True})
    again = {d["sha256"]: d for d in catalog_docs(tmp_path)[0] if d["status"] == "processed"}
    for doc in processed:
        new = again[doc["sha256"]]["outputs"]["thumb"]
        assert new["key"] == doc["outputs"]["thumb"]["key"] and new["processed_at"] > doc["outputs"]["thumb"]["processed_at"]


def test_process_refuses_force_without_a_selection(dags, pipeline_env, inbox):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    dag_run = run(dags, "gallery_process", {"force": True}, expect="failed")
    assert task_states(dag_run)[("plan_batches", -1)][0] == "failed"
    assert not (pipeline_env / "processed").exists()


@pytest.mark.parametrize("conf, field", [({"recipes": ["not a name!"]}, "recipes"), ({"recipes": []}, "recipes"),
                                         ({"images": ["not a sha256"]}, "images"),
                                         ({"since": "yesterday"}, "since")])
def test_process_form_schema_refuses_bad_params(dags, conf, field):
    with pytest.raises(Exception, match=field):
        dags.get_dag("gallery_process").test(run_conf=conf)


def test_analytics_writes_the_days_report(dags, pipeline_env, inbox, tmp_path):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process")
    dag_run = run(dags, "gallery_analytics", {"day": TODAY})
    folder = pipeline_env / "reports" / "daily" / f"dt={TODAY}"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (metrics["retrieved"], metrics["processed"], metrics["quarantined"]) == (8, 6, 2)
    assert metrics["failures"]["stages"] == {"process": 1, "retrieve": 1}
    assert metrics["by"]["engine"]["inbox"]["retrieved"] == 8
    assert 'data-metric="retrieved">8<' in (folder / "report.html").read_text()
    with Image.open(folder / "sources.png") as chart:
        assert chart.format == "PNG"
    assert (pipeline_env / "reports" / "images" / f"dt={TODAY}" / "part-0.parquet").is_file()
    assert (pipeline_env / "reports" / "overview" / "index.html").is_file()
    from image_pipeline.core.catalog import SqliteCatalog

    with SqliteCatalog(tmp_path / "catalog.sqlite3") as cat:
        assert [m["day"] for m in cat.metrics()] == [TODAY]
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        (event,) = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
    assert (event.extra["retrieved"], event.extra["processed"], event.extra["day"]) == (8, 6, TODAY)


def test_deliver_archives_and_emails(dags, pipeline_env, inbox, tmp_path):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process")
    run(dags, "gallery_deliver", {"keyword": "demo", "recipient": "you@example.com"})
    (archive,) = (pipeline_env / "archives").iterdir()
    (eml,) = (pipeline_env / "outbox").iterdir()
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if n.startswith("images/")]
        manifest = json.loads(zf.read("manifest.json"))
        assert names == [m["file"] for m in manifest] and len(names) == 6
        for name in names:
            with Image.open(io.BytesIO(zf.read(name))) as im:
                assert (im.format, im.mode) == ("JPEG", "L")
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["To"] == "you@example.com"
    assert next(msg.iter_attachments()).get_content() == archive.read_bytes()
    _, deliveries = catalog_docs(tmp_path)
    assert [d["status"] for d in deliveries] == ["sent"]


def test_deliver_refuses_a_bad_recipient(dags, pipeline_env):
    dag_run = run(dags, "gallery_deliver", {"keyword": "demo", "recipient": "x@example.com\nBcc: all@example.com"},
                  expect="failed")
    assert task_states(dag_run)[("plan_deliveries", -1)][0] == "failed"
    assert not (pipeline_env / "outbox").exists() and not (pipeline_env / "archives").exists()


def test_rerunning_the_chain_changes_nothing(dags, pipeline_env, samples, tmp_path):
    run_chain(dags, samples)
    objects, (docs, deliveries) = snapshot(pipeline_env), catalog_docs(tmp_path)
    assert len(deliveries) == 1 and len(list((pipeline_env / "outbox").iterdir())) == 1
    run_chain(dags, samples)  # new runs on the same input
    assert snapshot(pipeline_env) == objects  # no object added, rewritten or lost; no second email
    new_docs, new_deliveries = catalog_docs(tmp_path)
    assert new_deliveries == deliveries
    assert len(new_docs) == len(docs)
    for old, new in zip(docs, new_docs, strict=True):
        if old["raw_key"]:  # provenance records the second retrieval run, nothing else changes
            assert len(new["run_ids"]) == 2 and all(s in new["sources"] for s in old["sources"])
            old = {**old, "run_ids": new["run_ids"], "last_seen_at": new["last_seen_at"], "sources": new["sources"]}
        assert new == old


@pytest.fixture
def aws_connection(monkeypatch, moto_server, s3_client, s3_bucket):
    conn = {"conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(conn))
    monkeypatch.setenv("GALLERY_STORE_URL", f"s3://{s3_bucket}/gallery")
    return s3_bucket


def test_chain_on_s3_through_the_aws_connection(dags, pipeline_env, samples, aws_connection, s3_client, monkeypatch):
    monkeypatch.setenv("GALLERY_ATTACH_MAX_BYTES", "0")  # force a presigned link
    run_chain(dags, samples)
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=aws_connection)["Contents"]]
    assert sum(k.startswith("gallery/processed/half_gray/") for k in keys) == 6
    (archive_key,) = [k for k in keys if k.startswith("gallery/archives/")]
    (eml_key,) = [k for k in keys if k.startswith("gallery/outbox/")]
    assert not pipeline_env.exists()  # nothing went to local files
    msg = email.message_from_bytes(s3_client.get_object(Bucket=aws_connection, Key=eml_key)["Body"].read(),
                                   policy=policy.default)
    link = next(line for line in msg.get_body().get_content().splitlines() if line.startswith("http"))
    with urllib.request.urlopen(link) as response:
        assert response.read() == s3_client.get_object(Bucket=aws_connection, Key=archive_key)["Body"].read()


def test_deliver_through_the_smtp_connection(dags, pipeline_env, inbox, monkeypatch):
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        conn = {"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                "extra": {"disable_ssl": True, "disable_tls": True}}
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(conn))
        monkeypatch.setenv("GALLERY_EMAIL", "auto")
        run(dags, "gallery_retrieve", RETRIEVE_INBOX)
        run(dags, "gallery_process")
        run(dags, "gallery_deliver", {"keyword": "demo", "recipient": "you@example.com"})
        run(dags, "gallery_deliver", {"keyword": "demo", "recipient": "you@example.com"})
    finally:
        controller.stop()
    assert len(received) == 1 and received[0].rcpt_tos == ["you@example.com"]
    assert not (pipeline_env / "outbox").exists()


def test_chain_on_mongodb_through_the_mongo_connection(dags, pipeline_env, inbox, monkeypatch):
    """No MongoDB server here: the provider's MongoHook gets a mongomock client for the URI it built
    from the ``mongo_default`` connection (tests/unit/core/catalog/ runs the catalog contract on a real server with MONGO_URI)."""
    import mongomock

    server, uris = mongomock.MongoClient(), []

    def client_for(uri, **options):
        uris.append(uri)
        return server

    monkeypatch.setattr("airflow.providers.mongo.hooks.mongo.MongoClient", client_for)
    monkeypatch.setattr(server, "close", lambda: None)
    monkeypatch.setenv("AIRFLOW_CONN_MONGO_DEFAULT", json.dumps({"conn_type": "mongo", "host": "catalog.invalid", "port": 27017}))
    monkeypatch.setenv("GALLERY_CATALOG", "mongo")
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process")
    run(dags, "gallery_deliver", {"keyword": "demo", "recipient": "you@example.com"})
    assert uris and all("catalog.invalid:27017" in uri for uri in uris)
    images = server["image_pipeline"]["images"]
    assert images.count_documents({}) == 8 and images.count_documents({"status": "processed"}) == 6
    assert server["image_pipeline"]["deliveries"].count_documents({"status": "sent"}) == 1
    assert not (pipeline_env.parent / "catalog.sqlite3").exists()


def test_deliver_without_a_selection_is_refused(dags, pipeline_env):
    dag_run = run(dags, "gallery_deliver", {}, expect="failed")
    assert task_states(dag_run)[("plan_deliveries", -1)][0] == "failed"


def test_inbox_dag_ingests_each_dropped_file_once(dags, pipeline_env, inbox, tmp_path):
    run(dags, "gallery_inbox", {"keyword": "dropped"})
    assert not list(inbox.iterdir())
    docs, _ = catalog_docs(tmp_path)
    assert len(docs) == 8 and all(d["keywords"] == ["dropped"] for d in docs)
    assert len(list((pipeline_env / "raw").rglob("*.*"))) == 7
    run(dags, "gallery_inbox", {"keyword": "dropped"})  # an event with nothing left: nothing changes
    assert catalog_docs(tmp_path)[0] == docs
