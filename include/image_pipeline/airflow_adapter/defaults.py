"""What every DAG of the project shares: owner, start date and default task arguments."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from image_pipeline.airflow_adapter.notifications import FailureEmailNotifier

OWNER = "image-pipeline"
START_DATE = datetime(2026, 1, 1, tzinfo=timezone.utc)

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(seconds=15),
    "retry_exponential_backoff": 2.0,  # 15 s, 30 s, ... capped below
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=60),
    # Called once a task has no retry left: the operator hears of every DAG that fails for good.
    "on_failure_callback": FailureEmailNotifier(),
}
