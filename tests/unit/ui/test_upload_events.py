"""An upload records the inbox's Asset event through Airflow's own code, so the scheduler's next loop
starts gallery_inbox (no wait for the watcher's poll); the upload page's progress route follows the
images from the inbox to processed, and the runs the event started. What ui/airflow_runs.py relies
on in Airflow's internals to do so is checked by name in test_airflow_internals.py."""

from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

DAGS_DIR = Path(__file__).resolve().parents[3] / "dags"


def jpeg(colour=(20, 120, 200), size=(96, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture(scope="module")
def inbox_dags_in_db(auth_manager):
    """gallery_inbox and gallery_process parsed and serialized into the metadata DB as the DAG
    processor does (their Assets registered), and unpaused as make run leaves them."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    for name in ("gallery_inbox.py", "gallery_process.py"):
        bag = DagBag(dag_folder=str(DAGS_DIR / name))
        assert bag.import_errors == {}
        sync_bag_to_db(bag, "dags-folder", None)
    with create_session() as session:
        session.query(DagModel).filter(DagModel.dag_id.in_(["gallery_inbox", "gallery_process"])).update(
            {DagModel.is_paused: False}, synchronize_session=False)


@pytest.fixture
def no_events(inbox_dags_in_db):
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(AssetDagRunQueue).delete()
        session.query(AssetEvent).delete()
        session.query(DagRun).filter(DagRun.dag_id.in_(["gallery_inbox", "gallery_process"])).delete()


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_an_upload_records_the_inbox_event_and_gallery_inbox_is_due_at_once(no_events, backends, client, as_user):
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    files = [("files", ("a.jpg", jpeg(), "image/jpeg")), ("files", ("b.jpg", jpeg((200, 10, 10)), "image/jpeg")),
             ("files", ("c.txt", b"not a picture", "text/plain"))]
    answer = client.post("/api/uploads", files=files, headers=as_user("editor"))  # the User role: no Asset write
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 2 and body["refused"] == 1
    event = body["event"]
    assert event["recorded"] is True and event["reason"] is None and isinstance(event["id"], int)
    with create_session() as session:
        (recorded,) = session.query(AssetEvent).all()
        assert recorded.id == event["id"] and recorded.asset.name == "gallery_inbox_files"
        assert recorded.extra["files"] == 2 and recorded.extra["uploaded_by"] == "editor"
        assert recorded.extra["first"] in list(backends.store.list("inbox/"))
        queued = [q.target_dag_id for q in session.query(AssetDagRunQueue)]
        assert queued == ["gallery_inbox"]
        # What the scheduler's next loop asks: gallery_inbox needs a run now.
        due, _ = DagModel.dags_needing_dagruns(session)
        assert "gallery_inbox" in {d.dag_id for d in due}


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_nothing_accepted_records_no_event_and_an_unknown_asset_leaves_the_files_to_the_watcher(
        no_events, backends, client, as_user, monkeypatch):
    from airflow.models.asset import AssetEvent
    from airflow.sdk import Asset
    from airflow.utils.session import create_session

    from image_pipeline.ui import airflow_runs

    refused = client.post("/api/uploads", files=[("files", ("c.txt", b"text", "text/plain"))], headers=as_user())
    assert refused.json()["event"] is None
    monkeypatch.setattr(airflow_runs, "INBOX_FILES", Asset(name="not_parsed_yet"))
    answer = client.post("/api/uploads", files=[("files", ("a.jpg", jpeg(), "image/jpeg"))], headers=as_user())
    assert answer.status_code == 200
    event = answer.json()["event"]
    assert event["recorded"] is False and event["id"] is None and "watcher" in event["reason"]
    assert len(list(backends.store.list("inbox/"))) == 1  # the file is kept for the watcher
    with create_session() as session:
        assert session.query(AssetEvent).count() == 0


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_progress_follows_the_images_and_the_runs_the_event_started(no_events, backends, client, as_user):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    from image_pipeline.core.keys import sha256_bytes
    from image_pipeline.process.batches import process_batch
    from image_pipeline.retrieve.inbox import ingest_inbox

    image = jpeg()
    sha = sha256_bytes(image)
    event_id = client.post("/api/uploads", files=[("files", ("a.jpg", image, "image/jpeg"))],
                           headers=as_user()).json()["event"]["id"]
    progress = f"/api/uploads/progress?sha256={sha}&event={event_id}"

    answer = client.get(progress, headers=as_user("viewer"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"images": [{"sha256": sha, "status": "inbox", "thumb_url": None, "reason": None}],
                             "runs": [], "done": False}

    # The scheduler creates gallery_inbox's run from the event; the run's ingestion emits
    # gallery_raw_images, from which the scheduler creates gallery_process's run.
    now = datetime.now(timezone.utc)

    def run(dag_id: str, run_id: str, state: DagRunState) -> DagRun:
        return DagRun(dag_id=dag_id, run_id=run_id, run_type=DagRunType.ASSET_TRIGGERED, state=state,
                      run_after=now, logical_date=None)

    with create_session() as session:
        inbox_run = run("gallery_inbox", "asset_triggered__upload", DagRunState.SUCCESS)
        process_run = run("gallery_process", "asset_triggered__after_upload", DagRunState.RUNNING)
        session.add_all([inbox_run, process_run])
        upload_event = session.get(AssetEvent, event_id)
        upload_event.created_dagruns.append(inbox_run)
        raw = session.query(AssetModel).filter(AssetModel.name == "gallery_raw_images").one()
        raw_event = AssetEvent(asset_id=raw.id, extra={}, source_dag_id="gallery_inbox",
                               source_run_id="asset_triggered__upload", source_task_id="ingest_inbox")
        raw_event.created_dagruns.append(process_run)
        session.add(raw_event)
    ingest_inbox(backends.store, backends.catalog, keyword="inbox", run_id="asset_triggered__upload")

    body = client.get(progress, headers=as_user()).json()
    assert body["images"][0]["status"] == "raw" and body["done"] is False
    assert [(r["dag_id"], r["run_id"], r["state"]) for r in body["runs"]] == [
        ("gallery_inbox", "asset_triggered__upload", "success"),
        ("gallery_process", "asset_triggered__after_upload", "running")]
    assert body["runs"][0]["airflow_url"] == "/dags/gallery_inbox/runs/asset_triggered__upload"
    # The same event twice, and an event unknown to Airflow: each run once, nothing for the unknown one.
    again = client.get(f"{progress}&event={event_id}&event={event_id + 1000}", headers=as_user()).json()
    assert again["runs"] == body["runs"]

    process_batch(backends.store, backends.catalog, ["thumb"], [sha])
    body = client.get(progress, headers=as_user()).json()
    (shown,) = body["images"]
    assert shown["status"] == "processed" and body["done"] is False  # gallery_process's run has not ended
    with create_session() as session:
        session.query(DagRun).filter(DagRun.run_id == "asset_triggered__after_upload").update(
            {DagRun._state: DagRunState.SUCCESS}, synchronize_session=False)
    body = client.get(progress, headers=as_user()).json()
    assert body["done"] is True and [r["state"] for r in body["runs"]] == ["success", "success"]
    assert client.get(f"/api/uploads/progress?sha256={sha}", headers=as_user()).json()["done"] is True
    thumb = client.get(shown["thumb_url"].removeprefix(client.base_url.path or ""), headers=as_user())
    assert thumb.status_code == 200 and thumb.headers["content-type"].startswith("image/")


@pytest.mark.parametrize("backends", ["sqlite"], indirect=True)
def test_progress_refuses_what_is_not_a_sha256_and_too_many_at_once(backends, client, as_user):
    assert client.get("/api/uploads/progress?sha256=abc", headers=as_user()).status_code == 422
    assert client.get("/api/uploads/progress", headers=as_user()).status_code == 422
    many = "&".join(f"sha256={i:064x}" for i in range(101))
    assert client.get(f"/api/uploads/progress?{many}", headers=as_user()).status_code == 422

