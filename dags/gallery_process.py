"""
### gallery_process: recipes over the gallery

Finds the images whose recipe outputs are missing or were made by another version of the recipe
(editing a recipe redoes exactly its outputs), and whose features (EXIF, perceptual hash,
colours, brightness, blur, faces, labels) are not recorded yet. It splits them into batches (one
mapped task per batch; as many at once as the `gallery_processing` pool has slots,
`GALLERY_PROCESS_SLOTS`, default 4: set it to the workers' cores in all; and by default one batch
per slot up to 500 images, so Airflow's cost per task, a process, the imports and the models'
load, is paid once per core rather than every few dozen images) and runs each image
through the engine: **one decode for every recipe**, at the smallest scale they all allow (JPEG
DCT scaling), each output written to `processed/<recipe>/` under the image's hash. A plan of at
most three images (an upload's photos) is processed by `plan_batches` itself, sparing a task's
start (1-2 s on two busy cores); `process_batch` is then skipped.
Each failure is classified where it is caught (`image_pipeline.core.errors`): an image that cannot
be processed (broken, too many pixels or frames, over the time limit) is quarantined with the
reason; a recipe that fails on an image (a picture it names is missing, a parameter found wrong)
records that output as failed and keeps the image's other outputs; a failing store, catalog, disk
or model fails the task for Airflow to retry; anything unexpected leaves the image pending for the
next runs and quarantines it only after `GALLERY_MAX_ATTEMPTS` runs. `retry` tries the selection's
failed images again (the gallery's Problems view and Retry do this).

Runs when `gallery_retrieve` updates `gallery_raw_images`, on `GALLERY_PROCESS_SCHEDULE`, or by
hand: the form picks the recipes (a file's, or one saved from the gallery's editor) and narrows the
run to a keyword, a label, a retrieval date range or chosen images (the gallery's selection);
`force` redoes that selection even when it is up to date. Emits
`gallery_processed_images` (which triggers analytics and delivery) when it changed anything.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import DEFAULT_ARGS, PROCESS_POOL, RAW_IMAGES, START_DATE
from image_pipeline.airflow_adapter import params as form
from image_pipeline.airflow_adapter.tasks import PROCESSED_HERE, plan_batches, process_batch, summarize

CFG = af.settings()


@dag(
    dag_id="gallery_process",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable(CFG.processing.process_schedule, timezone="UTC"), assets=[RAW_IMAGES]),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # two runs would plan the same pending images
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "process"],
    doc_md=__doc__,
    params={
        "recipes": form.recipes(CFG.processing.recipe_names()),
        **form.selection(),
        "images": form.images(),
        "force": Param(False, type="boolean", title="Redo", section=form.TUNING,
                       description="Redo the selected images even where their outputs are up to date."),
        "retry": Param(False, type="boolean", title="Retry failed images", section=form.TUNING,
                       description="Try the selection's quarantined images and failed outputs again "
                                   "(every failed image without a selection)."),
        "batch_size": form.batch_size(),
    },
)
def gallery_process():
    # One task per slot of the processing pool at once (the workers' cores, GALLERY_PROCESS_SLOTS): more
    # would only share the same cores, each with its own models loaded.
    # A small plan (an upload's photos) is processed by plan_batches itself, its counts in its XCom
    # processed_here, and maps no batch.
    batches = process_batch.override(pool=PROCESS_POOL)
    planned = plan_batches()
    summarize(batches.expand(batch=planned), planned[PROCESSED_HERE])


gallery_process()
