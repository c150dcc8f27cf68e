"""The one module of the library that imports Airflow.

It turns :class:`~image_pipeline.settings.Settings` plus Airflow connections into the library's
backends (object store, catalog, mailer), and holds what the DAG files share: the Assets that
chain them and the default task arguments. Provider hooks are imported inside the functions, so
importing this module (and so parsing a DAG file) stays light.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, AsyncIterator, Iterator

from airflow.sdk import Asset, AssetWatcher, BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from image_pipeline.catalog import Catalog, MongoCatalog, SqliteCatalog
from image_pipeline.mail import Mailer, OutboxMailer, SmtpMailer
from image_pipeline.settings import Settings
from image_pipeline.storage import ObjectStore, open_store

OWNER = "image-pipeline"
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

class InboxTrigger(BaseEventTrigger):
    """Fires when files wait in the store's ``inbox/`` zone (a local folder or an S3 prefix) and
    the listing has not changed for ``settle`` seconds, so an upload in progress is not cut short.

    An event trigger rather than a sensor: it runs in the triggerer, costs no worker slot while it
    waits, and turns each drop of files into an Asset event that starts ``gallery_inbox`` at once.
    """

    def __init__(self, poll_interval: float = 10.0, settle: float = 5.0):
        super().__init__()
        self.poll_interval = poll_interval
        self.settle = settle

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "poll_interval": self.poll_interval, "settle": self.settle}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from image_pipeline.retrieve import INBOX

        last: list[str] | None = None
        changed_at = time.monotonic()
        while True:
            keys = await asyncio.to_thread(lambda: list(object_store().list(INBOX)))
            if keys != last:
                last, changed_at = keys, time.monotonic()
            elif keys and time.monotonic() - changed_at >= self.settle:
                yield TriggerEvent({"files": len(keys), "first": keys[0]})
                return
            await asyncio.sleep(self.poll_interval)


# Retrieve -> process -> analytics/deliver are chained by these Assets. Name-only on purpose: a URI
# with a scheme makes Airflow load every provider's URI normaliser (boto3 included) at parse time.
RAW_IMAGES = Asset(name="gallery_raw_images")
PROCESSED_IMAGES = Asset(name="gallery_processed_images")
DAILY_REPORTS = Asset(name="gallery_daily_reports")
ARCHIVES = Asset(name="gallery_archives")
INBOX_FILES = Asset(name="gallery_inbox_files",
                    watchers=[AssetWatcher(name="gallery_inbox_watcher", trigger=InboxTrigger())])

# Retrieval tasks take a slot of this pool: the politeness limit across all runs and workers.
DOWNLOAD_POOL = "gallery_downloads"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
    "retry_exponential_backoff": 2.0,  # 15 s, 30 s, ... capped below
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=60),
}


def settings() -> Settings:
    return Settings.from_env()


def _s3_client(aws_conn_id: str) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def object_store(cfg: Settings | None = None) -> ObjectStore:
    cfg = cfg or settings()
    return open_store(cfg.store_url, lambda: _s3_client(cfg.aws_conn_id))


@contextmanager
def catalog(cfg: Settings | None = None) -> Iterator[Catalog]:
    cfg = cfg or settings()
    if cfg.catalog == "mongo":
        from airflow.providers.mongo.hooks.mongo import MongoHook

        client = MongoHook(mongo_conn_id=cfg.mongo_conn_id).get_conn()
        opened: Catalog = MongoCatalog(client[cfg.mongo_db], owns_client=client)
    else:
        opened = SqliteCatalog(cfg.sqlite_path)
    try:
        yield opened
    finally:
        opened.close()


def mailer(store: ObjectStore, cfg: Settings | None = None) -> Mailer:
    """SMTP through the configured connection when there is one (or when required), else the outbox."""
    cfg = cfg or settings()
    if cfg.email == "outbox":
        return OutboxMailer(store)
    try:
        conn = BaseHook.get_connection(cfg.smtp_conn_id)
    except AirflowNotFoundException:
        if cfg.email == "smtp":
            raise
        return OutboxMailer(store)
    extra = conn.extra_dejson
    # Same extras and defaults as the SMTP provider's connection form (SSL unless disabled).
    return SmtpMailer(
        host=conn.host or "localhost",
        port=int(conn.port or 25),
        user=conn.login or None,
        password=conn.password or None,
        use_ssl=not extra.get("disable_ssl", False),
        starttls=not extra.get("disable_tls", False),
        timeout=float(extra.get("timeout", 30)),
    )


def run_retrieval(request: dict, context: dict[str, Any]) -> dict[str, Any]:
    """One validated retrieval request in a task: the body gallery_retrieve and gallery_inbox share.
    Sets the Asset event's extra on ``RAW_IMAGES`` to the summary."""
    from image_pipeline import retrieve as retrieval

    cfg = settings()
    run_id = context["run_id"]
    with catalog(cfg) as opened:
        summary = retrieval.retrieve(
            object_store(cfg), opened, request, run_id=run_id, policy=cfg.fetch_policy(),
            provenance=run_provenance(context), endpoints=cfg.endpoints(), idle_timeout=cfg.crawl_idle_timeout,
            api_keys={"flickr": flickr_api_key(cfg)} if request["engine"] == "flickr" else None,
        )
    result = {"run_id": run_id, "engine": request["engine"], "keyword": request["keyword"], **summary.as_dict()}
    context["outlet_events"][RAW_IMAGES].extra = result
    return result


