"""Daily analytics against an independent computation over realistic documents spread across 14
days; partitions overwritten, never appended; the overview rebuilt from the partitions."""

from __future__ import annotations

import io
import json
import random
import re
from collections import Counter
from datetime import date, timedelta

import numpy as np
import pytest

from image_pipeline import analytics
from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog
from image_pipeline.core.storage import LocalStore
from support.synthetic import gallery_docs, insert_docs

DAYS = [date(2026, 10, 1) + timedelta(days=i) for i in range(14)]
RECIPES = ("half_gray", "thumb", "web")


@pytest.fixture(scope="module")
def docs():
    return list(gallery_docs(DAYS, per_day=30, seed=11))


@pytest.fixture
def catalog(tmp_path, docs):
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as cat:
        insert_docs(cat, docs)
        yield cat


def window(day):
    return f"{day.isoformat()}T00:00:00.000000+00:00", f"{(day + timedelta(days=1)).isoformat()}T00:00:00.000000+00:00"


def pct(values, q):
    return round(float(np.percentile(values, q)), 6)


def expected(docs, day, recipes=RECIPES):
    """What the day's metrics must say, computed here in plain Python from the documents."""
    since, until = window(day)
    inside = lambda at: bool(at) and since <= at < until  # noqa: E731
    retrieved = [d for d in docs if inside(d["retrieved_at"])]
    outputs = [(d, r, o) for d in docs for r, o in d["outputs"].items() if inside(o["processed_at"]) and r in recipes]
    processed_ids = {d["sha256"] for d, _, _ in outputs}
    processed = [d for d in docs if d["sha256"] in processed_ids]
    quarantined = [d for d in docs if d["quarantine"] and inside(d["quarantine"]["at"])]
    is_dup = lambda d: len(d["sources"]) > 1 or bool(d.get("duplicate_of"))  # noqa: E731
    exp = {"retrieved_docs": retrieved, "retrieved": len(retrieved), "processed": len(processed), "quarantined": len(quarantined),
           "duplicated": sum(map(is_dup, retrieved)), "outputs": len(outputs)}
    by_engine = {}
    for group, name in ((retrieved, "retrieved"), (processed, "processed"), (quarantined, "quarantined")):
        for d in group:
            for engine in {s["source"] for s in d["sources"]}:
                by_engine.setdefault(engine, Counter())[name] += 1
    exp["by_engine"] = {k: dict(v) for k, v in by_engine.items()}
    exp["by_format_retrieved"] = Counter(d["format"] for d in retrieved)
    exp["by_keyword_retrieved"] = Counter(k for d in retrieved for k in set(d["keywords"]))
    exp["bytes"] = [d["bytes"] for d in retrieved]
    exp["aspect"] = [d["width"] / d["height"] for d in retrieved if d["width"] and d["height"]]
    exp["brightness"] = [d["features"]["brightness"] for d in processed if d.get("features")]
    exp["blur"] = [d["features"]["blur"] for d in processed if d.get("features")]
    exp["seconds"] = {r: [o["seconds"] for _, rr, o in outputs if rr == r] for r in RECIPES}
    exp["timings"] = {(r, op): [] for r in RECIPES for op in ("decode", "encode")}
    for _, r, o in outputs:
        for op in ("decode", "encode"):
            if op in o.get("timings", {}):
                exp["timings"][(r, op)].append(o["timings"][op])
    exp["reasons"] = Counter(d["quarantine"]["reason"] for d in quarantined)
    exp["labels"] = Counter(name for d in processed for name in {x["name"] for x in (d.get("features") or {}).get("labels", [])})
    exp["pairs"] = Counter()
    for d in processed:
        names = sorted({x["name"] for x in (d.get("features") or {}).get("labels", [])})
        exp["pairs"].update((a, b) for i, a in enumerate(names) for b in names[i + 1:])
    exp["creators"] = Counter(c for d in retrieved for c in {m.group(1) for s in d["sources"]
                              for m in [re.search(r"flickr\.com/photos/([^/]+)/", s.get("page_url", ""))] if m})
    exp["storage"] = {"raw": sum(d["bytes"] for d in retrieved if d["raw_key"]),
                      "quarantine": sum(d["bytes"] for d in quarantined),
                      "processed": {r: sum(o["bytes"] for _, rr, o in outputs if rr == r) for r in RECIPES}}
    return exp


