"""
### gallery_deliver: a ZIP of processed images, by email, exactly once

Builds a ZIP of a selection of processed images (by keyword, label, retrieval run and/or a range of
retrieval dates, for one recipe) with a manifest (CSV and JSON: file, source URL, keywords,
dimensions, bytes, labels, licence hint) and a README, streamed to disk one image at a time, and
stores it in the `archives/` zone under a name derived from its content (a retry reuses it). The
email is attached when the archive is small (`GALLERY_ATTACH_MAX_BYTES`), else it carries a link
(an S3 presigned URL, or the local path). It goes by SMTP (`smtp_default`), a Resend-compatible
HTTPS API (`email_api_default`) or into the `outbox/` zone, as `GALLERY_EMAIL` says; subject and
body come from the Jinja templates in `config/email/`.

Exactly once: a ledger in the catalog, keyed by (selection, recipient, content), records each
delivery before and after it is handed to the channel, so a retry or a re-run never sends a second
email. When `gallery_processed_images` triggers it, it delivers the images of each retrieval run
that fed the processing run to `GALLERY_EMAIL_TO`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import ARCHIVES, DEFAULT_ARGS, PROCESSED_IMAGES, START_DATE
from image_pipeline.deliver.request import DeliveryRequest
from image_pipeline.deliver.mail import validate_address
from image_pipeline.wiring import all_recipes

DATE = r"^(\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?)?$"


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
        "label": Param("", type="string", maxLength=100, description="And/or: with this content label."),
        "run_id": Param("", type="string", maxLength=250, description="And/or: the images of this retrieval run."),
        "since": Param("", type="string", pattern=DATE, description="And/or: retrieved from this date (UTC)..."),
        "until": Param("", type="string", pattern=DATE, description="... until this date (excluded)."),
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
        fields = ("keyword", "label", "run_id", "since", "until")
        try:
            validate_address(recipient)
            if any(params[f] for f in fields):
                selections = [DeliveryRequest.for_selection({f: params[f] for f in (*fields, "recipe")}, recipient)]
            else:
                events = context["triggering_asset_events"].get(PROCESSED_IMAGES, [])
                run_ids = sorted({r for e in events for r in (e.extra or {}).get("retrieve_run_ids", [])})
                selections = [DeliveryRequest.for_selection({"recipe": params["recipe"], "run_id": r}, recipient)
                              for r in run_ids]
        except ValueError as exc:
            raise AirflowFailException(f"invalid request: {exc}") from None
        if not selections:
            if context["dag_run"].run_type == "asset_triggered":  # processing no retrieval run fed
                raise AirflowSkipException("the processing run was not fed by a retrieval run: nothing to deliver")
            raise AirflowFailException("nothing to deliver: give a keyword, label, run_id or date range")
        return [{**s.to_dict(), "name": f"{s.describe()} to {recipient}"} for s in selections]

    @task(outlets=[ARCHIVES], map_index_template="{{ delivery_name }}")
    def deliver(request: dict, **context) -> dict:
        get_current_context()["delivery_name"] = request["name"]
        return af.run_delivery(request, context)

    deliver.expand(request=plan_deliveries())


gallery_deliver()
