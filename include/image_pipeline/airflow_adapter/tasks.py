"""The DAGs' tasks, as reusable TaskFlow tasks: each DAG file composes these (with ``.override(...)``
where a DAG differs: an outlet, a pool), so the DAG files read as tables of contents.

A DAG's first task reads its form into the DAG's own request (:mod:`.requests`: ``plan_batches``
makes a :class:`~.requests.ProcessRequest`, ``check_request`` an :class:`~.requests.ImageRequest`)
and hands it to the bodies the DAGs share (:func:`plan_retrieval`, :func:`batches_to_process`,
:func:`run_delivery`), which take typed requests and never look at which fields a form has. The
tasks after the first take the library's requests through XCom, and ``image_request`` runs the
gallery DAGs' own (``retrieve_images``, ``process_batch``) on the requests it makes.

Every body opens its backends through :mod:`.hooks`; a request the library refuses fails the task
for good through :func:`~.params.refusing_invalid`.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from image_pipeline import wiring
from image_pipeline.core.errors import InvalidRequest, RecipeError
from image_pipeline.core.redact import redact_url
from image_pipeline.airflow_adapter import params as form
from image_pipeline.airflow_adapter.assets import (
    ARCHIVES, DAILY_REPORTS, DOWNLOAD_POOL, MAINTENANCE_REPORTS, PROCESSED_IMAGES, RAW_IMAGES,
)
from image_pipeline.airflow_adapter.context import delivery_occasion, run_day, run_provenance, set_outlet_extra
from image_pipeline.airflow_adapter.hooks import (
    CREDENTIALS, catalog, feature_extraction, features_version, mailer, object_store, settings,
)
from image_pipeline.airflow_adapter.requests import (
    AnalyticsRequest, DeliverRequest, ImageRequest, InboxRequest, ProcessRequest, RetrieveRequest,
)

SCHEDULED = ("scheduled", "backfill")


# --- retrieval -----------------------------------------------------------------------------------

@task
def plan_requests(params: dict, **context) -> list[dict]:
    """gallery_retrieve's first task: its form's search (:class:`~.requests.RetrieveRequest`), or the
    saved searches, planned by :func:`plan_retrieval`."""
    return plan_retrieval(RetrieveRequest.from_params(params), context)


@task(pool=DOWNLOAD_POOL, map_index_template="{{ request_name }}")
def retrieve_images(request: dict, **context) -> dict:
    get_current_context()["request_name"] = f"{request['engine']}: {request['keyword']}"
    return run_retrieval(request, context)


@task(outlets=[RAW_IMAGES], pool=DOWNLOAD_POOL)
def ingest_inbox(params: dict, **context) -> dict:
    from image_pipeline.retrieve import validate_request

    asked = InboxRequest.from_params(params)
    with form.refusing_invalid("keyword"):
        (request,) = validate_request(engine="inbox", keywords=[asked.keyword])
    result = run_retrieval(request, context)
    if context["dag_run"].run_type == "asset_triggered" and not any(result[k] for k in INBOX_OUTCOMES):
        # An event whose files an earlier run took (an upload's event and the watcher's for the same
        # files): no event of gallery_raw_images, or a run of gallery_process would plan nothing while
        # the next one, with work to do, waits for it (max_active_runs=1).
        raise AirflowSkipException("the inbox was empty: its files were ingested by an earlier run")
    return result


INBOX_OUTCOMES = ("new", "duplicate", "quarantined", "failed")  # a file of the inbox had one of these


# --- processing ----------------------------------------------------------------------------------

# A plan of at most this many images (an upload's few photos) is processed by the planning task itself:
# on two busy cores a task's start (the scheduler's loop, a process, the DAG file's imports) costs 1-2 s,
# more than such a batch's work, and the photos show processed that much sooner. Larger plans fan out.
INLINE_IMAGES = 3
PROCESSED_HERE = "processed_here"  # plan_batches' XCom: its own batch's counts ({} when it mapped them all)


@task
def plan_batches(params: dict, **context) -> list[dict]:
    """gallery_process's first task: the batches its form's recipes and selection leave to do
    (:class:`~.requests.ProcessRequest`, :func:`batches_to_process`), refused before anything is
    written when invalid. At most ``INLINE_IMAGES`` images are processed here, as one batch, and
    nothing is left to map (a retry plans again what is left: both steps are idempotent); their
    counts go to ``summarize`` through the XCom ``processed_here``."""
    with form.refusing_invalid():
        batches = batches_to_process(ProcessRequest.from_params(params), retried_by=triggered_by(context))
    images = [sha for batch in batches for sha in batch["sha256s"]]
    here = {**batches[0], "sha256s": images} if batches and len(images) <= INLINE_IMAGES else None
    done = run_processing_batch(here, run_id=context["run_id"], dag_id=context["dag_run"].dag_id) if here else {}
    context["ti"].xcom_push(key=PROCESSED_HERE, value=done)  # {} rather than None: None is not stored
    return [] if here else batches


@task(map_index_template="{{ batch_name }}")
def process_batch(batch: dict, **context) -> dict:
    get_current_context()["batch_name"] = f"batch {batch['index']}: {len(batch['sha256s'])} images"
    return run_processing_batch(batch, run_id=context["run_id"], dag_id=context["dag_run"].dag_id)


PROBLEMS_IN_SUMMARY = 100  # problems the run's summary names (the counts are exact)


# none_failed: also when plan_batches processed the images itself and mapped no batch (skipped).
@task(outlets=[PROCESSED_IMAGES], trigger_rule="none_failed")
def summarize(results: list[dict], processed_here: dict | None = None, **context) -> dict:
    """The run's counts (its batches', and the planning task's own batch), and the images it had
    problems with (logged, and in the returned summary): quarantined, failed outputs, unexpected
    failures still to be tried again."""
    import logging

    from image_pipeline.process import COUNTS

    results = [*(results or []), *([processed_here] if processed_here else [])]
    totals = {k: sum(r.get(k, 0) for r in results) for k in COUNTS}
    problems = [p for r in results for p in r.get("problems", [])][:PROBLEMS_IN_SUMMARY]
    for p in problems:
        logging.getLogger(__name__).warning("%s %s%s: %s", p["kind"], p["sha256"],
                                            f" ({p['recipe']})" if p.get("recipe") else "", p["reason"])
    if not (totals["processed"] or totals["quarantined"]):
        # No Asset event, no downstream run; the problems are named above.
        raise AirflowSkipException(f"nothing changed: {totals}")
    # Pass on which retrievals fed this run, so delivery can select exactly their images.
    events = context["triggering_asset_events"].get(RAW_IMAGES, [])
    run_ids = sorted({e.extra["run_id"] for e in events if "run_id" in (e.extra or {})})
    extra = {**totals, "retrieve_run_ids": run_ids}
    context["outlet_events"][PROCESSED_IMAGES].extra = extra
    return {**extra, "problems": problems}


# --- analytics -----------------------------------------------------------------------------------

@task(outlets=[DAILY_REPORTS])
def daily_report(params: dict, **context) -> dict:
    from image_pipeline.analytics import write_daily_report

    with form.refusing_invalid():
        day = run_day(context, AnalyticsRequest.from_params(params).day)
    with catalog() as opened:
        report = write_daily_report(object_store(), opened, day, wiring.recipe_book(settings(), opened).names())
    context["outlet_events"][DAILY_REPORTS].extra = report  # the headline numbers
    return report


# Every rollup reads all partitions; one at a time, so a slower one never overwrites a newer one.
@task(max_active_tis_per_dag=1)
def overview() -> dict:
    from image_pipeline.analytics import rollup

    return rollup(object_store())["totals"]


# --- delivery ------------------------------------------------------------------------------------

@task
def plan_deliveries(params: dict, **context) -> list[dict]:
    """One delivery per selection: the form's, else one per retrieval run that fed the processing
    run which triggered this one. Refuses a bad request before anything is built or sent."""
    from image_pipeline.deliver.mail import validate_address
    from image_pipeline.deliver.request import DeliveryRequest

    asked = DeliverRequest.from_params(params)
    recipient = asked.recipient or settings().email.email_to
    with form.refusing_invalid("recipient"):
        validate_address(recipient)
    check_recipe(asked.recipe)
    with form.refusing_invalid():
        chosen = asked.chosen()
        if chosen:
            selections = [chosen]
        else:  # one per retrieval run that fed the processing run
            events = context["triggering_asset_events"].get(PROCESSED_IMAGES, [])
            run_ids = sorted({r for e in events for r in (e.extra or {}).get("retrieve_run_ids", [])})
            selections = [{"run_id": r} for r in run_ids]
        requests = [DeliveryRequest.for_selection({**s, "recipe": asked.recipe}, recipient) for s in selections]
    if not requests:
        if context["dag_run"].run_type == "asset_triggered":  # processing no retrieval run fed
            raise AirflowSkipException("the processing run was not fed by a retrieval run: nothing to deliver")
        raise AirflowFailException("nothing to deliver: give a keyword, label, run_id or date range")
    return [{**r.to_dict(), "name": f"{r.describe()} to {recipient}"} for r in requests]


@task(outlets=[ARCHIVES], map_index_template="{{ delivery_name }}")
def deliver(request: dict, **context) -> dict:
    get_current_context()["delivery_name"] = request["name"]
    return run_delivery(request, context)


# --- image_request: its form (an ImageRequest) read by each of its own tasks ---------------------

@task
def check_request(params: dict, **context) -> list[dict]:
    """image_request's first task: the run counted against its user's limit
    (:func:`check_request_limit`), then its form refused before anything is downloaded or stored
    (the email, the recipe, the search); one retrieval request per task, as gallery_retrieve's."""
    from image_pipeline.deliver.mail import validate_address

    check_request_limit(context)
    asked = ImageRequest.from_params(params)
    with form.refusing_invalid("email"):
        validate_address(asked.email)
    check_recipe(asked.recipe)
    return plan_retrieval(asked.search, context)


