"""The request ledger (``RequestLedger.admit_request``) on every catalog, and the limit's arithmetic and
message (``core.request_limit``) that the gallery and image_request's first task share."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog, to_iso
from image_pipeline.core.catalog.roles import RequestLedger
from image_pipeline.core.request_limit import ANONYMOUS, TooManyRequests, admit, retry_after, too_many_requests

ROLES = (RequestLedger,)

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
HOUR = 3600


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def admitted(catalog, runs, user="ann", limit=3, window=HOUR):
    """(run id, minutes) in the order checked: each one's decision."""
    return [catalog.admit_request(run_id, user, at(minutes), limit, window)["admitted"] for run_id, minutes in runs]


def test_a_user_is_admitted_up_to_the_limit_in_a_window_and_another_user_counts_apart(catalog):
    assert admitted(catalog, [(f"run{i}", i) for i in range(5)]) == [True, True, True, False, False]
    assert admitted(catalog, [("bob1", 5)], user="bob") == [True]
    entry = catalog.admit_request("run60", "ann", at(60), 3, HOUR)
    # Runs at 1 to 4 min are less than an hour before: refused. Refused runs count too (the gallery
    # counts every run), and the entry says which times were counted, its own included.
    assert entry == {"run_id": "run60", "user": "ann", "at": to_iso(at(60)), "admitted": False,
                     "recent": [to_iso(at(m)) for m in (1, 2, 3, 4, 60)]}
    # An hour after the fourth run only the one at 60 min is in the window.
    assert admitted(catalog, [("run64", 64)]) == [True]


def test_a_retried_check_keeps_its_decision_and_counts_once(catalog):
    first = [catalog.admit_request(f"run{i}", "ann", at(i), 2, HOUR) for i in range(3)]
    assert [e["admitted"] for e in first] == [True, True, False]
    # A retry (a later time, even) finds each run's entry: the same answer, the first time kept.
    again = [catalog.admit_request(f"run{i}", "ann", at(i + 30), 2, HOUR) for i in range(3)]
    decided = [{k: e[k] for k in ("run_id", "user", "at", "admitted")} for e in first]
    assert [{k: e[k] for k in ("run_id", "user", "at", "admitted")} for e in again] == decided
    # Three entries, not six: a new run sees the three.
    assert catalog.admit_request("run3", "ann", at(3), 2, HOUR)["recent"] == [to_iso(at(m)) for m in range(4)]


def test_a_run_checked_out_of_order_counts_the_runs_started_after_it(catalog):
    # Started at 5 min, checked last (it waited in the queue): the two started at 10 and 20 min are
    # within the window after it, so no hour ever holds more than two admitted runs.
    assert admitted(catalog, [("late", 10), ("later", 20), ("early", 5)], limit=2) == [True, True, False]
    # A run more than a window before them counts none of them.
    assert admitted(catalog, [("long_before", -61)], limit=2) == [True]


