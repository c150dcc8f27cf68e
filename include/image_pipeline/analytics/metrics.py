"""The day's metrics document, from its image and output tables (:mod:`.extract`).

What counts where: retrieved, duplicated, sizes, formats, sources, keywords, licences and creators
are about the images *first retrieved* that day; processing times, labels, brightness and blur
about the images *processed* that day (features are recorded by processing); failures about those
*quarantined* that day. Storage is what the day added to each zone. "Duplicated" is an image seen
from several sources or a near-duplicate of another (``duplicate_of``).

Heavy libraries (pandas, pyarrow, numpy) are imported inside the
functions: DAG files import this package.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from image_pipeline.analytics.extract import day_window

DIMENSIONS = {"keyword": "keywords", "engine": "engines", "domain": "domains", "format": "format"}
DISTRIBUTIONS = {"bytes": "retrieved", "width": "retrieved", "height": "retrieved", "megapixels": "retrieved",
                 "aspect_ratio": "retrieved", "brightness": "processed", "contrast": "processed", "blur": "processed"}
QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
TIME_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
TOP = 20  # top-N lists: labels, domains, creators, label pairs
MAX_VALUES = 100  # breakdowns keep their largest values; the rest is summed into "(other)"


# -- metrics ---------------------------------------------------------------------------------------

def _counts(series) -> dict[str, int]:
    counts = series.value_counts()
    counts = counts[counts > 0]  # a categorical counts its unused categories too
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _capped(table: dict[str, dict[str, int]], key: str) -> dict[str, dict[str, int]]:
    """The ``MAX_VALUES`` largest values by ``key``; the rest summed into ``(other)``."""
    ordered = sorted(table.items(), key=lambda kv: (-kv[1][key], kv[0]))
    kept = dict(ordered[:MAX_VALUES])
    if len(ordered) > MAX_VALUES:
        other: dict[str, int] = {}
        for _, row in ordered[MAX_VALUES:]:
            for k, v in row.items():
                other[k] = other.get(k, 0) + v
        kept["(other)"] = other
    return kept


def _distribution(series) -> dict[str, float | int]:
    series = series.dropna()
    if series.empty:
        return {"count": 0}
    stats: dict[str, float | int] = {"count": int(series.size), "mean": round(float(series.mean()), 6),
                                     "min": round(float(series.min()), 6), "max": round(float(series.max()), 6)}
    quantiles = series.quantile(list(QUANTILES.values()))
    stats.update({name: round(float(q), 6) for name, q in zip(QUANTILES, quantiles, strict=True)})
    return stats


def _time_stats(series) -> dict[str, float | int]:
    series = series.dropna()
    if series.empty:
        return {"count": 0}
    quantiles = series.quantile(list(TIME_QUANTILES.values()))
    return {"count": int(series.size), "mean": round(float(series.mean()), 6), "max": round(float(series.max()), 6),
            **{name: round(float(q), 6) for name, q in zip(TIME_QUANTILES, quantiles, strict=True)}}


def _exploded(table, column: str):
    """(row, value) pairs of a list column, as a DataFrame (vectorised in Arrow)."""
    import pandas as pd
    import pyarrow.compute as pc

    values = table.column(column).combine_chunks()
    return pd.DataFrame({"row": pc.list_parent_indices(values).to_numpy(),
                         "value": pc.list_flatten(values).dictionary_encode().to_pandas()})


def compute_metrics(images, outputs, day: date) -> dict[str, Any]:
    """The day's metrics document from its image and output tables (see :func:`.extract.flatten`)."""
    import pandas as pd
    import pyarrow.compute as pc

    flags = ["retrieved", "processed", "quarantined"]
    # Only the columns the metrics use, strings as categoricals: a million rows stay small in pandas.
    frame = images.select(["format", "retrieved", "processed", "quarantined", "duplicated", "n_sources", "has_raw",
                           *DISTRIBUTIONS, "quarantine_reason", "quarantine_stage", "quarantine_bytes"]
                          ).to_pandas(strings_to_categorical=True)
    frame["duplicate_of"] = images.column("duplicate_of").is_valid().to_numpy(zero_copy_only=False)
    out = outputs.select(["recipe", "bytes", "seconds"]).to_pandas(strings_to_categorical=True)
    retrieved = frame[frame["retrieved"]]
    processed = frame[frame["processed"]]
    quarantined = frame[frame["quarantined"]]
    metrics: dict[str, Any] = {
        "day": day.isoformat(),
        "interval": list(day_window(day)),
        "images": int(len(frame)),
        "retrieved": int(len(retrieved)),
        "processed": int(len(processed)),
        "quarantined": int(len(quarantined)),
        "duplicated": int(retrieved["duplicated"].sum()),
        "multi_source": int((retrieved["n_sources"] > 1).sum()),
        "near_duplicates": int(retrieved["duplicate_of"].sum()),
        "outputs": int(len(out)),
    }

    # Counts by keyword, engine, source domain and format.
    status = frame[flags].copy()
    status["duplicated"] = frame["retrieved"] & frame["duplicated"]
    by: dict[str, Any] = {}
    for name, column in DIMENSIONS.items():
        if column == "format":
            pairs = pd.DataFrame({"row": range(len(frame)), "value": frame["format"].astype(object).fillna("unknown")})
        else:
            pairs = _exploded(images, column)
        joined = status.iloc[pairs["row"].to_numpy()].reset_index(drop=True)
        joined["value"] = pairs["value"].array  # categorical: no string per row
        sums = joined.groupby("value", sort=True, observed=True).sum()
        table = {str(v): {k: int(row[k]) for k in [*flags, "duplicated"]} for v, row in sums.iterrows()
                 if row.any()}
        by[name] = _capped(table, "retrieved")
    metrics["by"] = by

    metrics["distributions"] = {
        column: _distribution((retrieved if population == "retrieved" else processed)[column])
        for column, population in DISTRIBUTIONS.items()
    }

    # Processing time per recipe and per operation (outputs processed this day).
    per_recipe: dict[str, Any] = {}
    for recipe, group in out.groupby("recipe", sort=True, observed=True):
        per_recipe[str(recipe)] = {"outputs": int(len(group)), "bytes": int(group["bytes"].fillna(0).sum()),
                                   "seconds": _time_stats(group["seconds"])}
    metrics["processing"] = per_recipe
    metrics["operations"] = _operations(outputs)

    metrics["failures"] = {"reasons": _counts(quarantined["quarantine_reason"].astype(object).fillna("unknown")),
                           "stages": _counts(quarantined["quarantine_stage"].astype(object).fillna("unknown"))}
    if len(metrics["failures"]["reasons"]) > MAX_VALUES:
        reasons = list(metrics["failures"]["reasons"].items())
        metrics["failures"]["reasons"] = {**dict(reasons[:MAX_VALUES]),
                                          "(other)": sum(v for _, v in reasons[MAX_VALUES:])}

    # Labels of the images processed this day, and which labels come together.
    processed_rows = frame.index[frame["processed"]].to_numpy()
    labels = _exploded(images, "labels")
    labels = labels[labels["row"].isin(processed_rows)]
    top_labels = _counts(labels["value"])
    metrics["labels"] = {"images_with_labels": int(labels["row"].nunique()),
                         "top": [{"label": k, "images": v} for k, v in list(top_labels.items())[:TOP]]}
    metrics["labels"]["co_occurrence"] = _co_occurrence(labels, list(top_labels)[:TOP])

    # Sources of the images first retrieved this day.
    retrieved_rows = frame.index[frame["retrieved"]].to_numpy()
    for name, column in (("domains", "domains"), ("creators", "creators"), ("licences", "licences")):
        pairs = _exploded(images, column)
        counts = _counts(pairs.loc[pairs["row"].isin(retrieved_rows), "value"])
        shown = TOP if name != "licences" else MAX_VALUES
        metrics[name] = [{"name": k, "images": v} for k, v in list(counts.items())[:shown]]
    metrics["known"] = {  # images first retrieved this day whose licence / creator is known
        name: int((pc.list_value_length(images.column(column)).to_numpy(zero_copy_only=False)[retrieved_rows] > 0)
                  .sum())
        for name, column in (("licence", "licences"), ("creator", "creators"))
    }

    # Storage added this day to each zone.
    storage = {"raw": int(retrieved.loc[retrieved["has_raw"], "bytes"].sum()),
               "quarantine": int(frame["quarantine_bytes"].sum()),
               "processed": {r: v["bytes"] for r, v in per_recipe.items()}}
    storage["total"] = storage["raw"] + storage["quarantine"] + sum(storage["processed"].values())
    metrics["storage"] = storage
    metrics["headline"] = headline(metrics)
    return metrics