@task
def plan_processing(params: dict, **context) -> list[dict]:
    """image_request's batches: its recipe over exactly the images this run retrieved."""
    with form.refusing_invalid():
        asked = ImageRequest.from_params(params).processing(context["run_id"])
        return batches_to_process(asked, retried_by=triggered_by(context))


@task(trigger_rule="none_failed")  # runs when every image was processed already (no batch)
def deliver_archive(params: dict, **context) -> dict:
    """A request's archive: the images this run retrieved, to the form's email, once per run."""
    asked = ImageRequest.from_params(params).delivery(context["run_id"], delivery_occasion(context, per_run=True))
    entry = run_delivery(asked.to_dict(), context)
    if entry["status"] == "empty":
        raise AirflowFailException("no image of this request could be retrieved and processed: nothing to send")
    return entry


# --- maintenance ---------------------------------------------------------------------------------

MISSING_IN_EXTRA = 100  # the Asset event lists at most this many missing objects (the count is exact)


@task
def purge_trash() -> dict:
    """Images trashed longer ago than GALLERY_TRASH_RETENTION_DAYS: objects, then records."""
    from datetime import timedelta

    from image_pipeline import maintain

    cfg = settings()
    with catalog(cfg) as opened:
        purged = maintain.purge_trash(object_store(cfg), opened, timedelta(days=cfg.maintenance.trash_retention_days))
    return {"purged": len(purged), "sha256s": purged[:MISSING_IN_EXTRA]}


