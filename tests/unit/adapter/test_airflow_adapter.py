"""The adapter: which day a run reports on, and which backends the settings select."""

from __future__ import annotations

from datetime import date, datetime, timezone
from types import SimpleNamespace

from image_pipeline import airflow_adapter as af
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.deliver.mail import OutboxMailer
from image_pipeline.core.storage import LocalStore


def test_run_day_prefers_the_form_then_the_data_interval_then_the_run_time():
    run = SimpleNamespace(run_after=datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc))
    interval = {"data_interval_start": datetime(2026, 11, 20, tzinfo=timezone.utc), "dag_run": run}
    assert af.run_day(interval, "2026-01-31") == date(2026, 1, 31)
    assert af.run_day(interval) == date(2026, 11, 20)
    assert af.run_day({"data_interval_start": None, "dag_run": run}) == date(2026, 11, 21)


def test_embedded_default_backends(pipeline_env, monkeypatch):
    monkeypatch.setenv("GALLERY_EMAIL", "auto")  # no smtp_default connection: the outbox
    store = af.object_store()
    assert isinstance(store, LocalStore) and store.root == pipeline_env.resolve()
    with af.catalog() as catalog:
        assert isinstance(catalog, SqliteCatalog)
    assert isinstance(af.mailer(store), OutboxMailer)


def first_event(trigger, timeout):
    import asyncio

    async def wait():
        async for event in trigger.run():
            return event

    try:
        return asyncio.run(asyncio.wait_for(wait(), timeout))
    except TimeoutError:
        return None


def test_inbox_trigger_fires_once_files_have_settled(pipeline_env, samples):
    from image_pipeline.retrieve import upload_to_inbox

    trigger = af.InboxTrigger(poll_interval=0.05, settle=0.2)
    assert first_event(trigger, 0.6) is None  # an empty inbox: no event
    upload_to_inbox(af.object_store(), samples)
    event = first_event(trigger, 5)
    assert event.payload == {"files": 8, "first": "inbox/broken.jpg"}
    classpath, kwargs = trigger.serialize()
    assert classpath == "image_pipeline.airflow_adapter.InboxTrigger" and kwargs == {"poll_interval": 0.05, "settle": 0.2}


def test_inbox_asset_is_watched():
    (watcher,) = af.INBOX_FILES.watchers
    assert isinstance(watcher.trigger, af.InboxTrigger)
