"""
### gallery_process: recipes over the gallery

Finds the images whose recipe output is missing or made by an older recipe version, splits them
into batches (one mapped task per batch, so Airflow's per-task overhead stays small next to the
work), and writes each output to `processed/<recipe>/` in the object store. The seed recipe
`half_gray` halves width and height, converts to grayscale and encodes JPEG, decoding JPEGs at
half scale straight to grayscale. Images that cannot be decoded are quarantined with the reason;
the batch goes on.

Runs when `gallery_retrieve` updates the `gallery_raw_images` Asset, or by hand; emits
`gallery_processed_images` (which triggers analytics and delivery) when it changed anything.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import DEFAULT_ARGS, PROCESSED_IMAGES, RAW_IMAGES, START_DATE
from image_pipeline.processing import RECIPES


@dag(
    dag_id="gallery_process",
    schedule=[RAW_IMAGES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # two runs would plan the same pending images
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "process"],
    doc_md=__doc__,
    params={
        "recipe": Param("half_gray", type="string", enum=sorted(RECIPES), description="Recipe to apply."),
        "batch_size": Param(25, type="integer", minimum=1, maximum=1000, description="Images per mapped task."),
    },
)
def gallery_process():
    @task
    def plan_batches(params: dict) -> list[dict]:
        return af.plan_processing(params["recipe"], params["batch_size"])

    @task(map_index_template="{{ batch_name }}")
    def process_batch(batch: dict) -> dict:
        get_current_context()["batch_name"] = f"batch {batch['index']}: {len(batch['sha256s'])} images"
        return af.run_processing_batch(batch)

    @task(outlets=[PROCESSED_IMAGES])
    def summarize(results: list[dict], **context) -> dict:
        totals = {k: sum(r[k] for r in results) for k in ("processed", "quarantined", "skipped")}
        if not (totals["processed"] or totals["quarantined"]):
            raise AirflowSkipException(f"nothing changed: {totals}")  # no Asset event, no downstream run
        # Pass on which retrievals fed this run, so delivery can select exactly their images.
        events = context["triggering_asset_events"].get(RAW_IMAGES, [])
        run_ids = sorted({e.extra["run_id"] for e in events if "run_id" in (e.extra or {})})
        extra = {**totals, "retrieve_run_ids": run_ids}
        context["outlet_events"][PROCESSED_IMAGES].extra = extra
        return extra

    summarize(process_batch.expand(batch=plan_batches()))


gallery_process()
