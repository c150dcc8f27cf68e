"""Gallery analytics per day: Parquet partitions, a metrics document, charts and an HTML report,
and an overview rebuilt from all the partitions.

A day's outputs are a pure function of the catalog and the day (UTC), written by overwriting, so
re-running or backfilling a day replaces them instead of adding to them:

- ``reports/images/dt=YYYY-MM-DD/part-0.parquet``: one row per image retrieved, processed or
  quarantined that day (flags say which), with its sources, keywords, labels and features;
- ``reports/outputs/dt=YYYY-MM-DD/part-0.parquet``: one row per recipe output processed that day,
  with its per-operation ``timings``;
- the metrics document upserted into the catalog under the day (``Catalog.put_metrics``), also as
  ``reports/daily/dt=YYYY-MM-DD/metrics.json``;
- ``reports/daily/dt=YYYY-MM-DD/*.png`` charts and ``report.html`` (charts embedded as data URIs).

The overview (``reports/overview/``: trends per day, cumulative totals, top labels) is rebuilt from
the partitions with DuckDB (:func:`query_partitions`), so backfilling a past month updates it.
Spark reads the same partitions (``spark.read.parquet(".../reports/images")`` discovers ``dt``).

What counts where: retrieved, duplicated, sizes, formats, sources, keywords, licences and creators
are about the images *first retrieved* that day; processing times, labels, brightness and blur
about the images *processed* that day (features are recorded by processing); failures about those
*quarantined* that day. Storage is what the day added to each zone. "Duplicated" is an image seen
from several sources or a near-duplicate of another (``duplicate_of``).

Heavy libraries (pandas, pyarrow, duckdb, matplotlib) are imported inside the functions: DAG files
import this module.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Iterable, Iterator

from image_pipeline.core import keys
from image_pipeline.core.catalog import Catalog
from image_pipeline.core.storage import LocalStore, ObjectStore

IMAGES_DATASET = f"{keys.REPORTS}/images"
OUTPUTS_DATASET = f"{keys.REPORTS}/outputs"
OVERVIEW_PREFIX = f"{keys.REPORTS}/overview/"
DIMENSIONS = {"keyword": "keywords", "engine": "engines", "domain": "domains", "format": "format"}
DISTRIBUTIONS = {"bytes": "retrieved", "width": "retrieved", "height": "retrieved", "megapixels": "retrieved",
                 "aspect_ratio": "retrieved", "brightness": "processed", "contrast": "processed", "blur": "processed"}
QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
TIME_QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}
TOP = 20  # top-N lists: labels, domains, creators, label pairs
MAX_VALUES = 100  # breakdowns keep their largest values; the rest is summed into "(other)"
CHUNK = 10_000  # documents parsed at a time: memory stays flat in the size of the day

# DuckDB over the partitions: the seed's SparkSQL top-labels query, on the views of query_partitions.
TOP_LABELS_SQL = """
SELECT label, count(DISTINCT sha256) AS images
FROM images, unnest(labels) AS t(label)
WHERE processed
GROUP BY label
ORDER BY images DESC, label
LIMIT $top
"""


def day_window(day: date) -> tuple[str, str]:
    start = datetime.combine(day, time.min, tzinfo=timezone.utc)
    return start.isoformat(timespec="microseconds"), (start + timedelta(days=1)).isoformat(timespec="microseconds")


def images_partition_key(day: date) -> str:
    return f"{IMAGES_DATASET}/dt={day.isoformat()}/part-0.parquet"


def outputs_partition_key(day: date) -> str:
    return f"{OUTPUTS_DATASET}/dt={day.isoformat()}/part-0.parquet"


# -- reading a day of the catalog ------------------------------------------------------------------

def _schemas():
    import pyarrow as pa

    strings = pa.list_(pa.string())
    images = pa.schema([
        ("sha256", pa.string()), ("format", pa.string()), ("status", pa.string()),
        ("width", pa.int64()), ("height", pa.int64()), ("bytes", pa.int64()),
        ("megapixels", pa.float64()), ("aspect_ratio", pa.float64()),
        ("retrieved_at", pa.timestamp("us", tz="UTC")),
        ("retrieved", pa.bool_()), ("processed", pa.bool_()), ("quarantined", pa.bool_()),
        ("duplicated", pa.bool_()), ("duplicate_of", pa.string()), ("n_sources", pa.int64()),
        ("has_raw", pa.bool_()), ("keywords", strings), ("engines", strings), ("domains", strings),
        ("licences", strings), ("creators", strings),
        ("quarantine_reason", pa.string()), ("quarantine_stage", pa.string()), ("quarantine_bytes", pa.int64()),
        ("labels", strings), ("label_source", pa.string()), ("brightness", pa.float64()),
        ("contrast", pa.float64()), ("blur", pa.float64()), ("faces", pa.int64()), ("camera", pa.string()),
    ])
    outputs = pa.schema([
        ("sha256", pa.string()), ("recipe", pa.string()), ("version", pa.int64()), ("format", pa.string()),
        ("width", pa.int64()), ("height", pa.int64()), ("bytes", pa.int64()), ("seconds", pa.float64()),
        ("processed_at", pa.timestamp("us", tz="UTC")), ("timings", pa.map_(pa.string(), pa.float64())),
    ])
    return images, outputs


# The catalog documents' fields analytics reads, as DuckDB parses them (json_transform is lenient:
# a missing field or one of another type becomes NULL, so old documents read as well as new ones).
DOC_STRUCTURE = json.dumps({
    "sha256": "VARCHAR", "format": "VARCHAR", "status": "VARCHAR", "width": "BIGINT", "height": "BIGINT",
    "bytes": "BIGINT", "retrieved_at": "VARCHAR", "raw_key": "VARCHAR", "keywords": ["VARCHAR"],
    "sources": [{"source": "VARCHAR", "uri": "VARCHAR", "page_url": "VARCHAR", "licence": "VARCHAR",
                 "creator": "VARCHAR", "owner_name": "VARCHAR", "author": "VARCHAR"}],
    "quarantine": {"reason": "VARCHAR", "stage": "VARCHAR", "key": "VARCHAR", "at": "VARCHAR"},
    "duplicate_of": "VARCHAR",
    "features": {"brightness": "DOUBLE", "contrast": "DOUBLE", "blur": "DOUBLE", "faces": "BIGINT",
                 "label_source": "VARCHAR", "labels": [{"name": "VARCHAR"}], "exif": {"camera": "VARCHAR"}},
    "outputs": "MAP(VARCHAR, STRUCT(version BIGINT, format VARCHAR, width BIGINT, height BIGINT, bytes BIGINT, "
               "seconds DOUBLE, processed_at VARCHAR, timings MAP(VARCHAR, DOUBLE)))",
})
PARSE_SQL = f"CREATE OR REPLACE TEMP TABLE parsed AS SELECT json_transform(doc, '{DOC_STRUCTURE}') AS d FROM chunk"
_HOST = r"^https?://(?:[^@/?#]*@)?([^/:?#]+)"
_CLEAN = "list_sort(list_distinct(list_filter({}, lambda x: x IS NOT NULL AND x <> '')))"

IMAGES_SQL = f"""
WITH flat AS (
    SELECT d.*,
           list_filter(map_entries(d.outputs), lambda e: list_contains($recipes, e.key)
                       AND e.value.processed_at >= $since AND e.value.processed_at < $until) AS done
    FROM parsed)
