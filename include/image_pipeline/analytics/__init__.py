"""Analytics: the day's records read from the catalog (:mod:`.extract`), its metrics document
(:mod:`.metrics`), charts (:mod:`.charts`) and self-contained report page (:mod:`.html`), all written
by :func:`write_daily_report` (:mod:`.daily`) beside its Parquet partitions (:mod:`.parquet`, read
back with DuckDB); the overview of all days, rebuilt from the partitions (:func:`rollup`, :mod:`.overview`).

The names below are imported from their modules (plain imports, which editors and type checkers
follow); no module here imports a heavy library at its top, so importing the package (DAG files do)
stays light (tests/dags/test_dag_integrity.py)."""

from __future__ import annotations

from image_pipeline.analytics.extract import day_window, read_day
from image_pipeline.analytics.metrics import compute_metrics, headline
from image_pipeline.analytics.charts import daily_charts
from image_pipeline.analytics.html import daily_html
from image_pipeline.analytics.parquet import TOP_LABELS_SQL, partitions, query_partitions
from image_pipeline.analytics.daily import write_daily_report
from image_pipeline.analytics.overview import rollup

__all__ = [
    "TOP_LABELS_SQL", "compute_metrics", "daily_charts", "daily_html", "day_window", "headline", "partitions",
    "query_partitions", "read_day", "rollup", "write_daily_report",
]
