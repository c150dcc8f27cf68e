"""Analytics: the day's partitions, metrics, charts and report, and the overview (:mod:`.metrics`).
Names below are loaded on first use, so importing the package (DAG files do) stays light."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "image_pipeline.analytics.metrics": ("compute_metrics", "daily_charts", "daily_html", "day_window", "headline",
                                         "partitions", "query_partitions", "read_day", "rollup", "write_daily_report"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    metrics = importlib.import_module("image_pipeline.analytics.metrics")  # the rest of its public names
    if not name.startswith("__") and hasattr(metrics, name):
        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
