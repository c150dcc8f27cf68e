"""The library's Airflow adapter, laid out like a provider package: the only part of the library that
imports Airflow (with the gallery UI's API).

- :mod:`.hooks`: the backends (object store, catalog, mailer, feature extractor) from connections;
- :mod:`.triggers`: the inbox's event trigger; :mod:`.assets`: the Assets chaining the DAGs, the pool;
- :mod:`.notifications`: the failure notifier; :mod:`.defaults`: owner, start date, default args;
- :mod:`.params`: the trigger forms' fields, defined once; :mod:`.context`: helpers over a task's context;
- :mod:`.requests`: each DAG's form read into its own typed request;
- :mod:`.tasks`: the task bodies, as reusable TaskFlow tasks the DAG files compose.

The names DAG files and stored rows use are re-exported here (``image_pipeline.airflow_adapter.InboxTrigger``
is the trigger's stored class path).
"""

from __future__ import annotations

from image_pipeline.airflow_adapter.assets import (
    ARCHIVES, DAILY_REPORTS, DOWNLOAD_POOL, INBOX_FILES, PROCESS_POOL, PROCESSED_IMAGES, RAW_IMAGES,
)
from image_pipeline.airflow_adapter.context import delivery_occasion, run_day, run_provenance, set_outlet_extra
from image_pipeline.airflow_adapter.defaults import DEFAULT_ARGS, OWNER, START_DATE
from image_pipeline.airflow_adapter.hooks import (
    catalog, email_api_mailer, feature_extraction, features_version, flickr_api_key, mailer, object_store, settings,
    smtp_mailer,
)
from image_pipeline.airflow_adapter.notifications import FailureEmailNotifier
from image_pipeline.airflow_adapter.tasks import (
    batches_to_process, plan_retrieval, run_delivery, run_processing_batch, run_retrieval,
)
from image_pipeline.airflow_adapter.triggers import InboxTrigger

__all__ = [
    "ARCHIVES", "DAILY_REPORTS", "DEFAULT_ARGS", "DOWNLOAD_POOL", "INBOX_FILES", "OWNER", "PROCESS_POOL",
    "PROCESSED_IMAGES",
    "RAW_IMAGES", "START_DATE", "FailureEmailNotifier", "InboxTrigger", "batches_to_process", "catalog",
    "delivery_occasion", "email_api_mailer", "feature_extraction", "features_version", "flickr_api_key", "mailer",
    "object_store", "plan_retrieval", "run_day", "run_delivery", "run_processing_batch", "run_provenance",
    "run_retrieval", "set_outlet_extra", "settings", "smtp_mailer",
]
