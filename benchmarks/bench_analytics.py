"""The daily metrics over a day of 1,000,000 catalog records: seconds and peak memory.

    python benchmarks/bench_analytics.py [--records N] [--db PATH]

Generates N realistic documents (tests/support/synthetic.py, the tests' generator: sources, keywords, features, outputs
with timings, quarantines, old documents) retrieved on one day into a SQLite catalog (kept at
--db and reused while it holds N documents), then, in a fresh process so that the generation does
not count, reads that day from the catalog's analytics facts (``Catalog.day_facts``, text lines
read by Arrow's CSV reader) and computes its metrics document. Reports each stage's seconds and
the process's peak RSS; the target is under 30 s and under 2 GiB. Writing the Parquet partition is
timed too, apart. Then, in another fresh process, the same day read from the documents themselves
(``Catalog.touched_json`` parsed by DuckDB in chunks: what the MongoDB catalog does), for the
ratio; ``--readers facts`` skips it. Both readers' metrics and Parquet partitions are digested
(SHA-256): they must be the same.

The catalog's write methods file a document's facts; the generation loads the documents in bulk
through plain SQL (as any other writer of the file could) and then has the catalog derive their facts
(``SqliteCatalog.refresh_facts``), timed apart.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

DAY = date(2026, 11, 1)
TARGET_SECONDS, TARGET_BYTES = 30, 2 * 1024**3


def generate(db: Path, records: int) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the tests' helpers
    from support.synthetic import image_doc, insert_docs

    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.process.features import FEATURES_VERSION
    from image_pipeline.process.recipes import get_recipe

    rng = random.Random(1)
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=timezone.utc)
    earlier: list[str] = []
    # The shipped recipes' fingerprints and the features' version, as processing records them: the
    # catalog benchmark (bench_catalog.py) plans runs on this catalog too.
    fingerprints = {name: get_recipe(name).fingerprint for name in ("half_gray", "thumb", "web")}

    def docs():
        for i in range(records):
            doc = image_doc(rng, start + timedelta(microseconds=rng.randrange(86_400 * 10**6 // 2)), i, earlier)
            if len(earlier) < 500:
                earlier.append(doc["sha256"])
            for name, out in doc["outputs"].items():
                out["fingerprint"] = fingerprints.get(name)
            if doc.get("features"):
                doc["features"]["version"] = FEATURES_VERSION
            yield doc

    db.unlink(missing_ok=True)
    with SqliteCatalog(db) as catalog:
        # Random sha256 keys land all over the B-trees: with SQLite's default 2 MB page cache each
        # insert rereads pages from disk, and generating a million took most of an hour.
        catalog.conn.execute("PRAGMA cache_size = -4000000")  # KiB: 4 GB
        began = time.perf_counter()
        insert_docs(catalog, docs(), batch=20_000)  # (the facts derived at its end)
        print(f"  loaded and derived the facts in {time.perf_counter() - began:.1f} s", flush=True)


def count(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return -1
    with sqlite3.connect(db) as conn:
        try:
            return conn.execute("SELECT count(*) FROM images").fetchone()[0]
        except sqlite3.Error:
            return -1


def measure(db: Path, reader: str) -> None:
    """Runs in a fresh process: prints one JSON line of timings, peak RSS and the outputs' digests."""
    import hashlib
    import io

    from image_pipeline import analytics
    from image_pipeline.analytics import extract
    from image_pipeline.core.catalog import SqliteCatalog

    read_day = analytics.read_day if reader == "facts" else extract.read_documents

    def rss() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    with SqliteCatalog(db) as catalog:
        cpu, start = time.process_time(), time.perf_counter()
        images, outputs = read_day(catalog, DAY, ["half_gray", "thumb", "web"])
        read, read_rss = time.perf_counter(), rss()
        metrics = analytics.compute_metrics(images, outputs, DAY)
        done, cpu = time.perf_counter(), time.process_time() - cpu
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(images, buf, compression="zstd")
    pq.write_table(outputs, buf, compression="zstd")
    written = time.perf_counter()
    # The partitions' bytes as written (they depend on the tables' chunks too), and the tables' content.
    content = io.BytesIO()
    pq.write_table(images.combine_chunks(), content)
    pq.write_table(outputs.combine_chunks(), content)
    digests = {"parquet_sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
               "tables_sha256": hashlib.sha256(content.getvalue()).hexdigest(),
               "metrics_sha256": hashlib.sha256(json.dumps(metrics, sort_keys=True).encode()).hexdigest()}
    print(json.dumps({"read": read - start, "metrics": done - read, "parquet": written - done, "cpu": cpu,
                      "read_rss": read_rss, **digests,
                      "parquet_bytes": buf.tell(), "images": images.num_rows, "outputs": outputs.num_rows,
                      "retrieved": metrics["retrieved"], "processed": metrics["processed"],
                      "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--readers", default="facts,documents", help="facts, documents or both (default)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reader", default="facts", help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.reader)
        return
    if args.generate:
        generate(args.generate, args.records)
        return
    db = args.db or Path(tempfile.gettempdir()) / f"image-pipeline-bench-analytics-{args.records}.sqlite3"
    if count(db) != args.records:
        print(f"generating {args.records:,} documents into {db} ...", flush=True)
        start = time.perf_counter()
        # In a process of its own: a process started from this one would report this one's peak RSS
        # as its own (Linux keeps the maximum across fork and exec), the 4 GB page cache of the load.
        subprocess.run([sys.executable, __file__, "--generate", str(db), "--records", str(args.records)], check=True)
        size = db.stat().st_size / 1024**2
        print(f"  generated in {time.perf_counter() - start:.1f} s ({size:,.0f} MiB)", flush=True)
    totals, digests = {}, {}  # (the first process to open an older file migrates it, before its clock starts)
    for reader in args.readers.split(","):
        out = subprocess.run([sys.executable, __file__, "--measure", str(db), "--reader", reader], check=True,
                             capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        totals[reader] = total = r["read"] + r["metrics"]
        digests[reader] = r["tables_sha256"], r["metrics_sha256"]
        print(f"analytics over {args.records:,} records of one day, read from the {reader}: "
              f"{r['images']:,} image rows, {r['outputs']:,} outputs ({r['retrieved']:,} retrieved, "
              f"{r['processed']:,} processed)")
        print(f"  read (catalog -> Arrow)            {r['read']:7.2f} s")
        print(f"  metrics (pandas)                   {r['metrics']:7.2f} s")
        print(f"  total                              {total:7.2f} s   (target < {TARGET_SECONDS} s)  "
              f"{'ok' if total < TARGET_SECONDS else 'OVER'}")
        print(f"  CPU time (all threads)             {r['cpu']:7.2f} s   "
              "(the machine is shared: wall time includes waiting)")
        print(f"  peak RSS after reading             {r['read_rss'] / 1024**2:7.0f} MiB")
        target_mib = TARGET_BYTES // 1024**2
        print(f"  peak RSS                           {r['peak_rss'] / 1024**2:7.0f} MiB (target < {target_mib} MiB)  "
              f"{'ok' if r['peak_rss'] < TARGET_BYTES else 'OVER'}")
        print(f"  Parquet partitions (not counted)   {r['parquet']:7.2f} s, {r['parquet_bytes'] / 1024**2:.1f} MiB")
        print(f"  SHA-256: Parquet, tables, metrics  {r['parquet_sha256'][:12]}, {r['tables_sha256'][:12]}, "
              f"{r['metrics_sha256'][:12]}")
    if len(totals) == 2:
        print(f"the facts reader over the documents reader: {totals['documents'] / totals['facts']:.2f}x; "
              f"the same tables and metrics: {'yes' if len(set(digests.values())) == 1 else 'NO'}")


if __name__ == "__main__":
    main()
