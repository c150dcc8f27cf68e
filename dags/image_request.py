"""
### image_request: keywords in, a ZIP of processed images in your inbox

The one-form flow: keywords, how many images, a recipe and an email address. One run retrieves
the images (any engine of `gallery_retrieve`: a search, a site with `site_url`, a list of `urls`),
processes just those with the recipe, archives them and emails the archive (attached, or linked
when large), once. Each step is its own task, so the run's page shows where the request is, and
each is retried on its own. The tasks run the same code as `gallery_retrieve`, `gallery_process`
and `gallery_deliver`; this DAG emits no Asset event, so the gallery DAGs do not act on its run.

The request is checked before anything is fetched or sent (engine, keywords, count, recipe,
email), and counted against its user's limit, however it was triggered (this form, the REST API, the
gallery): past `GALLERY_REQUEST_RATE_LIMIT` runs per `GALLERY_REQUEST_RATE_WINDOW` seconds, the run
fails at once with the gallery's message. The email is sent once per run, even when a task is
retried or cleared.
"""

from __future__ import annotations

from airflow.sdk import chain, dag

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import DEFAULT_ARGS, START_DATE
from image_pipeline.airflow_adapter import params as form
from image_pipeline.airflow_adapter.tasks import (
    check_request, deliver_archive, plan_processing, process_batch, retrieve_images,
)

OTHER_SOURCES = "Other sources and tuning"


@dag(
    dag_id="image_request",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "request"],
    doc_md=__doc__,
    params={
        "keywords": form.keywords(required=True),
        "count": form.count(af.settings().downloads.max_count),
        "recipe": form.recipe(),
        "email": form.email(required=True, title="Your email", description="Where the archive goes."),
        "engine": form.engine(section=OTHER_SOURCES),
        **form.source_details(section=OTHER_SOURCES),
        "batch_size": form.batch_size(section=OTHER_SOURCES),
    },
)
def image_request():
    # Its form read into an ImageRequest by each of its own tasks; retrieve_images and process_batch
    # are the gallery DAGs' own, for this run's images only, and no Asset events. check_request also
    # holds the per-user limit on requests, however the run was triggered.
    retrieved = retrieve_images.expand(request=check_request())
    batches = plan_processing()
    chain(retrieved, batches, process_batch.expand(batch=batches), deliver_archive())


image_request()