@task
def remove_orphans() -> dict:
    """Image objects no record names, older than GALLERY_ORPHAN_GRACE_HOURS."""
    from datetime import timedelta

    from image_pipeline import maintain

    cfg = settings()
    store = object_store(cfg)
    with catalog(cfg) as opened:
        report = maintain.check(store, opened, grace=timedelta(hours=cfg.maintenance.orphan_grace_hours))
        removed = maintain.remove_orphans(store, opened, report.orphans)
    return {"removed": len(removed), "keys": removed[:MISSING_IN_EXTRA],
            "young_unreferenced": report.young_unreferenced}


@task(outlets=[MAINTENANCE_REPORTS])
def check_objects(**context) -> dict:
    """Every record's objects exist: what is missing goes to the log and the Asset event's extra."""
    import logging
    from datetime import timedelta

    from image_pipeline import maintain

    cfg = settings()
    with catalog(cfg) as opened:
        report = maintain.check(object_store(cfg), opened, grace=timedelta(hours=cfg.maintenance.orphan_grace_hours))
    for entry in report.missing:
        logging.getLogger(__name__).warning("missing: %s (%s of image %s)", entry["key"], entry["what"],
                                            entry["sha256"])
    extra = {"records": report.records, "objects": report.objects, "missing_count": len(report.missing),
             "missing": report.missing[:MISSING_IN_EXTRA], "orphans": len(report.orphans)}
    context["outlet_events"][MAINTENANCE_REPORTS].extra = extra
    return extra


