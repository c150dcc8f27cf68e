"""The Parquet partitions: where each day's go, overwriting them, and reading every day's back.

- ``reports/images/dt=YYYY-MM-DD/part-0.parquet``: one row per image retrieved, processed or
  quarantined that day (flags say which), with its sources, keywords, labels and features;
- ``reports/outputs/dt=YYYY-MM-DD/part-0.parquet``: one row per recipe output processed that day,
  with its per-operation ``timings``.

:func:`partitions` and :func:`query_partitions` read them all with DuckDB. Spark reads the same
partitions (``spark.read.parquet(".../reports/images")`` discovers ``dt``).
(Not ``partitions.py``: importing such a module would hide the package's :func:`partitions`.)

Heavy libraries (pyarrow, duckdb) are imported inside the
functions: DAG files import this package.
"""

from __future__ import annotations

import io
import os
import tempfile
from contextlib import contextmanager
from datetime import date
from typing import Any, Iterator

from image_pipeline.analytics.extract import arrow_schemas
from image_pipeline.core import keys
from image_pipeline.core.storage import LocalStore, ObjectStore

IMAGES_DATASET = f"{keys.REPORTS}/images"
OUTPUTS_DATASET = f"{keys.REPORTS}/outputs"

# DuckDB over the partitions: the seed's SparkSQL top-labels query, on the views of query_partitions.
TOP_LABELS_SQL = """
SELECT label, count(DISTINCT sha256) AS images
FROM images, unnest(labels) AS t(label)
WHERE processed
GROUP BY label
ORDER BY images DESC, label
LIMIT $top
"""


def images_partition_key(day: date) -> str:
    return f"{IMAGES_DATASET}/dt={day.isoformat()}/part-0.parquet"


def outputs_partition_key(day: date) -> str:
    return f"{OUTPUTS_DATASET}/dt={day.isoformat()}/part-0.parquet"


# -- writing a partition ---------------------------------------------------------------------------

def parquet_bytes(table) -> bytes:
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def replace_prefix(store: ObjectStore, prefix: str, objects: dict[str, tuple[bytes, str]]) -> None:
    """Overwrite a partition: write its objects, then delete anything else left under its prefix."""
    for key, (data, content_type) in objects.items():
        store.put_bytes(key, data, content_type)
    for key in list(store.list(prefix)):
        if key not in objects:
            store.delete(key)


# -- SQL over the partitions ----------------------------------------------------------------------

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

    image_schema, output_schema = arrow_schemas()
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
