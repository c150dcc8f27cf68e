"""The one module of the library that imports Airflow.

It turns :class:`~image_pipeline.settings.Settings` plus Airflow connections into the library's
backends (object store, catalog, mailer), and holds what the DAG files share: the Assets that
chain them and the default task arguments. Provider hooks are imported inside the functions, so
importing this module (and so parsing a DAG file) stays light.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

from airflow.sdk import Asset, BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from image_pipeline.catalog import Catalog, MongoCatalog, SqliteCatalog
from image_pipeline.mail import Mailer, OutboxMailer, SmtpMailer
from image_pipeline.settings import Settings
from image_pipeline.storage import ObjectStore, open_store

OWNER = "image-pipeline"
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

# Retrieve -> process -> analytics/deliver are chained by these Assets. Name-only on purpose: a URI
# with a scheme makes Airflow load every provider's URI normaliser (boto3 included) at parse time.
RAW_IMAGES = Asset(name="gallery_raw_images")
PROCESSED_IMAGES = Asset(name="gallery_processed_images")
DAILY_REPORTS = Asset(name="gallery_daily_reports")
ARCHIVES = Asset(name="gallery_archives")

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
