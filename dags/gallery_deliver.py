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

from airflow.sdk import dag

from image_pipeline.airflow_adapter import DEFAULT_ARGS, PROCESSED_IMAGES, START_DATE
from image_pipeline.airflow_adapter import params as form
from image_pipeline.airflow_adapter.tasks import deliver, plan_deliveries


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
        **form.selection(run_id=True, purpose="Deliver the"),
        "recipe": form.recipe(section=form.DELIVERY),
        "recipient": form.email(required=False, title="Recipient", section=form.DELIVERY,
                                description="Email address; empty: GALLERY_EMAIL_TO."),
    },
)
def gallery_deliver():
    deliver.expand(request=plan_deliveries())


gallery_deliver()
