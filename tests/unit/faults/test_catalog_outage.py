"""The catalog goes away in the middle of a batch: SQLite locked by another writer past its timeout,
MongoDB's connection errors (a mongomock test double that fails mid-batch; a real server behind a TCP
proxy that drops it when ``MONGO_URI`` is set). The stage fails with the catalog's own error (nothing
quarantined for it), and its retry completes with nothing duplicated."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from urllib.parse import urlparse

import pytest

from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog
from image_pipeline.core.storage import LocalStore
from support.faultproxy import TcpFaultProxy
from support.pipeline_state import dangling, run_pipeline, snapshot


@pytest.fixture
def baseline(tmp_path, samples):
    store = LocalStore(tmp_path / "baseline")
    with SqliteCatalog(tmp_path / "baseline.sqlite3") as catalog:
        run_pipeline(store, catalog, samples)
        return snapshot(store, catalog)


class OnPut(LocalStore):
    """A local store that calls ``hook`` when its ``n``-th object is written (to time an outage)."""

    def __init__(self, root, n, hook):
        super().__init__(root)
        self.puts, self.n, self.hook = 0, n, hook

    def _count(self):
        self.puts += 1
        if self.puts == self.n:
            self.hook()

    def put_bytes(self, key, data, content_type=None):
        self._count()
        super().put_bytes(key, data, content_type)

    def put_file(self, key, path, content_type=None):
        self._count()
        super().put_file(key, path, content_type)


@pytest.mark.parametrize("nth_write", [3, 9, 14])  # during retrieval, processing's first and a later batch
def test_sqlite_locked_past_its_timeout_fails_the_stage_and_the_retry_completes(tmp_path, samples, baseline, nth_write):
    path = tmp_path / "catalog.sqlite3"
    locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    locked = threading.Event()

    def lock():  # another process's long write transaction
        locker.execute("BEGIN EXCLUSIVE")
        locked.set()

    store = OnPut(tmp_path / "store", nth_write, lock)
    with SqliteCatalog(path, timeout=1) as catalog:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            run_pipeline(store, catalog, samples)
        assert locked.is_set() and time.monotonic() - started >= 1
        locker.execute("ROLLBACK")
        run_pipeline(store, catalog, samples)  # Airflow's retry of the failed task, then the next ones
        assert snapshot(store, catalog) == baseline
        assert dangling(store, catalog) == []
        assert not [d for d in catalog.find() if d["status"] == "quarantined" and "locked" in str(d["quarantine"])]
    locker.close()


class Outage:
    """Switch shared by the test double: down after ``after`` catalog calls, until brought back."""

    def __init__(self, after):
        self.calls, self.after, self.down, self.raised = 0, after, False, 0

    def check(self):
        from pymongo.errors import AutoReconnect

        self.calls += 1
        if self.calls == self.after:
            self.down = True
        if self.down:
            self.raised += 1
            raise AutoReconnect("connection closed: the MongoDB server went away (test double)")


class FlakyCollection:
    """A mongomock collection whose every operation first asks the outage switch."""

    def __init__(self, collection, outage):
        self._collection, self._outage = collection, outage

    def __getattr__(self, name):
        attr = getattr(self._collection, name)
        if not callable(attr) or name == "create_index":
            return attr

        def call(*args, **kwargs):
            self._outage.check()
            return attr(*args, **kwargs)
        return call


class FlakyDatabase:
    def __init__(self, database, outage):
        self._database, self._outage = database, outage

    def __getitem__(self, name):
        return FlakyCollection(self._database[name], self._outage)

    def __getattr__(self, name):
        return getattr(self._database, name)


@pytest.mark.parametrize("after", [4, 14, 22, 30])  # of the 33 catalog calls: retrieval, processing, archiving
def test_mongo_connection_errors_mid_batch_fail_the_stage_and_the_retry_completes(tmp_path, samples, baseline, after):
    import mongomock
    from pymongo.errors import AutoReconnect

    outage = Outage(after)
    catalog = MongoCatalog(FlakyDatabase(mongomock.MongoClient()["gallery"], outage))
    store = LocalStore(tmp_path / "store")
    with pytest.raises(AutoReconnect):
        run_pipeline(store, catalog, samples)
    assert outage.raised == 1
    outage.down = False  # the server is back: the retry
    run_pipeline(store, catalog, samples)
    assert snapshot(store, catalog) == baseline
    assert dangling(store, catalog) == []


@pytest.mark.mongo_server  # deselected unless MONGO_URI is set (tests/conftest.py)
def test_a_real_mongodb_dropped_mid_batch(tmp_path, samples, baseline):
    """A real server behind a TCP proxy that resets every connection mid-batch, then lets them through."""
    import pymongo
    from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

    uri = urlparse(os.environ["MONGO_URI"])
    with TcpFaultProxy((uri.hostname, uri.port or 27017)) as proxy:
        client = pymongo.MongoClient(f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
                                     serverSelectionTimeoutMS=2000, socketTimeoutMS=2000, retryWrites=False)
        database = client[f"faults_{os.getpid()}"]
        try:
            catalog = MongoCatalog(database)
            store = OnPut(tmp_path / "store", 9, proxy.go_down)
            with pytest.raises((AutoReconnect, ServerSelectionTimeoutError)):
                run_pipeline(store, catalog, samples)
            assert proxy.resets >= 1
            proxy.come_back()
            run_pipeline(store, catalog, samples)
            assert snapshot(store, catalog) == baseline and dangling(store, catalog) == []
        finally:
            proxy.come_back()
            client.drop_database(database.name)
            client.close()
