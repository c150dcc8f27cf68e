"""The charts (matplotlib, PNG bytes): the day's, for its report, and the overview's.

Heavy libraries (matplotlib, numpy) are imported inside the
functions: DAG files import this package.
"""

from __future__ import annotations

import io
from typing import Any

from image_pipeline.analytics.metrics import TOP


def _figure(width: float = 8, height: float = 4):
    import matplotlib

    matplotlib.use("Agg")  # headless: workers have no display
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _png(fig, left: float = 0.08, bottom: float = 0.12, wspace: float = 0.25) -> bytes:
    # Fixed margins: tight_layout measures every tick label and costs more than drawing the chart.
    fig.subplots_adjust(left=left, right=0.97, top=0.9, bottom=bottom, wspace=wspace)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: same bytes on re-runs
    return buf.getvalue()


def _barh(ax, items: list[tuple[str, int]], title: str, color: str) -> None:
    if items:
        names = [n if len(n) <= 40 else n[:39] + "…" for n, _ in items][::-1]
        ax.barh(names, [v for _, v in items][::-1], color=color)
    else:
        ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_xlabel("images")


def daily_charts(images, outputs, metrics: dict[str, Any]) -> dict[str, bytes]:
    """The day's charts as PNG bytes, by file name."""
    import numpy as np

    charts: dict[str, bytes] = {}
    by = metrics["by"]

    fig = _figure(10, 4)
    engines, formats = fig.subplots(1, 2)
    _barh(engines, [(k, v["retrieved"]) for k, v in by["engine"].items() if v["retrieved"]],
          "Images retrieved by source", "#4c72b0")
    _barh(formats, [(k, v["retrieved"]) for k, v in by["format"].items() if v["retrieved"]],
          "Images retrieved by format", "#55a868")
    charts["sources.png"] = _png(fig, left=0.12, wspace=0.35)

    fig = _figure(12, 3.6)
    axes = fig.subplots(1, 3)
    retrieved = images.filter(images.column("retrieved"))
    for ax, column, title, scale in ((axes[0], "bytes", "File size (KiB)", 1 / 1024),
                                     (axes[1], "megapixels", "Megapixels", 1),
                                     (axes[2], "aspect_ratio", "Aspect ratio (width / height)", 1)):
        values = np.array([v for v in retrieved.column(column).to_pylist() if v is not None], dtype=float) * scale
        if values.size:
            ax.hist(values, bins=30, color="#4c72b0")
        else:
            ax.text(0.5, 0.5, "none", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_ylabel("images")
    charts["sizes.png"] = _png(fig)

    fig = _figure(8, 4)
    ax = fig.subplots()
    frame = outputs.select(["recipe", "seconds"]).to_pandas().dropna()
    recipes = sorted(frame["recipe"].unique())
    if recipes:
        ax.boxplot([frame.loc[frame["recipe"] == r, "seconds"].to_numpy() for r in recipes],
                   tick_labels=recipes, showfliers=False)
    else:
        ax.text(0.5, 0.5, "nothing processed", ha="center", va="center", transform=ax.transAxes)
    ax.set_title("Processing time per recipe")
    ax.set_ylabel("seconds per image")
    charts["processing.png"] = _png(fig)

    fig = _figure(8, 6)
    _barh(fig.subplots(), [(t["label"], t["images"]) for t in metrics["labels"]["top"]],
          f"Top {TOP} labels", "#8172b2")
    charts["labels.png"] = _png(fig, left=0.25)

    fig = _figure(8, 3.6)
    _barh(fig.subplots(), list(metrics["failures"]["reasons"].items())[:TOP], "Failure reasons", "#c44e52")
    charts["failures.png"] = _png(fig, left=0.35)
    return charts



def stacked_chart(pivot) -> bytes:
    fig = _figure(10, 4)
    ax = fig.subplots()
    bottom = None
    colors = ["#4c72b0", "#55a868", "#c44e52", "#8172b2", "#ccb974", "#64b5cd", "#8c8c8c"]
    for i, engine in enumerate(pivot.columns):
        values = pivot[engine].to_numpy()
        ax.bar(range(len(pivot)), values, bottom=bottom, label=str(engine), color=colors[i % len(colors)])
        bottom = values if bottom is None else bottom + values
    ax.set_xticks(range(len(pivot)), [d[5:] for d in pivot.index], rotation=60, fontsize=8)
    ax.set_ylabel("images retrieved")
    ax.set_title("Images per day by source")
    if len(pivot.columns):
        ax.legend(fontsize=8)
    return _png(fig, bottom=0.2)


def cumulative_chart(trends) -> bytes:
    fig = _figure(10, 4)
    ax = fig.subplots()
    for column, color in (("cumulative_retrieved", "#4c72b0"), ("cumulative_processed", "#55a868"),
                          ("cumulative_quarantined", "#c44e52")):
        ax.plot(range(len(trends)), trends[column].to_numpy(), label=column.removeprefix("cumulative_"), color=color)
    ax.set_xticks(range(len(trends)), [d[5:] for d in trends["day"]], rotation=60, fontsize=8)
    ax.set_ylabel("images")
    ax.set_title("Cumulative totals")
    ax.legend(fontsize=8)
    return _png(fig, bottom=0.2)
