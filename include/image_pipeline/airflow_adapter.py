"""The one module of the library that imports Airflow.

It turns :class:`~image_pipeline.settings.Settings` plus Airflow connections into the library's
backends (object store, catalog, mailer), and holds what the DAG files share: the Assets that
chain them, the default task arguments (with the failure notifier) and the task bodies several
DAGs run (retrieval, processing, delivery). Provider hooks are imported inside the functions, so
importing this module (and so parsing a DAG file) stays light.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, AsyncIterator, Iterator

from airflow.sdk import Asset, AssetWatcher, BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException
from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from image_pipeline import wiring
from image_pipeline.core.catalog import Catalog
from image_pipeline.core.storage import ObjectStore
from image_pipeline.deliver.mail import HttpApiMailer, Mailer, SmtpMailer, compose
from image_pipeline.settings import Settings

log = logging.getLogger(__name__)

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
        from image_pipeline.retrieve.inbox import INBOX

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


class FailureEmailNotifier(BaseNotifier):
    """Emails ``GALLERY_OPERATOR_EMAIL`` when a task has failed for good (no retry left), through
    the same channel as deliveries (SMTP, the HTTPS API or the outbox); only logs when unset."""

    template_fields = ()

    def notify(self, context: dict[str, Any]) -> None:
        cfg = settings()
        ti = context["ti"]
        what = f"{ti.dag_id}.{ti.task_id}" + (f"[{ti.map_index}]" if ti.map_index >= 0 else "")
        if not cfg.operator_email:
            log.warning("%s failed for good in run %s (GALLERY_OPERATOR_EMAIL unset: no email)", what, ti.run_id)
            return
        exception = context.get("exception")
        body = (
            f"{what} failed for good (try {ti.try_number}) in run {ti.run_id} of DAG {ti.dag_id}.\n\n"
            f"Error: {type(exception).__name__ if exception else 'unknown'}: {exception}\n\n"
            f"Log: {getattr(ti, 'log_url', '') or 'see the task log in the Airflow UI'}\n\n-- Image Pipeline\n"
        )
        key = hashlib.sha256(f"failure|{ti.dag_id}|{ti.run_id}|{ti.task_id}|{ti.map_index}|{ti.try_number}".encode())
        msg = compose(sender=cfg.email_from, recipient=cfg.operator_email, subject=f"[image-pipeline] {what} failed",
                      body=body, delivery_id=key.hexdigest())
        store = object_store(cfg)
        mailer(store, cfg).send(msg)


DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
    "retry_exponential_backoff": 2.0,  # 15 s, 30 s, ... capped below
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=60),
    # Called once a task has no retry left: the operator hears of every DAG that fails for good.
    "on_failure_callback": FailureEmailNotifier(),
}


def settings() -> Settings:
    return wiring.settings()


def _s3_client(aws_conn_id: str) -> Any:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=aws_conn_id).get_conn()


def object_store(cfg: Settings | None = None) -> ObjectStore:
    cfg = cfg or settings()
    return wiring.object_store(cfg, lambda: _s3_client(cfg.aws_conn_id))


@contextmanager
def catalog(cfg: Settings | None = None) -> Iterator[Catalog]:
    cfg = cfg or settings()

    def mongo_client() -> Any:
        from airflow.providers.mongo.hooks.mongo import MongoHook

        return MongoHook(mongo_conn_id=cfg.mongo_conn_id).get_conn()

    with wiring.catalog(cfg, mongo_client) as opened:
        yield opened


def mailer(store: ObjectStore, cfg: Settings | None = None) -> Mailer:
    """The channel ``GALLERY_EMAIL`` selects: SMTP through its connection, the HTTPS email API
    through its HTTP connection, or the outbox; ``auto`` takes the first whose connection exists."""
    cfg = cfg or settings()
    return wiring.mailer(cfg, store, smtp=lambda: smtp_mailer(BaseHook.get_connection(cfg.smtp_conn_id)),
                         api=lambda: email_api_mailer(BaseHook.get_connection(cfg.email_api_conn_id)),
                         missing=(AirflowNotFoundException,))


def smtp_mailer(conn: Any) -> SmtpMailer:
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


def email_api_mailer(conn: Any) -> HttpApiMailer:
    """A Resend-compatible API from an HTTP connection: host (``api.resend.com`` or a full URL),
    schema (``https`` by default), port, password = API key, extra ``endpoint`` (``/emails``)."""
    extra = conn.extra_dejson
    host = (conn.host or "").rstrip("/")
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}" + (f":{conn.port}" if conn.port else "")
    return HttpApiMailer(url=host + "/" + str(extra.get("endpoint", "/emails")).lstrip("/"),
                         api_key=conn.password or "", timeout=float(extra.get("timeout", 30)))


def set_outlet_extra(context: dict[str, Any], asset: Asset, extra: dict[str, Any]) -> None:
    """The Asset event's extra, when the running task has ``asset`` among its outlets (a shared task
    body may run in a DAG that emits no event, e.g. ``image_request``)."""
    task = context.get("task")
    if task is None or any(getattr(o, "name", None) == asset.name for o in task.outlets):
        context["outlet_events"][asset].extra = extra


def run_retrieval(request: dict, context: dict[str, Any]) -> dict[str, Any]:
    """One validated retrieval request in a task: the body gallery_retrieve and gallery_inbox share.
    Sets the Asset event's extra on ``RAW_IMAGES`` to the summary."""
    from image_pipeline import retrieve as retrieval

    cfg = settings()
    run_id = context["run_id"]
    with catalog(cfg) as opened:
        summary = retrieval.retrieve(
            object_store(cfg), opened, request, run_id=run_id, policy=wiring.fetch_policy(cfg),
            provenance=run_provenance(context), endpoints=cfg.endpoints(), idle_timeout=cfg.crawl_idle_timeout,
            api_keys={"flickr": flickr_api_key(cfg)} if request["engine"] == "flickr" else None,
        )
    result = {"run_id": run_id, "engine": request["engine"], "keyword": request["keyword"], **summary.as_dict()}
    set_outlet_extra(context, RAW_IMAGES, result)
    return result


