"""Helpers over a task's Airflow context: the day a run reports on, what a retrieval records about
its run, what a delivery is for, and the Asset event's extra."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from airflow.sdk import Asset


def set_outlet_extra(context: dict[str, Any], asset: Asset, extra: dict[str, Any]) -> None:
    """The Asset event's extra, when the running task has ``asset`` among its outlets (a shared task
    body may run in a DAG that emits no event, e.g. ``image_request``)."""
    task = context.get("task")
    if task is None or any(getattr(o, "name", None) == asset.name for o in task.outlets):
        context["outlet_events"][asset].extra = extra


def delivery_occasion(context: dict[str, Any], per_run: bool = False) -> str | None:
    """What a delivery is for, in the ledger's key: the run itself (a request), else the run's data
    interval when it has one (a subscription's period), else None (the archive's content)."""
    if per_run:
        return f"request:{context['dag'].dag_id}/{context['run_id']}"
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start and end and start != end:
        return f"interval:{start.isoformat()}/{end.isoformat()}"
    return None


def run_provenance(context: dict[str, Any]) -> dict[str, Any]:
    """What a retrieval records about the run that found an image: its data interval, and its DAG
    (the gallery links the image's runs to their pages in Airflow)."""
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    dag = context.get("dag")
    return {"data_interval": [start.isoformat(), end.isoformat()] if start and end else None,
            "dag_id": dag.dag_id if dag is not None else None}


def run_day(context: dict[str, Any], override: str | None = None) -> date:
    """The UTC day a run reports on: an explicit ``YYYY-MM-DD``, else the start of its data interval.

    Asset-triggered and manual runs may have no data interval; they report on the day they ran.
    """
    if override:
        return date.fromisoformat(override)
    start = context.get("data_interval_start")
    if start is None:
        start = context["dag_run"].run_after
    if not isinstance(start, datetime):
        start = datetime.fromisoformat(str(start))
    return start.astimezone(timezone.utc).date()