# --- the bodies ----------------------------------------------------------------------------------

def check_request_limit(context: dict[str, Any]) -> None:
    """The per-user limit on image requests, where every way of triggering passes (the REST API, the
    trigger form, the gallery, the CLI): the run is recorded in the catalog's request ledger and,
    past the limit, fails for good with the gallery's 429 message (:mod:`image_pipeline.core.request_limit`
    says why here and what counts)."""
    from datetime import datetime, timezone

    from image_pipeline.core.request_limit import TooManyRequests, admit

    cfg = settings()
    dag_run = context["dag_run"]
    # No triggering user (a CLI trigger without an OS user, a trigger from an unattended run): the
    # library counts the run against the shared "anonymous" user, limited together rather than not at all.
    # The run's time is when Airflow started it: its run_after is the REST caller's to set.
    started = dag_run.start_date or datetime.now(timezone.utc)
    with catalog(cfg) as opened:
        try:
            admit(opened, dag_run.run_id, dag_run.triggering_user_name, started, cfg.gallery.request_rate_limit,
                  cfg.gallery.request_rate_window)
        except TooManyRequests as exc:  # the request's fault, its words as they are: no retry
            raise AirflowFailException(str(exc)) from None


def check_recipe(name: str) -> None:
    """A form's recipe is a file's or a saved one (the catalog's): else the request is refused."""
    cfg = settings()
    with form.refusing_invalid("recipe"), catalog(cfg) as opened:
        wiring.recipe_book(cfg, opened).get(name)


def plan_retrieval(asked: RetrieveRequest, context: dict[str, Any]) -> list[dict[str, Any]]:
    """A run's retrieval requests, refused before anything is downloaded or stored, one per task (XCom
    dicts of :class:`~image_pipeline.retrieve.request.RetrievalRequest`): a manual run's are the
    form's search; scheduled and backfill runs take the saved searches, narrowed to their data
    interval. Skips the task when there is nothing to retrieve."""
    from image_pipeline import retrieve as retrieval

    cfg = settings()
    with form.refusing_invalid():
        requests = retrieval.plan_requests(
            asked.given(), scheduled=context["dag_run"].run_type in SCHEDULED,
            searches_file=cfg.downloads.searches_file, max_count=cfg.downloads.max_count,
            window=(context.get("data_interval_start"), context.get("data_interval_end")),
        )
    if not requests:
        raise AirflowSkipException(f"no saved searches in {cfg.downloads.searches_file}")
    return [retrieval.RetrievalRequest.from_dict(r).to_dict() for r in requests]  # one per task, through XCom


def run_retrieval(request: dict, context: dict[str, Any]) -> dict[str, Any]:
    """One validated retrieval request in a task: the body gallery_retrieve and gallery_inbox share.
    Sets the Asset event's extra on ``RAW_IMAGES`` to the summary."""
    from image_pipeline import retrieve as retrieval

    cfg = settings()
    run_id = context["run_id"]
    asked = retrieval.RetrievalRequest.from_dict(request)  # the XCom dict, typed again
    credentials = {asked.engine: CREDENTIALS[asked.engine](cfg)} if asked.engine in CREDENTIALS else None
    with catalog(cfg) as opened:
        summary = retrieval.retrieve(
            object_store(cfg), opened, asked, run_id=run_id, policy=wiring.fetch_policy(cfg),
            provenance=run_provenance(context), endpoints=cfg.downloads.endpoints(),
            idle_timeout=cfg.downloads.crawl_idle_timeout,
            api_keys=credentials,
        )
    result = {"run_id": run_id, "engine": asked.engine, "keyword": asked.keyword, **summary.as_dict()}
    set_outlet_extra(context, RAW_IMAGES, result)
    return result


def triggered_by(context: dict[str, Any]) -> str:
    """Who a run acts for (a history entry's ``by``): the user who triggered it, else the run's id."""
    return getattr(context.get("dag_run"), "triggering_user_name", None) or f"run {context.get('run_id')}"