def check_metrics(m, exp):
    assert {k: m[k] for k in ("retrieved", "processed", "quarantined", "duplicated", "outputs")} == \
        {k: exp[k] for k in ("retrieved", "processed", "quarantined", "duplicated", "outputs")}
    for engine, counts in exp["by_engine"].items():
        got = m["by"]["engine"][engine]
        assert {k: got[k] for k in counts} == counts and sum(got.values()) >= sum(counts.values())
    assert {k: v["retrieved"] for k, v in m["by"]["format"].items() if v["retrieved"]} == exp["by_format_retrieved"]
    assert {k: v["retrieved"] for k, v in m["by"]["keyword"].items() if v["retrieved"]} == exp["by_keyword_retrieved"]
    dist = m["distributions"]
    assert dist["bytes"]["count"] == len(exp["bytes"]) and dist["bytes"]["max"] == max(exp["bytes"])
    for q in (5, 25, 50, 75, 95):
        assert dist["bytes"][f"p{q}"] == pytest.approx(pct(exp["bytes"], q))
        assert dist["aspect_ratio"][f"p{q}"] == pytest.approx(pct(exp["aspect"], q), abs=1e-6)
    if exp["brightness"]:
        assert dist["brightness"]["p50"] == pytest.approx(pct(exp["brightness"], 50))
        assert dist["blur"]["mean"] == pytest.approx(sum(exp["blur"]) / len(exp["blur"]), abs=1e-5)
    for recipe, seconds in exp["seconds"].items():
        if not seconds:
            assert recipe not in m["processing"]
            continue
        got = m["processing"][recipe]
        assert got["outputs"] == len(seconds) and got["bytes"] == exp["storage"]["processed"][recipe]
        for q in (50, 90, 95, 99):
            assert got["seconds"][f"p{q}"] == pytest.approx(pct(seconds, q), abs=1e-6)
    for (recipe, op), seconds in exp["timings"].items():
        if seconds:
            assert m["operations"][recipe][op]["count"] == len(seconds)
            assert m["operations"][recipe][op]["p95"] == pytest.approx(pct(seconds, 95), abs=1e-6)
    assert m["failures"]["reasons"] == dict(exp["reasons"])
    top = sorted(exp["labels"].items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert [(t["label"], t["images"]) for t in m["labels"]["top"]] == top
    top_names = {name for name, _ in top}
    for pair in m["labels"]["co_occurrence"]:
        assert pair["images"] == exp["pairs"][(pair["a"], pair["b"])] and {pair["a"], pair["b"]} <= top_names
    best_pairs = sorted(((p, n) for p, n in exp["pairs"].items() if set(p) <= top_names), key=lambda kv: -kv[1])
    if best_pairs:
        assert m["labels"]["co_occurrence"][0]["images"] == best_pairs[0][1]
    assert {c["name"]: c["images"] for c in m["creators"]} == dict(
        sorted(exp["creators"].items(), key=lambda kv: (-kv[1], kv[0]))[:20])
    assert m["known"]["creator"] == sum(1 for d in exp["retrieved_docs"] if any(
        "flickr.com/photos/" in s.get("page_url", "") for s in d["sources"]))
    assert m["storage"]["raw"] == exp["storage"]["raw"]
    assert m["storage"]["quarantine"] == exp["storage"]["quarantine"]
    assert m["storage"]["processed"] == {r: b for r, b in exp["storage"]["processed"].items() if exp["seconds"][r]}


def html_numbers(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-metric="(\w+)">([^<]*)<', page))


def test_the_generated_gallery_is_realistic(docs):
    """The fixture exercises what the metrics must handle: old documents, several sources, etc."""
    assert sum(not d.get("features") for d in docs if d["status"] == "processed") > 5
    assert sum(len(d["sources"]) > 1 for d in docs) > 10 and sum(bool(d.get("duplicate_of")) for d in docs) > 3
    assert {d["quarantine"]["stage"] for d in docs if d["quarantine"]} == {"retrieve", "process"}
    late = [o for d in docs for o in d["outputs"].values() if o["processed_at"][:10] != d["retrieved_at"][:10]]
    assert late  # some images are processed the day after they were retrieved


def test_every_days_metrics_match_an_independent_computation(catalog, docs):
    for day in DAYS:
        images, outputs = analytics.read_day(catalog, day, RECIPES)
        check_metrics(analytics.compute_metrics(images, outputs, day), expected(docs, day))


def test_mongodb_gives_the_same_metrics(docs):
    import mongomock

    day = DAYS[5]
    mongo = MongoCatalog(mongomock.MongoClient()["analytics"])
    insert_docs(mongo, docs)
    m = analytics.compute_metrics(*analytics.read_day(mongo, day, RECIPES), day)
    check_metrics(m, expected(docs, day))


def test_old_documents_without_features_outputs_or_timings(tmp_path):
    day = date(2026, 11, 2)
    with SqliteCatalog(tmp_path / "old.sqlite3") as cat:
        base = dict(raw_key="raw/x", format="JPEG", width=300, height=200, bytes=5000, source="folder",
                    uri="file:///x.jpg", keyword="old", run_id="r", seen_at="2026-11-02T10:00:00+00:00")
        cat.record_image("a" * 64, **base)
        cat.record_image("b" * 64, **base)
        cat.record_output("b" * 64, "half_gray", {"key": "k", "version": 1, "width": 150, "height": 100,
                                                  "bytes": 900, "seconds": 0.25, "processed_at": "2026-11-02T11:00:00+00:00"})
        assert "features" not in cat.get("b" * 64)  # the seed's shape
        odd = {"sha256": "c" * 64, "retrieved_at": "2026-11-02T12:00:00.000000+00:00", "width": "wide",
               "sources": None, "features": {"labels": "cat", "blur": "sharp"},
               "outputs": {"half_gray": {"processed_at": "2026-11-03T01:00:00.000000+00:00", "seconds": "slow"}}}
        bare = {"sha256": "d" * 64, "retrieved_at": "2026-11-02T13:00:00.000000+00:00"}  # no outputs map at all
        insert_docs(cat, [odd, bare])  # fields of unexpected types read as missing, never fail the day
        m = analytics.compute_metrics(*analytics.read_day(cat, day, RECIPES), day)
    assert (m["retrieved"], m["processed"], m["duplicated"], m["outputs"]) == (4, 1, 0, 1)
    assert m["processing"]["half_gray"]["seconds"]["p50"] == 0.25 and m["operations"] == {}
    assert m["distributions"]["brightness"] == {"count": 0} and m["labels"]["top"] == []
    assert m["by"]["domain"] == {} and m["creators"] == [] and m["known"] == {"licence": 0, "creator": 0}


def test_empty_day_still_writes_a_complete_report(catalog, tmp_path):
    store = LocalStore(tmp_path / "store")
    report = analytics.write_daily_report(store, catalog, date(2020, 1, 1), RECIPES)
    assert (report["retrieved"], report["processed"], report["raw_bytes"]) == (0, 0, 0)
    assert store.exists("reports/images/dt=2020-01-01/part-0.parquet")
    assert html_numbers(store.get_bytes(report["report_key"]).decode())["retrieved"] == "0"
    assert analytics.rollup(store)["totals"]["days"] == 1


def test_rerunning_a_day_overwrites_its_partition_and_document(catalog, docs, tmp_path):
    import pyarrow.parquet as pq

    store = LocalStore(tmp_path / "store")
    day = DAYS[3]
    first = analytics.write_daily_report(store, catalog, day, RECIPES)
    objects = {k: store.get_bytes(k) for k in store.list("reports/")}
    store.put_bytes(f"reports/images/dt={day}/part-1.parquet", b"left over by an older writer")
    second = analytics.write_daily_report(store, catalog, day, RECIPES)
    assert first == second
    assert {k: store.get_bytes(k) for k in store.list("reports/")} == objects  # same keys, same bytes
    assert list(store.list("reports/images/")) == [f"reports/images/dt={day}/part-0.parquet"]
    assert [m["day"] for m in catalog.metrics()] == [day.isoformat()]
    table = pq.read_table(io.BytesIO(objects[f"reports/images/dt={day}/part-0.parquet"]))
    exp = expected(docs, day)
    assert sum(table.column("retrieved").to_pylist()) == exp["retrieved"]
    assert sum(table.column("processed").to_pylist()) == exp["processed"]
    assert pq.read_table(io.BytesIO(objects[f"reports/outputs/dt={day}/part-0.parquet"])).num_rows == exp["outputs"]
    metrics = json.loads(objects[f"reports/daily/dt={day}/metrics.json"])
    assert metrics == catalog.get_metrics(day.isoformat())
    numbers = html_numbers(objects[first["report_key"]].decode())
    assert {k: int(numbers[k]) for k in ("retrieved", "processed", "quarantined", "duplicated")} == \
        {k: exp[k] for k in ("retrieved", "processed", "quarantined", "duplicated")}
    for name in ("sources", "sizes", "processing", "labels", "failures"):
        assert objects[f"reports/daily/dt={day}/{name}.png"][:8] == b"\x89PNG\r\n\x1a\n"
        assert f'data-chart="{name}.png" src="data:image/png;base64,' in objects[first["report_key"]].decode()


def test_overview_after_a_backfill_in_any_order_equals_one_from_scratch(catalog, docs, tmp_path):
    """Five days here (charts are slow on a busy machine); tests/test_analytics_backfill.py backfills
    14 days through the DAG."""
    days = DAYS[:5]
    backfilled, scratch = LocalStore(tmp_path / "backfilled"), LocalStore(tmp_path / "scratch")
    order = [days[4], days[2], days[0], days[3], days[1], *random.Random(3).sample(days, 2)]  # then re-runs
    for day in order:
        analytics.write_daily_report(backfilled, catalog, day, RECIPES)
        analytics.rollup(backfilled)
    for day in days:
        analytics.write_daily_report(scratch, catalog, day, RECIPES)
    fresh = analytics.rollup(scratch)
    assert analytics.rollup(backfilled) == fresh
    assert {k: backfilled.get_bytes(k) for k in backfilled.list("reports/")} == \
        {k: scratch.get_bytes(k) for k in scratch.list("reports/")}
    trends = fresh["trends"]
    assert [t["day"] for t in trends] == [d.isoformat() for d in days]
    for row, day in zip(trends, days, strict=True):
        exp = expected(docs, day)
        assert (row["retrieved"], row["processed"], row["quarantined"], row["outputs"]) == \
            (exp["retrieved"], exp["processed"], exp["quarantined"], exp["outputs"])
    assert fresh["totals"]["retrieved"] == sum(1 for d in docs if d["retrieved_at"][:10] <= days[-1].isoformat())
    assert trends[-1]["cumulative_processed"] == sum(t["processed"] for t in trends)


def test_sql_over_the_partitions(catalog, docs, tmp_path):
    store = LocalStore(tmp_path / "store")
    for day in DAYS[:4]:
        analytics.write_daily_report(store, catalog, day, RECIPES)
    top = analytics.query_partitions(store, analytics.TOP_LABELS_SQL, {"top": 5})
    processed = {d["sha256"]: d for day in DAYS[:4] for d in docs
                 if any(window(day)[0] <= o["processed_at"] < window(day)[1] for o in d["outputs"].values())}
    counts = Counter(name for d in processed.values() for name in {x["name"] for x in (d.get("features") or {}).get("labels", [])})
    assert list(zip(top["label"], top["images"], strict=True)) == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    per_day = analytics.query_partitions(
        store, "SELECT strftime(dt, '%Y-%m-%d') AS day, count(*) AS n FROM outputs GROUP BY ALL ORDER BY day")
    assert list(per_day["n"]) == [expected(docs, day)["outputs"] for day in DAYS[:4]]


def test_partitions_on_s3_are_read_the_same_way(catalog, docs, s3_client, s3_bucket):
    from image_pipeline.core.storage import S3Store

    store = S3Store(s3_client, s3_bucket, "gallery")
    for day in DAYS[:2]:
        analytics.write_daily_report(store, catalog, day, RECIPES)
    totals = analytics.rollup(store)["totals"]
    assert totals["days"] == 2
    assert totals["retrieved"] == sum(expected(docs, day)["retrieved"] for day in DAYS[:2])
    assert store.exists("reports/overview/index.html")