def plan_processing(params: dict[str, Any], run_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """The batches of images the run's recipes and selection leave to do: gallery_process's plan,
    and image_request's (``run_ids``: only the images those retrieval runs brought). The one place
    the DAGs call processing's planning. Raises ValueError (the request is refused) for an unknown
    recipe or a bad selection."""
    import math

    from image_pipeline import process
    from image_pipeline.core.selection import Selection

    cfg = settings()
    recipes = list(params.get("recipes") or cfg.recipe_names())
    selection = Selection(keyword=params.get("keyword") or None, label=params.get("label") or None,
                          since=params.get("since") or None, until=params.get("until") or None)
    force = bool(params.get("force"))
    with catalog(cfg) as opened:
        batches = process.plan_batches(opened, recipes, int(params.get("batch_size") or 0), selection, force=force,
                                       features_version=features_version(cfg), book=wiring.recipe_book(cfg))
        if run_ids is not None:
            wanted = {d["sha256"] for run_id in run_ids for d in opened.find(run_id=run_id)}
            todo = [sha for batch in batches for sha in batch if sha in wanted]
            size = max(int(params.get("batch_size") or 0) or process.auto_batch_size(len(todo)),
                       math.ceil(len(todo) / process.MAX_BATCHES))
            batches = [todo[i:i + size] for i in range(0, len(todo), size)]
    return [process.ProcessingBatch(i, recipes, force, b).to_dict() for i, b in enumerate(batches)]


def run_processing_batch(batch: dict[str, Any]) -> dict[str, int]:
    """One batch of gallery_process (the plan's entry) through the engine."""
    from image_pipeline import process

    cfg = settings()
    batch = process.ProcessingBatch.from_dict(batch)
    with catalog(cfg) as opened:
        return process.process_batch(object_store(cfg), opened, batch.recipes, batch.sha256s, force=batch.force,
                                     limits=wiring.limits(cfg), book=wiring.recipe_book(cfg), **feature_extraction(cfg))


def features_version(cfg: Settings) -> int | None:
    """The version of the features processing records, None when features are off."""
    return wiring.features_version(cfg)


def feature_extraction(cfg: Settings) -> dict[str, Any]:
    """The feature extractor processing calls, with its labeler (built once per worker process);
    Rekognition's client comes from the ``aws_default`` connection."""
    def rekognition():
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=cfg.aws_conn_id, client_type="rekognition").get_conn()

    return wiring.feature_extraction(cfg, rekognition)


def delivery_occasion(context: dict[str, Any], per_run: bool = False) -> str | None:
    """What a delivery is for, in the ledger's key: the run itself (a request), else the run's data
    interval when it has one (a subscription's period), else None (the archive's content)."""
    if per_run:
        return f"request:{context['dag'].dag_id}/{context['run_id']}"
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start and end and start != end:
        return f"interval:{start.isoformat()}/{end.isoformat()}"
    return None


def run_delivery(request: dict, context: dict[str, Any]) -> dict[str, Any]:
    """The body of every delivery task (gallery_deliver, the subscriptions, image_request):
    ``request`` is a :class:`~image_pipeline.deliver.request.DeliveryRequest` as a dict:
    ``{"selection": {"recipe": ..., ...}, "recipient": ..., "occasion": ...}``."""
    from image_pipeline import deliver as delivery

    cfg = settings()
    store = object_store(cfg)
    try:
        asked = delivery.DeliveryRequest.from_dict(request)
        recipe = wiring.recipe_book(cfg).get(asked.recipe)
        with catalog(cfg) as opened:
            entry = delivery.deliver(
                store, opened, mailer(store, cfg), asked.selection, recipe, recipient=asked.recipient,
                sender=cfg.email_from, attach_max_bytes=cfg.attach_max_bytes, link_expiry_seconds=cfg.link_expiry_seconds,
                occasion=asked.occasion, templates_dir=cfg.email_templates,
            )
    except (delivery.DeliveryUncertain, ValueError) as exc:  # retrying cannot help: an operator must look
        raise AirflowFailException(str(exc)) from None
    set_outlet_extra(context, ARCHIVES, {k: entry.get(k) for k in ("status", "archive_key", "images")})
    return entry


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