def batches_to_process(asked: ProcessRequest, retried_by: str = "gallery_process") -> list[dict[str, Any]]:
    """The batches of images the request's recipes and selection (keyword, label, retrieval run, days)
    leave to do, planned by the library, after the images an older release quarantined as
    unexpected are lifted once (:func:`~image_pipeline.process.recovery.upgrade_retries`). With
    ``retry``, the selection's failed images (without a selection, every failed image, the first
    ``MAX_IMAGES`` by sha256) are tried again: the run processes exactly them, with its recipes and
    those whose outputs failed. Raises InvalidRequest (the request is refused) for an unknown
    recipe or a bad selection."""
    from image_pipeline import process
    from image_pipeline.core.selection import MAX_IMAGES, Selection
    from image_pipeline.process import recovery

    cfg = settings()
    # + the gallery's thumbnails
    recipes = wiring.processing_recipes(cfg, list(asked.recipes) or cfg.processing.recipe_names())
    selection, force = asked.selection, asked.force
    with catalog(cfg) as opened:
        book = wiring.recipe_book(cfg, opened)
        for name in recipes:
            book.get(name)  # an unknown recipe is refused before anything is lifted or retried
        recovery.upgrade_retries(opened)
        if asked.retry:
            failed = {d["sha256"]: d for d in opened.problems()}
            chosen = sorted(set(failed) if selection.everything else set(failed) & selection.sha256s(opened))
            if chosen:
                chosen = chosen[:MAX_IMAGES]  # the rest is the next retry's
                recipes += [r for r in recovery.failed_recipes((failed[s] for s in chosen), book.names())
                            if r not in recipes]
                recovery.retry_images(object_store(cfg), opened, chosen, retried_by)
                selection = Selection(images=tuple(chosen))  # the run remakes exactly what it retried
        batches = process.plan_batches(opened, recipes, asked.batch_size or 0, selection, force=force,
                                       features_version=features_version(cfg), book=book,
                                       slots=cfg.processing.process_slots)
    return [process.ProcessingBatch(i, recipes, force, b).to_dict() for i, b in enumerate(batches)]


def run_processing_batch(batch: dict[str, Any], run_id: str | None = None, dag_id: str | None = None) -> dict[str, Any]:
    """One batch of gallery_process (the plan's entry) through the engine: its counts and problems,
    and the seconds the library took (the task's duration less these is Airflow's cost of the task).
    The environment's failures raise (the task fails, Airflow retries it); the others are the batch's
    to record (:mod:`image_pipeline.process.batches`)."""
    import time

    from image_pipeline import process

    started = time.perf_counter()
    cfg = settings()
    batch = process.ProcessingBatch.from_dict(batch)
    with catalog(cfg) as opened:
        counts = process.process_batch(object_store(cfg), opened, batch.recipes, batch.sha256s, force=batch.force,
                                       limits=wiring.limits(cfg), book=wiring.recipe_book(cfg, opened),
                                       run_id=run_id, dag_id=dag_id, max_attempts=cfg.processing.max_attempts,
                                       **feature_extraction(cfg))
    return {**counts, "seconds": round(time.perf_counter() - started, 3)}


def run_delivery(request: dict, context: dict[str, Any]) -> dict[str, Any]:
    """The body of every delivery task (gallery_deliver, the subscriptions, image_request):
    ``request`` is a :class:`~image_pipeline.deliver.request.DeliveryRequest` as a dict:
    ``{"selection": {"recipe": ..., ...}, "recipient": ..., "occasion": ...}``."""
    from image_pipeline import deliver as delivery

    cfg = settings()
    store = object_store(cfg)
    try:
        asked = delivery.DeliveryRequest.from_dict(request)
        with catalog(cfg) as opened:
            recipe = wiring.recipe_book(cfg, opened).get(asked.recipe)
            entry = delivery.deliver(
                store, opened, mailer(store, cfg), asked.selection, recipe, recipient=asked.recipient,
                sender=cfg.email.email_from, attach_max_bytes=cfg.email.attach_max_bytes,
                link_expiry_seconds=cfg.email.link_expiry_seconds,
                occasion=asked.occasion, templates_dir=cfg.email.email_templates,
            )
    except (delivery.DeliveryUncertain, InvalidRequest, RecipeError) as exc:  # retrying cannot help: an operator
        raise AirflowFailException(str(exc)) from None  # must look (uncertain), or the request is refused
    set_outlet_extra(context, ARCHIVES, {k: entry.get(k) for k in ("status", "archive_key", "images")})
    return {**entry, "link": redact_url(entry["link"])} if entry.get("link") else entry  # XCom: no signature