SELECT sha256, format, status, coalesce(width, 0) AS width, coalesce(height, 0) AS height,
       coalesce(bytes, 0) AS bytes,
       CASE WHEN width > 0 AND height > 0 THEN width * height / 1e6 END AS megapixels,
       CASE WHEN width > 0 AND height > 0 THEN width / height END AS aspect_ratio,
       TRY_CAST(retrieved_at AS TIMESTAMPTZ) AS retrieved_at,
       coalesce(retrieved_at >= $since AND retrieved_at < $until, false) AS retrieved,
       len(done) > 0 AS processed,
       coalesce(quarantine.at >= $since AND quarantine.at < $until, false) AS quarantined,
       coalesce(len(sources) > 1, false) OR coalesce(duplicate_of <> '', false) AS duplicated,
       nullif(duplicate_of, '') AS duplicate_of, coalesce(len(sources), 0) AS n_sources,
       coalesce(raw_key <> '', false) AS has_raw,
       {_CLEAN.format("keywords")} AS keywords,
       {_CLEAN.format("list_transform(sources, lambda s: s.source)")} AS engines,
       {_CLEAN.format(f"list_transform(sources, lambda s: regexp_replace(lower(coalesce(nullif(regexp_extract(s.uri, '{_HOST}', 1), ''), regexp_extract(s.page_url, '{_HOST}', 1))), '^www[.]', ''))")} AS domains,
       {_CLEAN.format("list_transform(sources, lambda s: s.licence)")} AS licences,
       {_CLEAN.format("list_transform(sources, lambda s: coalesce(nullif(s.creator, ''), nullif(s.owner_name, ''), nullif(s.author, ''), regexp_extract(s.page_url, 'flickr[.]com/photos/([^/?#]+)', 1)))")} AS creators,
       quarantine.reason AS quarantine_reason, quarantine.stage AS quarantine_stage,
       CASE WHEN quarantine.at >= $since AND quarantine.at < $until AND quarantine.key <> ''
            THEN coalesce(bytes, 0) ELSE 0 END AS quarantine_bytes,
       {_CLEAN.format("list_transform(features.labels, lambda l: l.name)")} AS labels,
       features.label_source AS label_source, features.brightness AS brightness,
       features.contrast AS contrast, features.blur AS blur, features.faces AS faces,
       features.exif.camera AS camera
