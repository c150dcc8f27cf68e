"""Writing a day: its partitions, metrics document, charts and report.

A day's outputs are a pure function of the catalog and the day (UTC), written by overwriting, so
re-running or backfilling a day replaces them instead of adding to them:

- the day's Parquet partitions, ``reports/images/dt=YYYY-MM-DD/`` and ``reports/outputs/dt=…/``
  (:mod:`.parquet`);
- the metrics document upserted into the catalog under the day (``DailyMetrics.put_metrics``), also as
  ``reports/daily/dt=YYYY-MM-DD/metrics.json``;
- ``reports/daily/dt=YYYY-MM-DD/*.png`` charts and ``report.html`` (charts embedded as data URIs).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Iterable, Protocol

from image_pipeline.analytics.charts import daily_charts
from image_pipeline.analytics.extract import read_day
from image_pipeline.analytics.html import daily_html
from image_pipeline.analytics.metrics import compute_metrics
from image_pipeline.analytics.parquet import (IMAGES_DATASET, OUTPUTS_DATASET, parquet_bytes, replace_prefix,
                                              images_partition_key, outputs_partition_key)
from image_pipeline.core import keys
from image_pipeline.core.catalog.roles import DailyMetrics, DayReading
from image_pipeline.core.storage import ObjectStore


class ReportCatalog(DayReading, DailyMetrics, Protocol):
    """What a day's report reads (the day's images) and writes (its metrics document)."""


def write_daily_report(store: ObjectStore, catalog: ReportCatalog, day: date,
                       recipes: Iterable[str] | None = None) -> dict[str, Any]:
    """Compute and (over)write the day's partitions, metrics document, charts and report.

    Returns the headline numbers and the keys written."""
    images, outputs = read_day(catalog, day, recipes)
    metrics = compute_metrics(images, outputs, day)
    charts = daily_charts(images, outputs, metrics)
    prefix = keys.report_prefix(day)
    replace_prefix(store, f"{IMAGES_DATASET}/dt={day.isoformat()}/",
                    {images_partition_key(day): (parquet_bytes(images), "application/vnd.apache.parquet")})
    replace_prefix(store, f"{OUTPUTS_DATASET}/dt={day.isoformat()}/",
                    {outputs_partition_key(day): (parquet_bytes(outputs), "application/vnd.apache.parquet")})
    report = {prefix + name: (png, "image/png") for name, png in charts.items()}
    report[prefix + "metrics.json"] = (json.dumps(metrics, indent=1, sort_keys=True).encode(), "application/json")
    report[prefix + "report.html"] = (daily_html(metrics, charts), "text/html; charset=utf-8")
    replace_prefix(store, prefix, report)
    catalog.put_metrics(day.isoformat(), metrics)
    return {**metrics["headline"], "report_key": prefix + "report.html",
            "partition_key": images_partition_key(day)}
