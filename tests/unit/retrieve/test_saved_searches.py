"""Saved searches for scheduled and backfilled runs, narrowed to each run's data interval."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from image_pipeline.retrieve import load_saved_searches, plan_requests, with_window
from image_pipeline.core.errors import InvalidRequest

NOW = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def searches(tmp_path):
    path = tmp_path / "searches.yaml"
    path.write_text(
        "searches:\n"
        "  - keywords: [lighthouse, 'northern lights']\n"
        "    count: 30\n"
        "    filters: {type: photo}\n"
        "  - engine: greedy\n"
        "    site_url: http://example.org/gallery/\n"
    )
    return path


def test_saved_searches_expand_per_keyword(searches):
    requests = load_saved_searches(searches)
    assert [(r["engine"], r["keyword"], r["count"]) for r in requests] == [
        ("bing", "lighthouse", 30), ("bing", "northern lights", 30), ("greedy", "greedy", 20)]


def test_the_shipped_file_is_valid_and_empty():
    assert load_saved_searches(ROOT / "config" / "searches.yaml") == []


@pytest.mark.parametrize("content, message", [
    ("searches: [{keywords: []}]", "search 1: engine 'bing' needs at least one keyword"),
    ("searches: [{keywords: [x], colour: red}]", "must be a mapping of"),
    ("searches: {keywords: [x]}", "must be a list"),
    ("searches: [{keywords: [x], count: 99999}]", "count must be between"),
])
def test_bad_saved_searches_are_refused(tmp_path, content, message):
    path = tmp_path / "s.yaml"
    path.write_text(content)
    with pytest.raises(InvalidRequest, match=message):
        load_saved_searches(path)
    with pytest.raises(InvalidRequest, match="not found"):
        load_saved_searches(tmp_path / "missing.yaml")


@pytest.mark.parametrize("days_ago, expected", [(0.5, "pastday"), (3, "pastweek"), (20, "pastmonth"),
                                                (200, "pastyear"), (500, None)])
def test_a_window_maps_to_bings_nearest_age(days_ago, expected):
    start = NOW - timedelta(days=days_ago)
    request = {"engine": "bing", "keyword": "k", "filters": {"type": "photo"}}
    narrowed = with_window(request, start, start + timedelta(days=1), NOW)
    assert narrowed["filters"].get("date") == expected and narrowed["filters"]["type"] == "photo"
    assert request["filters"] == {"type": "photo"}  # the saved search itself is not changed


def test_windows_leave_engines_without_date_filters_and_explicit_dates_alone():
    start = NOW - timedelta(days=2)
    for request in ({"engine": "greedy", "filters": {}}, {"engine": "bing", "filters": {"date": "pastyear"}}):
        assert with_window(request, start, NOW, NOW) == request


def test_three_backfilled_days_each_query_their_own_window(searches):
    days = [NOW - timedelta(days=d) for d in (3, 2, 1)]
    plans = [plan_requests({}, scheduled=True, searches_file=searches, window=(d, d + timedelta(days=1)), now=NOW)
             for d in days]
    assert [p[0]["filters"]["date"] for p in plans] == ["pastweek", "pastweek", "pastday"]
    assert all(len(p) == 3 for p in plans)


def test_manual_runs_take_the_form_and_no_window(searches):
    (request,) = plan_requests({"engine": "bing", "keywords": ["cats"], "count": 5, "filters": {}},
                               scheduled=False, searches_file=searches, window=(NOW - timedelta(days=1), NOW))
    assert request["keyword"] == "cats" and request["filters"] == {}