FROM flat
WHERE (retrieved_at >= $since AND retrieved_at < $until) OR len(done) > 0
   OR (quarantine.at >= $since AND quarantine.at < $until)
ORDER BY sha256
"""

OUTPUTS_SQL = """
WITH entries AS (SELECT d.sha256 AS sha256, unnest(map_entries(d.outputs)) AS e FROM parsed)
SELECT sha256, e.key AS recipe, e.value.version AS version, e.value.format AS format, e.value.width AS width,
       e.value.height AS height, e.value.bytes AS bytes, e.value.seconds AS seconds,
       TRY_CAST(e.value.processed_at AS TIMESTAMPTZ) AS processed_at,
       coalesce(e.value.timings, MAP {}::MAP(VARCHAR, DOUBLE)) AS timings
FROM entries
WHERE list_contains($recipes, e.key) AND e.value.processed_at >= $since AND e.value.processed_at < $until
ORDER BY sha256, recipe
"""


def flatten(docs: Iterable[str], since: str, until: str, recipes: Iterable[str]):
    """Two Arrow tables for the window from catalog documents as JSON text: image rows and output
    rows (see the module docstring). Documents touched outside the window are left out.

    DuckDB parses the documents ``CHUNK`` at a time (vectorised, in C++: a million documents would
    take minutes as Python dicts), so memory stays flat in the size of the day.
    """
    import duckdb
    import pyarrow as pa

    image_schema, output_schema = _schemas()
    params = {"since": since, "until": until, "recipes": sorted(recipes)}
    image_parts, output_parts = [image_schema.empty_table()], [output_schema.empty_table()]
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET memory_limit = '256MB'")  # one chunk at a time: DuckDB need not keep more
        iterator = iter(docs)
        while True:
            chunk = list(itertools.islice(iterator, CHUNK))
            if not chunk:
                break
            docs_array = _text_array(chunk)
            del chunk
            # one batch per core, so that DuckDB parses on every core
            con.register("chunk", pa.Table.from_batches(
                pa.table({"doc": docs_array}).to_batches(max_chunksize=-(-len(docs_array) // (os.cpu_count() or 1)))))
            con.execute(PARSE_SQL)  # each document parsed once, for both tables
            image_parts.append(con.sql(IMAGES_SQL, params=params).to_arrow_table().cast(image_schema).combine_chunks())
            output_parts.append(con.sql(OUTPUTS_SQL, params=params).to_arrow_table().cast(output_schema).combine_chunks())
            con.unregister("chunk")
    finally:
        con.close()
    # In the catalog's order, sorted within each chunk: a global sort would copy the whole day again.
    return pa.concat_tables(image_parts), pa.concat_tables(output_parts)


def _text_array(texts: list[str | bytes]):
    """An Arrow string array of JSON texts, built from one joined buffer: converting a list of Python
    strings item by item costs as much as parsing them."""
    import numpy as np
    import pyarrow as pa

    blobs = [t if isinstance(t, bytes) else t.encode() for t in texts]
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs)), out=offsets[1:])
    array = pa.LargeStringArray.from_buffers(len(blobs), pa.py_buffer(offsets), pa.py_buffer(b"".join(blobs)))
    array.validate(full=True)  # UTF-8
    return array


def read_day(catalog: Catalog, day: date, recipes: Iterable[str] | None = None):
    """The day's image and output tables, streamed from the catalog."""
    since, until = day_window(day)
    recipes = sorted(recipes or ())  # the caller names the recipes it counts: analytics knows none
    return flatten(catalog.touched_json(since, until, recipes, batch_size=CHUNK), since, until, recipes)


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
    stats.update({name: round(float(q), 6) for name, q in zip(QUANTILES, quantiles)})
    return stats


