"""gallery_inbox's task on an empty inbox: a run an event started (its files taken by an earlier run)
ends skipped, so no event of gallery_raw_images starts a gallery_process run with nothing to plan
ahead of one with work to do; a run a person started keeps emitting it, as before."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import pytest


def context(run_type: str) -> dict:
    return {"run_id": f"{run_type}__1", "dag_run": SimpleNamespace(run_type=run_type), "task": None,
            "outlet_events": defaultdict(SimpleNamespace)}


def test_an_event_finding_the_inbox_empty_is_skipped_and_emits_nothing(pipeline_env):
    from airflow.sdk.exceptions import AirflowSkipException

    from image_pipeline.airflow_adapter.tasks import ingest_inbox

    # A skipped task reports SKIPPED to Airflow without its outlet events (the task runner's skip path).
    with pytest.raises(AirflowSkipException, match="inbox was empty"):
        ingest_inbox.function({"keyword": "inbox"}, **context("asset_triggered"))


def test_a_manual_run_on_an_empty_inbox_and_an_event_with_files_succeed(inbox):
    from image_pipeline.airflow_adapter.assets import RAW_IMAGES
    from image_pipeline.airflow_adapter.tasks import ingest_inbox

    manual = context("manual")
    assert ingest_inbox.function({"keyword": "inbox"}, **context("asset_triggered"))["new"] == 7
    assert ingest_inbox.function({"keyword": "inbox"}, **manual)["new"] == 0
    assert manual["outlet_events"][RAW_IMAGES].extra["new"] == 0