def _operations(outputs) -> dict[str, dict[str, Any]]:
    """Time statistics per recipe and operation, from the outputs' timings maps. A million outputs
    hold several million timings: each (recipe, operation) is picked out by its code in turn, so
    only one group's seconds are copied at a time (a groupby copied every group's rows, twice)."""
    import numpy as np
    import pandas as pd

    timings = outputs.column("timings").combine_chunks()
    if len(timings) == 0:
        return {}
    offsets = timings.offsets.to_numpy()  # (list_parent_indices does not take map arrays)
    recipes = outputs.column("recipe").combine_chunks().dictionary_encode()
    operations = timings.keys[offsets[0]:offsets[-1]].dictionary_encode()
    recipe_names, operation_names = recipes.dictionary.to_pylist(), operations.dictionary.to_pylist()
    group = np.repeat(recipes.indices.to_numpy(zero_copy_only=False).astype(np.int32) * len(operation_names),
                      np.diff(offsets))
    group += operations.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    seconds = timings.items[offsets[0]:offsets[-1]].to_numpy(zero_copy_only=False)
    stats: dict[str, dict[str, Any]] = {}
    for code in np.flatnonzero(np.bincount(group)):
        recipe, operation = divmod(int(code), len(operation_names))
        stats.setdefault(recipe_names[recipe], {})[operation_names[operation]] = \
            _time_stats(pd.Series(seconds[group == code]))
    return {recipe: dict(sorted(ops.items())) for recipe, ops in sorted(stats.items())}