def _time_stats(series) -> dict[str, float | int]:
    series = series.dropna()
    if series.empty:
        return {"count": 0}
    quantiles = series.quantile(list(TIME_QUANTILES.values()))
    return {"count": int(series.size), "mean": round(float(series.mean()), 6), "max": round(float(series.max()), 6),
            **{name: round(float(q), 6) for name, q in zip(TIME_QUANTILES, quantiles)}}


def _exploded(table, column: str):
    """(row, value) pairs of a list column, as a DataFrame (vectorised in Arrow)."""
    import pandas as pd
    import pyarrow.compute as pc

    values = table.column(column).combine_chunks()
    return pd.DataFrame({"row": pc.list_parent_indices(values).to_numpy(),
                         "value": pc.list_flatten(values).dictionary_encode().to_pandas()})


def compute_metrics(images, outputs, day: date) -> dict[str, Any]:
    """The day's metrics document from its image and output tables (see :func:`flatten`)."""
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
    timings = _timings(outputs)
    metrics["operations"] = {
        str(recipe): {str(op): _time_stats(g["seconds"]) for op, g in group.groupby("operation", sort=True, observed=True)}
        for recipe, group in timings.groupby("recipe", sort=True, observed=True)
    }

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
        metrics[name] = [{"name": k, "images": v} for k, v in list(counts.items())[:TOP if name != "licences" else MAX_VALUES]]
    metrics["known"] = {  # images first retrieved this day whose licence / creator is known
        name: int((pc.list_value_length(images.column(column)).to_numpy(zero_copy_only=False)[retrieved_rows] > 0).sum())
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


def _timings(outputs):
    """(recipe, operation, seconds) rows of the outputs' timings maps, names as categoricals."""
    import numpy as np
    import pandas as pd

    timings = outputs.column("timings").combine_chunks()
    if len(timings) == 0:
        return pd.DataFrame({"recipe": pd.Series(dtype=str), "operation": pd.Series(dtype=str),
                             "seconds": pd.Series(dtype=float)})
    offsets = timings.offsets.to_numpy()  # (list_parent_indices does not take map arrays)
    parents = np.repeat(np.arange(len(timings)), np.diff(offsets))
    recipes = outputs.column("recipe").combine_chunks().dictionary_encode()
    return pd.DataFrame({
        "recipe": pd.Categorical.from_codes(recipes.indices.to_numpy(zero_copy_only=False)[parents],
                                            categories=recipes.dictionary.to_pylist()),
        "operation": timings.keys[offsets[0]:offsets[-1]].dictionary_encode().to_pandas(),
        "seconds": timings.items[offsets[0]:offsets[-1]].to_numpy(zero_copy_only=False)})


def _co_occurrence(labels, top: list[str]) -> list[dict[str, Any]]:
    """The most frequent pairs among the top labels, counted in images having both."""
    if not top:
        return []
    import pandas as pd

    kept = labels[labels["value"].isin(top)].astype({"value": object})
    pairs = kept.merge(kept, on="row")
    pairs = pairs[pairs["value_x"] < pairs["value_y"]]
    counts = pairs.groupby(["value_x", "value_y"]).size().reset_index(name="images")
    counts = counts.sort_values(["images", "value_x", "value_y"], ascending=[False, True, True]).head(TOP)
    return [{"a": str(r.value_x), "b": str(r.value_y), "images": int(r.images)} for r in counts.itertuples()]


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers the Asset event carries and the reports lead with."""
    return {"day": metrics["day"], **{k: metrics[k] for k in ("retrieved", "processed", "quarantined",
                                                              "duplicated", "outputs")},
            "raw_bytes": metrics["storage"]["raw"], "processed_bytes": sum(metrics["storage"]["processed"].values())}


# -- charts and the HTML report --------------------------------------------------------------------

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


def _table(headers: list[str], rows: Iterable[Iterable[Any]], metric: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = []
    for row in rows:
        cells = list(row)
        key = html.escape(str(cells[0]), quote=True)
        attrs = f' data-{metric}="{key}"' if metric else ""
        body.append(f"<tr{attrs}>" + "".join(f"<td>{html.escape(_fmt(c))}</td>" for c in cells) + "</tr>")
    return f'<div class="wide"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _img(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" data-chart="{name}" src="data:image/png;base64,{data}"></figure>'


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0}
.cards{display:flex;flex-wrap:wrap;gap:1rem;margin:1rem 0}
.card{background:#f4f6fa;border-radius:8px;padding:.8rem 1.2rem;min-width:8rem}
.card b{display:block;font-size:1.6rem} table{border-collapse:collapse;margin:.5rem 0 1.5rem}
th,td{border-bottom:1px solid #ddd;padding:.25rem .7rem;text-align:right;white-space:nowrap} th:first-child,td:first-child{text-align:left}
figure{margin:1rem 0} img{max-width:100%} section{margin-bottom:2rem} .wide{overflow-x:auto;max-width:100%}
"""


def _page(title: str, subtitle: str, body: str) -> bytes:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(subtitle)}</p>{body}</body></html>\n").encode()


