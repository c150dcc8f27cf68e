"""Shared fixtures. Airflow reads its configuration at import time, so the environment for a
throw-away Airflow home (SQLite metadata DB, this project's DAGs, no examples) is set here, before
any test module imports Airflow."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="image-pipeline-airflow-home-"))
os.environ.update(
    AIRFLOW_HOME=str(AIRFLOW_HOME),
    AIRFLOW__CORE__DAGS_FOLDER=str(PROJECT_ROOT / "dags"),
    AIRFLOW__CORE__PLUGINS_FOLDER=str(PROJECT_ROOT / "plugins"),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__CORE__UNIT_TEST_MODE="True",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{AIRFLOW_HOME}/airflow.db",
)
# No test may reach the internet, nor use a developer's own settings.
for name in list(os.environ):
    if name.startswith("GALLERY_") or name.startswith("AIRFLOW_CONN_"):
        del os.environ[name]


def pytest_collection_modifyitems(config, items):
    """Tests under tests/system start real servers: marked ``system`` (``pytest -m "not system"`` skips them).
    Tests marked ``export`` need torch, which only `make export-check` installs: deselected unless ``-m``
    names the marker (``-m export``; an addopts ``-m "not export"`` would be replaced by any other ``-m``,
    such as make test-distributed's). Tests marked ``mongo_server`` (a real MongoDB server's parameters)
    are deselected unless ``MONGO_URI`` names the server: deselected, not skipped, so that no skip
    stands where a test passed."""
    system = Path(__file__).parent / "system"
    for item in items:
        if system in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.system)
    if not re.search(r"\bexport\b", config.option.markexpr or ""):
        deselect_marked(config, items, "export")
    if not os.environ.get("MONGO_URI"):
        deselect_marked(config, items, "mongo_server")


def deselect_marked(config, items, marker: str) -> None:
    """The items carrying ``marker`` (on the test or on one of its parameters) taken out of the run, and
    counted as deselected."""
    marked = [item for item in items if item.get_closest_marker(marker)]
    if marked:
        config.hook.pytest_deselected(items=marked)
        items[:] = [item for item in items if not item.get_closest_marker(marker)]


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata DB in the throw-away home (once per session)."""
    from airflow_stack import migrated_db

    # The project's own set-up script's DB, migrated once per session and copied: the same template
    # the system tests' `airflow standalone` homes start from (a migration is two CLI starts).
    shutil.copyfile(migrated_db({**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}),
                    AIRFLOW_HOME / "airflow.db")
    yield AIRFLOW_HOME
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


@pytest.fixture
def pipeline_env(tmp_path, monkeypatch):
    """The embedded default on a fresh data folder: local store, SQLite catalog, outbox email."""
    data = tmp_path / "data"
    monkeypatch.setenv("GALLERY_STORE_URL", data.as_uri())
    monkeypatch.setenv("GALLERY_SQLITE_PATH", str(tmp_path / "catalog.sqlite3"))
    monkeypatch.setenv("GALLERY_EMAIL", "outbox")
    return data


@pytest.fixture
def inbox(pipeline_env, samples):
    """The sample set uploaded into the embedded default store's inbox zone."""
    from image_pipeline.retrieve.inbox import upload_to_inbox
    from image_pipeline.core.storage import LocalStore

    upload_to_inbox(LocalStore(pipeline_env), samples)
    return pipeline_env / "inbox"


@pytest.fixture
def samples(tmp_path_factory):
    """The CLI's offline sample set: 6 images, one non-image and one truncated JPEG."""
    from support.samples import make_samples

    folder = tmp_path_factory.mktemp("samples")
    make_samples(folder)
    return folder


@pytest.fixture(scope="session")
def moto_server():
    """An S3 endpoint on loopback (moto's server mode): a real HTTP API, no internet."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(moto_server, monkeypatch):
    from support.s3 import AWS_TEST_ENV, moto_client

    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    return moto_client(moto_server)


@pytest.fixture
def s3_bucket(s3_client):
    name = f"test-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    yield name
    from support.s3 import remove_bucket

    remove_bucket(s3_client, name)


@pytest.fixture
def http_server(tmp_path):
    """A static file server on loopback; returns (base URL, folder it serves)."""
    from support.loopback import served

    root = tmp_path / "www"
    root.mkdir()
    with served(root) as base:
        yield base, root


@pytest.fixture(scope="session")
def wallpapers() -> Path:
    """The real-photo corpus (73 JPEG and PNG images, 0.5-40 Mpx) from Debian's wallpaper packages,
    built once into .cache/wallpapers by scripts/fetch-corpus (as `make bench` does)."""
    from airflow_stack import corpus_dir

    return corpus_dir()


@pytest.fixture
def registry():
    """The operations' registry as it was, whatever a test registers (one decorated function)."""
    from image_pipeline.process.operations import OPERATIONS

    saved = dict(OPERATIONS)
    yield OPERATIONS
    OPERATIONS.clear()
    OPERATIONS.update(saved)
