"""
### gallery_process: recipes over the gallery

Finds the images whose recipe outputs are missing or were made by another version of the recipe
(editing a recipe redoes exactly its outputs), and whose features (EXIF, perceptual hash,
colours, brightness, blur, faces, labels) are not recorded yet. It splits them into batches (one
mapped task per batch, sized so Airflow's per-task overhead stays small next to the work) and
runs each image through the engine: **one decode for every recipe**, at the smallest scale they
all allow (JPEG DCT scaling), each output written to `processed/<recipe>/` under the image's hash.
Images that cannot be processed (broken, too many pixels or frames, over the time limit) are
quarantined with the reason; the batch goes on.

Runs when `gallery_retrieve` updates `gallery_raw_images`, on `GALLERY_PROCESS_SCHEDULE`, or by
hand: the form picks the recipes and narrows the run to a keyword, a label or a retrieval date
range; `force` redoes that selection even when it is up to date. Emits
`gallery_processed_images` (which triggers analytics and delivery) when it changed anything.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import DEFAULT_ARGS, PROCESSED_IMAGES, RAW_IMAGES, START_DATE
from image_pipeline.wiring import all_recipes

CFG = af.settings()
DATE = r"^(\d{4}-\d{2}-\d{2}(T[0-9:.+Z-]+)?)?$"


@dag(
    dag_id="gallery_process",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(CFG.process_schedule, timezone="UTC"), assets=[RAW_IMAGES]),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # two runs would plan the same pending images
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "process"],
    doc_md=__doc__,
    params={
        "recipes": Param(CFG.recipe_names(), type="array", items={"type": "string", "enum": sorted(all_recipes())},
                         minItems=1, description="Recipes to produce (every selected image, one decode)."),
        "keyword": Param("", type="string", maxLength=100, description="Only images retrieved for this keyword."),
        "label": Param("", type="string", maxLength=100, description="Only images with this label."),
        "since": Param("", type="string", pattern=DATE, description="Only images retrieved on or after (YYYY-MM-DD)."),
        "until": Param("", type="string", pattern=DATE, description="Only images retrieved before (YYYY-MM-DD)."),
        "force": Param(False, type="boolean", description="Redo the selection even where up to date."),
        "batch_size": Param(0, type="integer", minimum=0, maximum=1000,
                            description="Images per mapped task; 0 chooses from the number of images."),
    },
)
def gallery_process():
    @task
    def plan_batches(params: dict) -> list[dict]:
        try:
            return af.plan_processing(params)
        except ValueError as exc:  # refused before anything is written
            raise AirflowFailException(f"invalid request: {exc}") from None

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