def _cards(numbers: dict[str, Any]) -> str:
    return '<div class="cards">' + "".join(
        f'<div class="card"><b data-metric="{html.escape(k)}">{html.escape(_fmt(v))}</b>{html.escape(k.replace("_", " "))}</div>'
        for k, v in numbers.items()) + "</div>"


def daily_html(metrics: dict[str, Any], charts: dict[str, bytes]) -> bytes:
    """A self-contained page: headline numbers, breakdowns and the charts embedded as data URIs."""
    h = metrics["headline"]
    parts = [_cards({k: v for k, v in h.items() if k != "day"})]
    parts.append("<section><h2>Sources and formats</h2>" + _img("sources.png", charts["sources.png"], "sources"))
    for name, title in (("engine", "By source"), ("keyword", "By keyword"), ("format", "By format"),
                        ("domain", "By source domain")):
        rows = [(k, v["retrieved"], v["processed"], v["quarantined"], v["duplicated"]) for k, v in metrics["by"][name].items()]
        parts.append(f"<h3>{title}</h3>" + _table([name, "retrieved", "processed", "quarantined", "duplicated"],
                                                   rows, metric=f"{name}"))
    parts.append("</section><section><h2>Sizes</h2>" + _img("sizes.png", charts["sizes.png"], "size histograms"))
    dist = metrics["distributions"]
    parts.append(_table(["measure", "count", "mean", "min", "p25", "p50", "p75", "p95", "max"],
                        [(k, *(v.get(s, "") for s in ("count", "mean", "min", "p25", "p50", "p75", "p95", "max")))
                         for k, v in dist.items()], metric="distribution"))
    parts.append("</section><section><h2>Processing</h2>" + _img("processing.png", charts["processing.png"], "processing times"))
    rows = [(r, v["outputs"], v["bytes"], *(v["seconds"].get(s, "") for s in ("mean", "p50", "p90", "p95", "p99", "max")))
            for r, v in metrics["processing"].items()]
    parts.append(_table(["recipe", "outputs", "bytes", "mean s", "p50 s", "p90 s", "p95 s", "p99 s", "max s"], rows,
                        metric="recipe"))
    rows = [(f"{r} / {op}", v["count"], *(v.get(s, "") for s in ("p50", "p90", "p95", "p99", "max")))
            for r, ops in metrics["operations"].items() for op, v in ops.items()]
    parts.append(_table(["recipe / operation", "count", "p50 s", "p90 s", "p95 s", "p99 s", "max s"], rows))
    parts.append("</section><section><h2>Labels</h2>" + _img("labels.png", charts["labels.png"], "top labels"))
    parts.append(_table(["label a", "label b", "images"],
                        [(p["a"], p["b"], p["images"]) for p in metrics["labels"]["co_occurrence"]]))
    parts.append("</section><section><h2>Failures</h2>" + _img("failures.png", charts["failures.png"], "failure reasons"))
    parts.append(_table(["reason", "images"], metrics["failures"]["reasons"].items(), metric="reason"))
    parts.append("</section><section><h2>Creators, licences, domains</h2>")
    for name in ("domains", "creators", "licences"):
        parts.append(f"<h3>{name.capitalize()}</h3>" + _table([name[:-1], "images"],
                                                              [(d["name"], d["images"]) for d in metrics[name]]))
    storage = metrics["storage"]
    rows = [("raw", storage["raw"]), ("quarantine", storage["quarantine"]),
            *((f"processed/{r}", b) for r, b in storage["processed"].items()), ("total", storage["total"])]
    parts.append("</section><section><h2>Storage added</h2>" + _table(["zone", "bytes"], rows, metric="zone") + "</section>")
    since, until = metrics["interval"]
    return _page(f"Gallery on {metrics['day']}", f"data interval {since} – {until} (UTC)", "".join(parts))


