"""The Assets that chain the DAGs, and the pool retrieval shares."""

from __future__ import annotations

from airflow.sdk import Asset, AssetWatcher

from image_pipeline.airflow_adapter.triggers import inbox_trigger

# Retrieve -> process -> analytics/deliver are chained by these Assets. Name-only on purpose: a URI
# with a scheme makes Airflow load every provider's URI normaliser (boto3 included) at parse time.
RAW_IMAGES = Asset(name="gallery_raw_images")
PROCESSED_IMAGES = Asset(name="gallery_processed_images")
DAILY_REPORTS = Asset(name="gallery_daily_reports")
ARCHIVES = Asset(name="gallery_archives")
MAINTENANCE_REPORTS = Asset(name="gallery_maintenance_reports")  # each check of the store against the catalog
# Listing the inbox by default; S3 event notifications through SQS when GALLERY_INBOX_SQS_QUEUE names a queue.
INBOX_FILES = Asset(name="gallery_inbox_files",
                    watchers=[AssetWatcher(name="gallery_inbox_watcher", trigger=inbox_trigger())])

# Retrieval tasks take a slot of this pool: the politeness limit across all runs and workers.
DOWNLOAD_POOL = "gallery_downloads"
# gallery_process's batches take a slot of this pool: one per core of the workers, across all runs
# (sized by GALLERY_PROCESS_SLOTS when the deployment is initialised, not by the machine parsing the DAG).
PROCESS_POOL = "gallery_processing"
