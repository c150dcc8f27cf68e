"""
### gallery_deliver: a ZIP of processed images, by email, once

Builds a ZIP of a selection of processed images (by keyword or by retrieval run) with a manifest
(CSV and JSON) and a README, stores it in the `archives/` zone under a content-derived name, and
emails it: attached when small, else as a link. Email goes through the `smtp_default` connection
when it exists, else into the `outbox/` zone as an `.eml` file.

Exactly once: a ledger in the catalog records each (archive, recipient) sent, so a retry or a
re-run never sends a second email. When `gallery_processed_images` triggers it, it delivers the
images of each retrieval run that fed the processing run to the default recipient.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from image_pipeline import airflow_adapter as af
from image_pipeline import delivery
from image_pipeline.airflow_adapter import ARCHIVES, DEFAULT_ARGS, PROCESSED_IMAGES, START_DATE
from image_pipeline.delivery import Selection
from image_pipeline.mail import validate_address
from image_pipeline.recipes import all_recipes


@dag(
    dag_id="gallery_deliver",
    schedule=[PROCESSED_IMAGES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "deliver"],
    doc_md=__doc__,
    params={
        "keyword": Param("", type="string", maxLength=100, description="Deliver the images with this keyword."),
        "run_id": Param("", type="string", maxLength=250, description="Or: the images of this gallery_retrieve run."),
        "recipe": Param("half_gray", type="string", enum=sorted(all_recipes())),
        "recipient": Param("", type="string", maxLength=254,
                           description="Email address; empty: GALLERY_EMAIL_TO."),
    },
)
def gallery_deliver():
    @task
    def plan_deliveries(params: dict, **context) -> list[dict]:
        """One delivery per selection; refuses a bad request before anything is built or sent."""
        recipient = params["recipient"] or af.settings().email_to
        try:
            validate_address(recipient)
            if params["keyword"] or params["run_id"]:
                selections = [Selection(params["recipe"], params["keyword"] or None, params["run_id"] or None)]
            else:
                events = context["triggering_asset_events"].get(PROCESSED_IMAGES, [])
                run_ids = sorted({r for e in events for r in (e.extra or {}).get("retrieve_run_ids", [])})
                selections = [Selection(params["recipe"], run_id=r) for r in run_ids]
        except ValueError as exc:
            raise AirflowFailException(f"invalid request: {exc}") from None
        if not selections:
            if context["dag_run"].run_type == "asset_triggered":  # processing no retrieval run fed
                raise AirflowSkipException("the processing run was not fed by a retrieval run: nothing to deliver")
            raise AirflowFailException("nothing to deliver: give a keyword or a run_id")
        return [{"recipe": s.recipe, "keyword": s.keyword, "run_id": s.run_id, "recipient": recipient}
                for s in selections]

    @task(outlets=[ARCHIVES], map_index_template="{{ delivery_name }}")
    def deliver(request: dict, **context) -> dict:
        selection = Selection(request["recipe"], request["keyword"], request["run_id"])
        get_current_context()["delivery_name"] = f"{selection.describe()} to {request['recipient']}"
        cfg = af.settings()
        store = af.object_store(cfg)
        with af.catalog(cfg) as catalog:
            entry = delivery.deliver(store, catalog, af.mailer(store, cfg), selection, recipient=request["recipient"],
                         sender=cfg.email_from, attach_max_bytes=cfg.attach_max_bytes,
                         link_expiry_seconds=cfg.link_expiry_seconds)
        context["outlet_events"][ARCHIVES].extra = {k: entry.get(k) for k in ("status", "archive_key", "images")}
        return entry

    deliver.expand(request=plan_deliveries())


gallery_deliver()
