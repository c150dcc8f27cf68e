"""The overview (``reports/overview/``: trends per day, cumulative totals, images per day by
source, top labels), rebuilt from all the partitions with DuckDB (:mod:`.parquet`), so
backfilling a past month updates it.

Heavy libraries (pandas, duckdb, matplotlib) are imported inside the
functions: DAG files import this package.
"""

from __future__ import annotations

from typing import Any

from image_pipeline.analytics.charts import cumulative_chart, stacked_chart
from image_pipeline.analytics.html import cards_html, image_html, page_html, table_html
from image_pipeline.analytics.metrics import TOP
from image_pipeline.analytics.parquet import TOP_LABELS_SQL, replace_prefix, partitions
from image_pipeline.core import keys
from image_pipeline.core.storage import ObjectStore

OVERVIEW_PREFIX = f"{keys.REPORTS}/overview/"

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
    charts = {"images_per_day.png": stacked_chart(pivot), "cumulative.png": cumulative_chart(trends)}
    page = page_html("Gallery overview", f"{totals['days']} days of partitions" + (
        f", {trends['day'].iloc[0]} to {trends['day'].iloc[-1]}" if len(trends) else ""), "".join([
        cards_html({k: totals[k] for k in ("days", "retrieved", "processed", "quarantined", "bytes")}),
        "<section><h2>Images per day by source</h2>",
        image_html("images_per_day.png", charts["images_per_day.png"], "per day"),
        "</section><section><h2>Cumulative totals</h2>",
        image_html("cumulative.png", charts["cumulative.png"], "cumulative"),
        "</section><section><h2>Per day</h2>",
        table_html(list(trends.columns), trends.itertuples(index=False), metric="day"),
        "</section><section><h2>Top labels</h2>",
        table_html(["label", "images"], top_labels.itertuples(index=False)), "</section>"]))
    objects = {OVERVIEW_PREFIX + name: (png, "image/png") for name, png in charts.items()}
    objects[OVERVIEW_PREFIX + "trends.csv"] = (trends.to_csv(index=False).encode(), "text/csv")
    objects[OVERVIEW_PREFIX + "by_source.csv"] = (by_source.to_csv(index=False).encode(), "text/csv")
    objects[OVERVIEW_PREFIX + "top_labels.csv"] = (top_labels.to_csv(index=False).encode(), "text/csv")
    objects[OVERVIEW_PREFIX + "index.html"] = (page, "text/html; charset=utf-8")
    replace_prefix(store, OVERVIEW_PREFIX, objects)
    return {"totals": totals, "report_key": OVERVIEW_PREFIX + "index.html",
            "trends": pd.DataFrame(trends).to_dict("records")}
