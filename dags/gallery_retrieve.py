"""
### gallery_retrieve: images into the gallery

Brings images into the raw zone of the object store and records one catalog document per distinct
image, with its provenance (source URL, page, engine, keyword, filters, run, data interval, licence
hint where the engine gives one). Engines, chosen in the trigger form:

- **bing**, **google**, **baidu**, **flickr**: keyword search (one mapped task per keyword) with the engine's
  filters (Bing: `type`, `color`, `size`, `license`, `layout`, `people`, `date`; Flickr: `license`,
  `tags`, `sort`, upload and taken dates...; the Flickr API key is the password of the
  `flickr_default` connection);
- **greedy**: every image of a site (icrawler's `GreedyImageCrawler`), from `site_url`;
- **urls**: a list of image URLs (icrawler's `UrlListCrawler`);
- **inbox**: the files dropped into the store's `inbox/` zone (a local folder or an S3 prefix).

Scheduled and backfilled runs (cron `GALLERY_RETRIEVE_SCHEDULE`, data intervals) run the saved
searches of `GALLERY_SEARCHES_FILE` instead of the form, each passing its run's data interval to the
engine's date filter where it has one (Bing's are ages: the nearest one that reaches the window).

Every download goes through the safe fetcher: no private or metadata addresses (at every redirect),
bounded size, time and pixels, images recognised by their bytes. Refusals are counted by reason in
the task log and the Asset event. Re-running stores nothing twice: objects and records are keyed by
the image's sha256. Emits `gallery_raw_images`, which triggers `gallery_process`.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from image_pipeline import airflow_adapter as af
from image_pipeline import retrieve as retrieval
from image_pipeline.airflow_adapter import DEFAULT_ARGS, DOWNLOAD_POOL, RAW_IMAGES, START_DATE
from image_pipeline.airflow_adapter import params as form


@dag(
    dag_id="gallery_retrieve",
    schedule=CronDataIntervalTimetable(af.settings().retrieve_schedule, timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "retrieve"],
    doc_md=__doc__,
    params=form.source(max_count=af.settings().max_count),
)
def gallery_retrieve():
    @task
    def plan_requests(params: dict, **context) -> list[dict]:
        """Refuse a bad request before anything is downloaded or stored; one request per task.
        Scheduled and backfill runs take the saved searches, narrowed to their data interval."""
        cfg = af.settings()
        with form.refusing_invalid():
            requests = retrieval.plan_requests(
                form.given(params), scheduled=context["dag_run"].run_type in ("scheduled", "backfill"),
                searches_file=cfg.searches_file, max_count=cfg.max_count,
                window=(context.get("data_interval_start"), context.get("data_interval_end")),
            )
        if not requests:
            raise AirflowSkipException(f"no saved searches in {cfg.searches_file}")
        return requests

    @task(outlets=[RAW_IMAGES], pool=DOWNLOAD_POOL, map_index_template="{{ request_name }}")
    def retrieve_images(request: dict, **context) -> dict:
        get_current_context()["request_name"] = f"{request['engine']}: {request['keyword']}"
        return af.run_retrieval(request, context)

    retrieve_images.expand(request=plan_requests())


gallery_retrieve()
