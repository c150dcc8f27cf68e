"""
### gallery_maintenance: the trash, orphans and missing objects

Daily (`GALLERY_MAINTENANCE_SCHEDULE`), and safe while the other DAGs run:

1. **purge_trash**: images in the gallery's trash for longer than `GALLERY_TRASH_RETENTION_DAYS`
   lose their raw object, every output and their record (delivery ledger entries stay);
2. **remove_orphans**: image objects no record names (left by a task killed between writing an
   object and its record) are removed, once older than `GALLERY_ORPHAN_GRACE_HOURS`;
3. **check_objects**: every record's objects must exist; the missing ones are listed in the task
   log and in the `gallery_maintenance_reports` Asset event's extra.

Re-runnable: a second run finds nothing more to do.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, chain, dag

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import DEFAULT_ARGS, START_DATE
from image_pipeline.airflow_adapter.tasks import check_objects, purge_trash, remove_orphans


@dag(
    dag_id="gallery_maintenance",
    schedule=CronTriggerTimetable(af.settings().maintenance.maintenance_schedule, timezone="UTC"),
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "maintenance"],
    doc_md=__doc__,
)
def gallery_maintenance():
    chain(purge_trash(), remove_orphans(), check_objects())


gallery_maintenance()