# -- writing a day ---------------------------------------------------------------------------------

def _parquet(table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def _replace_prefix(store: ObjectStore, prefix: str, objects: dict[str, tuple[bytes, str]]) -> None:
    """Overwrite a partition: write its objects, then delete anything else left under its prefix."""
    for key, (data, content_type) in objects.items():
        store.put_bytes(key, data, content_type)
    for key in list(store.list(prefix)):
        if key not in objects:
            store.delete(key)


def write_daily_report(store: ObjectStore, catalog: Catalog, day: date,
                       recipes: Iterable[str] | None = None) -> dict[str, Any]:
    """Compute and (over)write the day's partitions, metrics document, charts and report.

    Returns the headline numbers and the keys written."""
    images, outputs = read_day(catalog, day, recipes)
    metrics = compute_metrics(images, outputs, day)
    charts = daily_charts(images, outputs, metrics)
    prefix = keys.report_prefix(day)
    _replace_prefix(store, f"{IMAGES_DATASET}/dt={day.isoformat()}/",
                    {images_partition_key(day): (_parquet(images), "application/vnd.apache.parquet")})
    _replace_prefix(store, f"{OUTPUTS_DATASET}/dt={day.isoformat()}/",
                    {outputs_partition_key(day): (_parquet(outputs), "application/vnd.apache.parquet")})
    report = {prefix + name: (png, "image/png") for name, png in charts.items()}
    report[prefix + "metrics.json"] = (json.dumps(metrics, indent=1, sort_keys=True).encode(), "application/json")
    report[prefix + "report.html"] = (daily_html(metrics, charts), "text/html; charset=utf-8")
    _replace_prefix(store, prefix, report)
    catalog.put_metrics(day.isoformat(), metrics)
    return {**metrics["headline"], "report_key": prefix + "report.html",
            "partition_key": images_partition_key(day)}


# -- SQL over the partitions, and the overview -----------------------------------------------------

@contextmanager
def _local_datasets(store: ObjectStore) -> Iterator[str]:
    """A local folder holding ``reports/images`` and ``reports/outputs``: the store's own folder, or
    a temporary copy of the partitions from S3 (small: one file per day and dataset)."""
    if isinstance(store, LocalStore):
        yield str(store.root)
        return
    with tempfile.TemporaryDirectory(prefix="gallery-partitions-") as tmp:
        for dataset in (IMAGES_DATASET, OUTPUTS_DATASET):
            for key in store.list(dataset + "/"):
                target = os.path.join(tmp, key)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                store.download(key, target)
        yield tmp


@contextmanager
def partitions(store: ObjectStore):
    """A DuckDB connection with two views over the Parquet partitions: ``images`` and ``outputs``,
    each with the partition's ``dt`` (a date) as a column; ``days`` lists every partition's day,
    empty days included."""
    import duckdb

    image_schema, output_schema = _schemas()
    with _local_datasets(store) as root:
        con = duckdb.connect()
        try:
            days = []
            for dataset, schema, view in ((IMAGES_DATASET, image_schema, "images"),
                                          (OUTPUTS_DATASET, output_schema, "outputs")):
                folder = os.path.join(root, dataset)
                files = sorted(os.path.join(folder, d, f) for d in (os.listdir(folder) if os.path.isdir(folder) else [])
                               if d.startswith("dt=") for f in os.listdir(os.path.join(folder, d)) if f.endswith(".parquet"))
                if view == "images":
                    days = sorted({os.path.basename(os.path.dirname(f))[3:] for f in files})
                if files:
                    paths = ", ".join("'" + f.replace("'", "''") + "'" for f in files)  # a view takes no parameters
                    con.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet([{paths}], hive_partitioning = true, "
                                "hive_types = {'dt': DATE}, union_by_name = true)")
                else:
                    empty = schema.empty_table()
                    con.register(f"{view}_empty", empty)
                    con.execute(f"CREATE VIEW {view} AS SELECT *, NULL::DATE AS dt FROM {view}_empty")
            con.execute("CREATE TABLE days (dt DATE)")
            if days:
                con.executemany("INSERT INTO days VALUES (CAST(? AS DATE))", [[d] for d in days])
            yield con
        finally:
            con.close()


def query_partitions(store: ObjectStore, sql: str, params: dict[str, Any] | list | None = None):
    """Run SQL over the partitions (views ``images``, ``outputs``, ``days``); returns a DataFrame.

    For example the top labels of the whole gallery::

        query_partitions(store, TOP_LABELS_SQL, {"top": 10})
    """
    with partitions(store) as con:
        return con.execute(sql, params or {}).df()


TRENDS_SQL = """
WITH per_day AS (
    SELECT dt,
           count(*) FILTER (WHERE retrieved) AS retrieved,
           count(*) FILTER (WHERE processed) AS processed,
           count(*) FILTER (WHERE quarantined) AS quarantined,
           count(*) FILTER (WHERE retrieved AND duplicated) AS duplicated,
           coalesce(sum(bytes) FILTER (WHERE retrieved AND has_raw), 0) AS raw_bytes,
           coalesce(sum(quarantine_bytes), 0) AS quarantine_bytes
    FROM images GROUP BY dt),
outs AS (
    SELECT dt, count(*) AS outputs, coalesce(sum(bytes), 0) AS processed_bytes,
           coalesce(sum(seconds), 0) AS processing_seconds
    FROM outputs GROUP BY dt),
daily AS (
    SELECT strftime(days.dt, '%Y-%m-%d') AS day,
           coalesce(retrieved, 0) AS retrieved, coalesce(processed, 0) AS processed,
           coalesce(quarantined, 0) AS quarantined, coalesce(duplicated, 0) AS duplicated,
           coalesce(outputs, 0) AS outputs, coalesce(raw_bytes, 0) AS raw_bytes,
           coalesce(quarantine_bytes, 0) AS quarantine_bytes, coalesce(processed_bytes, 0) AS processed_bytes,
           round(coalesce(processing_seconds, 0), 6) AS processing_seconds
    FROM days LEFT JOIN per_day USING (dt) LEFT JOIN outs USING (dt))
SELECT *,
       sum(retrieved) OVER w AS cumulative_retrieved,
       sum(processed) OVER w AS cumulative_processed,
       sum(quarantined) OVER w AS cumulative_quarantined,
       sum(raw_bytes + quarantine_bytes + processed_bytes) OVER w AS cumulative_bytes
FROM daily
WINDOW w AS (ORDER BY day ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY day
"""

BY_SOURCE_SQL = """
SELECT strftime(dt, '%Y-%m-%d') AS day, engine, count(*) AS images
FROM images, unnest(engines) AS t(engine)
WHERE retrieved
GROUP BY ALL ORDER BY day, engine
"""


def rollup(store: ObjectStore) -> dict[str, Any]:
    """Rebuild the overview from every partition: trends per day, cumulative totals, images per
    day by source and the gallery's top labels. Overwrites ``reports/overview/``."""
    import pandas as pd

    with partitions(store) as con:
        trends = con.execute(TRENDS_SQL).df()
        by_source = con.execute(BY_SOURCE_SQL).df()
        top_labels = con.execute(TOP_LABELS_SQL, {"top": TOP}).df()
    int_columns = [c for c in trends.columns if c not in ("day", "processing_seconds")]
    trends[int_columns] = trends[int_columns].astype("int64")
    by_source["images"] = by_source["images"].astype("int64")
    top_labels["images"] = top_labels["images"].astype("int64")
    totals = {c.removeprefix("cumulative_"): int(trends[c].iloc[-1]) if len(trends) else 0
              for c in trends.columns if c.startswith("cumulative_")}
    totals["days"] = int(len(trends))

    pivot = by_source.pivot_table(index="day", columns="engine", values="images", fill_value=0, aggfunc="sum")
    pivot = pivot.reindex(trends["day"], fill_value=0) if len(trends) else pivot
    charts = {"images_per_day.png": _stacked_chart(pivot), "cumulative.png": _cumulative_chart(trends)}
    page = _page("Gallery overview", f"{totals['days']} days of partitions" + (
        f", {trends['day'].iloc[0]} to {trends['day'].iloc[-1]}" if len(trends) else ""), "".join([
        _cards({k: totals[k] for k in ("days", "retrieved", "processed", "quarantined", "bytes")}),
        "<section><h2>Images per day by source</h2>", _img("images_per_day.png", charts["images_per_day.png"], "per day"),
        "</section><section><h2>Cumulative totals</h2>", _img("cumulative.png", charts["cumulative.png"], "cumulative"),
        "</section><section><h2>Per day</h2>",
        _table(list(trends.columns), trends.itertuples(index=False), metric="day"),
        "</section><section><h2>Top labels</h2>",
        _table(["label", "images"], top_labels.itertuples(index=False)), "</section>"]))
    objects = {OVERVIEW_PREFIX + name: (png, "image/png") for name, png in charts.items()}
    objects[OVERVIEW_PREFIX + "trends.csv"] = (trends.to_csv(index=False).encode(), "text/csv")
    objects[OVERVIEW_PREFIX + "by_source.csv"] = (by_source.to_csv(index=False).encode(), "text/csv")
    objects[OVERVIEW_PREFIX + "top_labels.csv"] = (top_labels.to_csv(index=False).encode(), "text/csv")
    objects[OVERVIEW_PREFIX + "index.html"] = (page, "text/html; charset=utf-8")
    _replace_prefix(store, OVERVIEW_PREFIX, objects)
    return {"totals": totals, "report_key": OVERVIEW_PREFIX + "index.html",
            "trends": pd.DataFrame(trends).to_dict("records")}


def _stacked_chart(pivot) -> bytes:
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


def _cumulative_chart(trends) -> bytes:
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
