"""
### gallery_analytics: a day of the gallery in numbers

For one UTC day it counts the images retrieved, processed and quarantined, with size statistics
(bytes, width, height) and counts by format and keyword, and writes `stats.csv` and `chart.png`
under `reports/daily/dt=YYYY-MM-DD/` in the object store, overwriting that day's report: re-running
or backfilling a day replaces its report.

Runs daily over the previous day (a data-interval timetable, so backfills cover past days) and
also whenever `gallery_processed_images` is updated (reporting on the current day). The trigger
form's `day` overrides the day.
"""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, task

from image_pipeline import airflow_adapter as af
from image_pipeline.analytics import write_daily_report
from image_pipeline.airflow_adapter import DAILY_REPORTS, DEFAULT_ARGS, PROCESSED_IMAGES, START_DATE


@dag(
    dag_id="gallery_analytics",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("@daily", timezone="UTC"), assets=[PROCESSED_IMAGES]
    ),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=2,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "analytics"],
    doc_md=__doc__,
    params={
        "day": Param("", type="string", pattern=r"^(\d{4}-\d{2}-\d{2})?$",
                     description="YYYY-MM-DD to report on; empty: the run's data interval (or today)."),
        "recipe": Param("half_gray", type="string", description="Recipe whose processing is counted."),
    },
)
def gallery_analytics():
    @task(outlets=[DAILY_REPORTS])
    def daily_report(params: dict, **context) -> dict:
        day = af.run_day(context, params["day"])
        with af.catalog() as catalog:
            report = write_daily_report(af.object_store(), catalog, day, params["recipe"])
        context["outlet_events"][DAILY_REPORTS].extra = report
        return report

    daily_report()


gallery_analytics()
