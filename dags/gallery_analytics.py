"""
### gallery_analytics: a day of the gallery in numbers, and the overview of all days

For one UTC day (the run's data interval) it reads the images retrieved, processed or quarantined
that day from the catalog (SQLite or MongoDB) and writes, overwriting that day's outputs:

- the Parquet partitions `reports/images/dt=YYYY-MM-DD/` and `reports/outputs/dt=YYYY-MM-DD/`;
- the day's metrics document, upserted into the catalog under the date: counts retrieved,
  processed, quarantined and duplicated by keyword, engine, source domain and format; size,
  dimension, aspect ratio, brightness and blur distributions; processing time percentiles per
  recipe and operation; failure reasons; top labels and label pairs; top domains, creators and
  licences; storage added per zone;
- charts and a self-contained `report.html` under `reports/daily/dt=YYYY-MM-DD/`.

Then `rollup` rebuilds `reports/overview/` (trends per day, cumulative totals) from all the
partitions with DuckDB, so backfilling past days updates it. One rollup at a time.

Runs daily over the previous day (a data-interval timetable: `airflow backfill create` covers
past days; `GALLERY_ANALYTICS_CATCHUP=true` runs the missed ones) and also whenever
`gallery_processed_images` is updated (reporting on the current day). The form's `day` overrides
the day.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, chain, dag

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import DEFAULT_ARGS, PROCESSED_IMAGES, START_DATE
from image_pipeline.airflow_adapter import params as form
from image_pipeline.airflow_adapter.tasks import daily_report, overview


@dag(
    dag_id="gallery_analytics",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("@daily", timezone="UTC"), assets=[PROCESSED_IMAGES]
    ),
    start_date=START_DATE,
    catchup=af.settings().analytics.analytics_catchup,
    max_active_runs=af.settings().analytics.analytics_max_active_runs,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "analytics"],
    doc_md=__doc__,
    params={"day": form.day("The UTC day to report on; empty: the run's data interval (the day it ran, when "
                            "triggered by hand).")},
)
def gallery_analytics():
    chain(daily_report(), overview())


gallery_analytics()
