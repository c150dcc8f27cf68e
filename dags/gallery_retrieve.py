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

from airflow.sdk import CronDataIntervalTimetable, dag

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import DEFAULT_ARGS, RAW_IMAGES, START_DATE
from image_pipeline.airflow_adapter import params as form
from image_pipeline.airflow_adapter.tasks import plan_requests, retrieve_images


@dag(
    dag_id="gallery_retrieve",
    schedule=CronDataIntervalTimetable(af.settings().downloads.retrieve_schedule, timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "retrieve"],
    doc_md=__doc__,
    params=form.source(max_count=af.settings().downloads.max_count),
)
def gallery_retrieve():
    retrieve_images.override(outlets=[RAW_IMAGES]).expand(request=plan_requests())


gallery_retrieve()
