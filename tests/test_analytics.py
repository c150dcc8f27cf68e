"""Daily analytics against an independent count over a catalog spread across days."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta, timezone

import pytest
from PIL import Image

from image_pipeline.analytics import compute_daily_stats, day_window, write_daily_report
from image_pipeline.catalog import SqliteCatalog, new_image_doc
from image_pipeline.storage import LocalStore

DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(3)]


@pytest.fixture
def catalog(tmp_path):
    rng = random.Random(7)
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as cat:
        for i in range(60):
            day = DAYS[i % 3]
            at = datetime(day.year, day.month, day.day, rng.randrange(24), rng.randrange(60), tzinfo=timezone.utc)
            sha = f"{i:064x}"
            fmt = rng.choice(["JPEG", "PNG"])
            cat.record_image(sha, raw_key=f"raw/{sha}", format=fmt, width=rng.randrange(100, 4000),
                             height=rng.randrange(100, 3000), bytes=rng.randrange(10_000, 5_000_000),
                             source="folder", uri=f"file:///{i}", keyword=rng.choice(["cats", "dogs"]),
                             run_id="r", seen_at=at.isoformat())
            if i % 4 == 0:
                done = (at + timedelta(hours=1)).isoformat()  # may fall on the next day
                cat.record_output(sha, "half_gray", {"key": "k", "version": 1, "width": 1, "height": 1,
                                                     "bytes": 100 + i, "seconds": 0.5, "processed_at": done})
            elif i % 7 == 0:
                cat.record_quarantine(sha, "cannot decode", "process", "q", (at + timedelta(minutes=5)).isoformat())
        yield cat


def expected(catalog, day):
    since, until = day_window(day)
    docs = catalog.find()
    retrieved = [d for d in docs if since <= d["retrieved_at"] < until]
    processed = [d for d in docs if "half_gray" in d["outputs"] and since <= d["outputs"]["half_gray"]["processed_at"] < until]
    quarantined = [d for d in docs if d["quarantine"] and since <= d["quarantine"]["at"] < until]
    return retrieved, processed, quarantined


@pytest.mark.parametrize("day", DAYS)
def test_daily_stats_match_an_independent_count(catalog, day):
    stats = compute_daily_stats(catalog, day)
    retrieved, processed, quarantined = expected(catalog, day)
    assert stats["retrieved"] == len(retrieved) == 20
    assert stats["processed"] == len(processed)
    assert stats["quarantined"] == len(quarantined)
    assert stats["raw_bytes_total"] == sum(d["bytes"] for d in retrieved)
    assert stats["raw_width_max"] == max(d["width"] for d in retrieved)
    assert stats["processed_bytes_total"] == sum(d["outputs"]["half_gray"]["bytes"] for d in processed)
    assert sum(stats["by_format"].values()) == 20
    assert stats["by_keyword"] == {k: sum(k in d["keywords"] for d in retrieved) for k in ("cats", "dogs")}


def test_empty_day(catalog):
    stats = compute_daily_stats(catalog, date(2020, 1, 1))
    assert (stats["retrieved"], stats["processed"], stats["raw_bytes_total"]) == (0, 0, 0)


def test_report_is_overwritten_not_appended(catalog, tmp_path):
    store = LocalStore(tmp_path / "store")
    first = write_daily_report(store, catalog, DAYS[1])
    second = write_daily_report(store, catalog, DAYS[1])
    assert first == second
    assert list(store.list("reports/")) == [
        "reports/daily/dt=2026-11-02/chart.png", "reports/daily/dt=2026-11-02/stats.csv"]
    rows = dict(csv.reader(io.StringIO(store.get_bytes(first["csv_key"]).decode())))
    assert rows["retrieved"] == "20" and rows["day"] == "2026-11-02"
    with Image.open(io.BytesIO(store.get_bytes(first["chart_key"]))) as chart:
        assert chart.format == "PNG" and chart.size == (1000, 400)
