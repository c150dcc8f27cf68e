"""Analytics: the day's records read from the catalog (:mod:`.extract`), its metrics document
(:mod:`.metrics`), charts (:mod:`.charts`) and self-contained report page (:mod:`.html`), all written
by :func:`write_daily_report` (:mod:`.daily`) beside its Parquet partitions (:mod:`.parquet`, read
back with DuckDB); the overview of all days, rebuilt from the partitions (:func:`rollup`, :mod:`.overview`).
Names below are loaded on first use, so importing the package (DAG files do) stays light."""

from __future__ import annotations

from image_pipeline.core.exports import lazy_exports

_EXPORTS = {
    "image_pipeline.analytics.extract": ("day_window", "read_day"),
    "image_pipeline.analytics.metrics": ("compute_metrics", "headline"),
    "image_pipeline.analytics.charts": ("daily_charts",),
    "image_pipeline.analytics.html": ("daily_html",),
    "image_pipeline.analytics.parquet": ("partitions", "query_partitions"),
    "image_pipeline.analytics.daily": ("write_daily_report",),
    "image_pipeline.analytics.overview": ("rollup",),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS, search_modules=True)