def _co_occurrence(labels, top: list[str]) -> list[dict[str, Any]]:
    """The most frequent pairs among the top labels, counted in images having both. An image's
    labels are adjacent rows and distinct, so it has at most ``len(top)`` of them: pairing each row
    with the rows 1, 2, ... after it within its image finds every pair once, in memory the size of
    the rows (a self-join made every pair a row)."""
    import numpy as np

    if not top:
        return []
    names = sorted(top)
    rank_of = {name: rank for rank, name in enumerate(names)}
    values = labels["value"].array
    ranks = np.array([rank_of.get(str(c), -1) for c in values.categories], dtype=np.int64)[values.codes]
    kept = ranks >= 0
    rows, ranks = labels["row"].to_numpy()[kept], ranks[kept]
    counts = np.zeros(len(names) ** 2, dtype=np.int64)
    for shift in range(1, len(names)):
        same = rows[shift:] == rows[:-shift]
        if not same.any():
            break
        a, b = ranks[:-shift][same], ranks[shift:][same]
        counts += np.bincount(np.minimum(a, b) * len(names) + np.maximum(a, b), minlength=len(counts))
    found = sorted((-int(counts[i]), names[i // len(names)], names[i % len(names)]) for i in np.flatnonzero(counts))
    return [{"a": a, "b": b, "images": -n} for n, a, b in found[:TOP]]


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers the Asset event carries and the reports lead with."""
    return {"day": metrics["day"], **{k: metrics[k] for k in ("retrieved", "processed", "quarantined",
                                                              "duplicated", "outputs")},
            "raw_bytes": metrics["storage"]["raw"], "processed_bytes": sum(metrics["storage"]["processed"].values())}