def plan_processing(params: dict[str, Any]) -> list[dict[str, Any]]:
    """gallery_process's plan: the batches of images the run's recipes and selection leave to do.
    Raises ValueError (the request is refused) for an unknown recipe or a bad selection."""
    from image_pipeline import process

    cfg = settings()
    recipes = list(params.get("recipes") or cfg.recipe_names())
    selection = process.ImageSelection(
        params.get("keyword") or None, params.get("label") or None, params.get("since") or None,
        params.get("until") or None)
    force = bool(params.get("force"))
    with catalog(cfg) as opened:
        batches = process.plan_batches(opened, recipes, int(params.get("batch_size") or 0), selection, force=force,
                                       features_version=features_version(cfg))
    return [{"index": i, "recipes": recipes, "force": force, "sha256s": b} for i, b in enumerate(batches)]


def run_processing_batch(batch: dict[str, Any]) -> dict[str, int]:
    """One batch of gallery_process (the plan's entry) through the engine."""
    from image_pipeline import process

    cfg = settings()
    with catalog(cfg) as opened:
        return process.process_batch(object_store(cfg), opened, batch["recipes"], batch["sha256s"],
                                     force=batch["force"], limits=cfg.limits(), **feature_extraction(cfg))


def features_version(cfg: Settings) -> int | None:
    """The version of the features processing records, None when features are off."""
    return None


def feature_extraction(cfg: Settings) -> dict[str, Any]:
    """The feature extractor processing calls, with its labeler (built once per worker process)."""
    return {}


def flickr_api_key(cfg: Settings) -> str:
    """The Flickr API key: the password of the Flickr connection."""
    try:
        return BaseHook.get_connection(cfg.flickr_conn_id).password or ""
    except AirflowNotFoundException:
        return ""  # the retrieval refuses the request with a message that names the connection


def run_provenance(context: dict[str, Any]) -> dict[str, Any]:
    """What a retrieval records about the run that found an image."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return {"data_interval": [start.isoformat(), end.isoformat()] if start and end else None}


def run_day(context: dict[str, Any], override: str | None = None) -> date:
    """The UTC day a run reports on: an explicit ``YYYY-MM-DD``, else the start of its data interval.

    Asset-triggered and manual runs may have no data interval; they report on the day they ran.
    """
    if override:
        return date.fromisoformat(override)
    start = context.get("data_interval_start")
    if start is None:
        start = context["dag_run"].run_after
    if not isinstance(start, datetime):
        start = datetime.fromisoformat(str(start))
    return start.astimezone(timezone.utc).date()
