"""Analytics: the day's records read from the catalog (:mod:`.extract`), its metrics document
(:mod:`.metrics`), charts (:mod:`.charts`) and self-contained report page (:mod:`.html`), all written
by :func:`write_daily_report` (:mod:`.daily`) beside its Parquet partitions (:mod:`.parquet`, read
back with DuckDB); the overview of all days, rebuilt from the partitions (:func:`rollup`, :mod:`.overview`).
Names below are loaded on first use, so importing the package (DAG files do) stays light."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "image_pipeline.analytics.extract": ("day_window", "read_day"),
    "image_pipeline.analytics.metrics": ("compute_metrics", "headline"),
    "image_pipeline.analytics.charts": ("daily_charts",),
    "image_pipeline.analytics.html": ("daily_html",),
    "image_pipeline.analytics.parquet": ("partitions", "query_partitions"),
    "image_pipeline.analytics.daily": ("write_daily_report",),
    "image_pipeline.analytics.overview": ("rollup",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    for module in _EXPORTS:  # the rest of their public names
        if name == module.rpartition(".")[2]:  # a module not imported yet
            return importlib.import_module(module)
        loaded = importlib.import_module(module)
        if not name.startswith("__") and hasattr(loaded, name):
            return getattr(loaded, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
