"""Daily analytics: counts and size statistics for one day, as a CSV and a PNG chart.

A day's report is a pure function of the catalog and the day, written under
``reports/daily/dt=YYYY-MM-DD/`` by overwriting, so re-running or backfilling a day replaces its
report instead of adding another one. pandas and matplotlib are imported inside the functions:
DAG files import this package and must stay light.
"""

from __future__ import annotations

import io
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from image_pipeline import keys
from image_pipeline.catalog import Catalog
from image_pipeline.storage import ObjectStore


def day_window(day: date) -> tuple[str, str]:
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start.isoformat(timespec="microseconds"), (start + timedelta(days=1)).isoformat(timespec="microseconds")


def compute_daily_stats(catalog: Catalog, day: date, recipe: str = "half_gray") -> dict[str, Any]:
    """Headline numbers for ``day`` (UTC): retrieved, processed and quarantined that day."""
    import pandas as pd

    since, until = day_window(day)
    retrieved = pd.DataFrame(catalog.find(between=("retrieved_at", since, until)))
    processed = catalog.find(between=(f"outputs.{recipe}.processed_at", since, until))
    quarantined = catalog.find(between=("quarantine.at", since, until))

    images = retrieved[retrieved["format"] != "unknown"] if not retrieved.empty else retrieved
    stats: dict[str, Any] = {
        "day": day.isoformat(),
        "retrieved": int(len(retrieved)),
        "processed": len(processed),
        "quarantined": len(quarantined),
        "raw_bytes_total": int(images["bytes"].sum()) if not images.empty else 0,
    }
    for column in ("bytes", "width", "height"):
        series = images[column] if not images.empty else pd.Series(dtype="float64")
        stats[f"raw_{column}_mean"] = round(float(series.mean()), 1) if len(series) else 0.0
        stats[f"raw_{column}_median"] = float(series.median()) if len(series) else 0.0
        stats[f"raw_{column}_max"] = int(series.max()) if len(series) else 0
    seconds = [doc["outputs"][recipe]["seconds"] for doc in processed]
    out_bytes = [doc["outputs"][recipe]["bytes"] for doc in processed]
    stats["processed_bytes_total"] = int(sum(out_bytes))
    stats["processing_seconds_mean"] = round(sum(seconds) / len(seconds), 6) if seconds else 0.0
    stats["by_format"] = images["format"].value_counts().sort_index().to_dict() if not images.empty else {}
    stats["by_keyword"] = (
        retrieved.explode("keywords")["keywords"].value_counts().sort_index().to_dict() if not retrieved.empty else {}
    )
    stats["_raw_sizes_kib"] = [b / 1024 for b in images["bytes"]] if not images.empty else []
    return stats


def stats_csv(stats: dict[str, Any]) -> bytes:
    """``metric,value`` rows; the per-format and per-keyword counts as ``by_format:JPEG`` etc."""
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["metric", "value"])
    for name, value in stats.items():
        if name.startswith("_"):
            continue
        if isinstance(value, dict):
            for sub, count in value.items():
                writer.writerow([f"{name}:{sub}", count])
        else:
            writer.writerow([name, value])
    return buf.getvalue().encode()


def stats_chart(stats: dict[str, Any]) -> bytes:
    """One PNG: the day's counts and the size distribution of retrieved images."""
    import matplotlib

    matplotlib.use("Agg")  # headless: workers have no display
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), dpi=100)
    counts, sizes = fig.subplots(1, 2)
    names = ["retrieved", "processed", "quarantined"]
    counts.bar(names, [stats[n] for n in names], color=["#4c72b0", "#55a868", "#c44e52"])
    counts.set_title(f"Images on {stats['day']}")
    counts.set_ylabel("images")
    if stats["_raw_sizes_kib"]:
        sizes.hist(stats["_raw_sizes_kib"], bins=20, color="#4c72b0")
    sizes.set_title("Retrieved image sizes")
    sizes.set_xlabel("KiB")
    sizes.set_ylabel("images")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def write_daily_report(store: ObjectStore, catalog: Catalog, day: date, recipe: str = "half_gray") -> dict[str, Any]:
    """Compute and (over)write the day's report; returns the headline numbers and object keys."""
    stats = compute_daily_stats(catalog, day, recipe)
    prefix = keys.report_prefix(day)
    store.put_bytes(prefix + "stats.csv", stats_csv(stats), "text/csv")
    store.put_bytes(prefix + "chart.png", stats_chart(stats), "image/png")
    headline = {k: v for k, v in stats.items() if not k.startswith("_") and not isinstance(v, dict)}
    return {**headline, "csv_key": prefix + "stats.csv", "chart_key": prefix + "chart.png"}