def test_checks_at_once_admit_exactly_the_limit(catalog, tmp_path):
    """Eight checks of one user at the same moment, each on its own connection: three admitted."""
    barrier = threading.Barrier(8)
    decisions: dict[int, bool] = {}

    def check(n):
        handle = SqliteCatalog(tmp_path / "catalog.sqlite3") if isinstance(catalog, SqliteCatalog) \
            else MongoCatalog(catalog.db)
        try:
            barrier.wait()
            decisions[n] = handle.admit_request(f"run{n}", "ann", at(n / 60), 3, HOUR)["admitted"]
        finally:
            if isinstance(handle, SqliteCatalog):
                handle.close()

    threads = [threading.Thread(target=check, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(decisions.values()) == [False] * 5 + [True] * 3


def test_sqlite_a_check_holds_the_ledger_from_its_count_to_its_record(tmp_path):
    """Another check trying to record while this one counts is kept out until this one has recorded
    (it would be admitted too, past the limit, were counting and recording two steps)."""
    import sqlite3

    path = tmp_path / "catalog.sqlite3"
    checker, rival = SqliteCatalog(path), SqliteCatalog(path, timeout=0.1)
    assert admitted(checker, [("run0", 0), ("run1", 1)]) == [True, True]  # one left of three
    raced = []

    def while_counting(statement):
        if "count(*) FROM request_ledger" in statement and not raced:
            raced.append("racing")
            try:
                raced.append(rival.admit_request("rival", "ann", at(2), 3, HOUR)["admitted"])
            except sqlite3.OperationalError as exc:
                raced.append(str(exc))

    checker.conn.set_trace_callback(while_counting)
    assert checker.admit_request("mine", "ann", at(3), 3, HOUR)["admitted"] is True
    checker.conn.set_trace_callback(None)
    assert raced[1] == "database is locked"
    assert rival.admit_request("rival", "ann", at(2), 3, HOUR)["admitted"] is False  # then it counts three
    checker.close()
    rival.close()


def test_mongo_a_check_that_loses_a_race_counts_again(monkeypatch):
    """Between a check's read of the user's entries and its write, another check records a run: the
    write finds the document changed (compare-and-set) and the check counts again."""
    import mongomock

    db = mongomock.MongoClient()["test"]
    checker, rival = MongoCatalog(db), MongoCatalog(db)
    assert admitted(checker, [("run0", 0), ("run1", 1)]) == [True, True]
    find_one = mongomock.collection.Collection.find_one
    raced = []

    def read_then_race(self, *args, **kwargs):
        found = find_one(self, *args, **kwargs)
        if self.name == "request_ledger" and not raced:
            raced.append("racing")
            raced.append(rival.admit_request("rival", "ann", at(2), 3, HOUR))
        return found

    monkeypatch.setattr(mongomock.collection.Collection, "find_one", read_then_race)
    mine = checker.admit_request("mine", "ann", at(3), 3, HOUR)
    assert raced[1]["admitted"] is True
    assert mine["admitted"] is False and mine["recent"] == [to_iso(at(m)) for m in range(4)]


# --- the limit's arithmetic and message -------------------------------------------------------------

def test_the_wait_is_until_the_oldest_of_the_last_limit_requests_leaves_the_window():
    now = at(10)
    assert retry_after([at(0), at(5)], 3, HOUR, now) is None
    assert retry_after([at(0), at(5), at(9)], 3, HOUR, now) == 50 * 60 + 1
    assert retry_after([at(-70), at(0), at(5), at(9)], 3, HOUR, now) == 50 * 60 + 1  # out of the window
    assert retry_after([at(0).replace(tzinfo=None), at(5), at(9)], 3, HOUR, now) == 50 * 60 + 1  # naive: UTC


def test_the_message_says_the_limit_and_when_to_ask_again():
    assert too_many_requests(10, 3600, 3000) == ("Too many image requests: at most 10 every hour per user. "
                                                 "You can ask again in 50 min 0 s.")
    assert too_many_requests(2, 7200, 45) == ("Too many image requests: at most 2 every 2 hours per user. "
                                              "You can ask again in 45 s.")


def test_admit_refuses_with_the_message_and_the_wait_that_counts_the_refused_run(catalog):
    for i in range(2):
        admit(catalog, f"run{i}", None, at(i), 2, HOUR, now=at(2))
    with pytest.raises(TooManyRequests) as refused:
        admit(catalog, "run2", None, at(2), 2, HOUR, now=at(2))
    # The last two requests (at 1 and 2 min, the refused one included) leave the window at 61 and 62 min.
    assert refused.value.retry_after == 59 * 60 + 1
    assert str(refused.value) == too_many_requests(2, HOUR, 59 * 60 + 1)
    # A run without a triggering user counts against the shared anonymous user.
    assert catalog.admit_request("run3", ANONYMOUS, at(3), 2, HOUR)["recent"] == [to_iso(at(m)) for m in range(4)]


def test_mongo_a_ledger_that_keeps_changing_under_the_check_is_the_environments_fault(monkeypatch):
    """A compare-and-set lost every time (a user's checks without end): Unavailable, which Airflow retries."""
    import mongomock

    from image_pipeline.core.errors import Unavailable

    checker = MongoCatalog(mongomock.MongoClient()["test"])
    checker.admit_request("run0", "ann", at(0), 3, HOUR)
    update_one = mongomock.collection.Collection.update_one

    def lost(self, filter, *args, **kwargs):  # another check's change lands first, every time
        update_one(self, {"_id": filter["_id"]}, {"$inc": {"v": 1}})
        return update_one(self, filter, *args, **kwargs)

    monkeypatch.setattr(mongomock.collection.Collection, "update_one", lost)
    with pytest.raises(Unavailable, match="changed under 50 checks"):
        checker.admit_request("run1", "ann", at(1), 3, HOUR)
