"""A process killed (SIGKILL) at each point where the pipeline writes: after an object before its
record, after a record before the next image, halfway through writing the archive, in the email's
commit window. The retry (the same stages run again, as Airflow's retry does) completes, and then the
maintenance check of the store against the catalog (issue 14's ``maintain.check``) reports nothing
missing and no orphan; store and catalog equal a run that was never killed, and one email went out."""

from __future__ import annotations

import email
import subprocess
import sys
import zipfile
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest

from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.storage import LocalStore
from support.crash_at import POINTS, deliver_once
from support.pipeline_state import run_pipeline, snapshot

CRASH_AT = Path(__file__).resolve().parents[2] / "support" / "crash_at.py"


@pytest.fixture
def baseline(tmp_path, samples):
    store = LocalStore(tmp_path / "baseline")
    with SqliteCatalog(tmp_path / "baseline.sqlite3") as catalog:
        run_pipeline(store, catalog, samples)
        deliver_once(store, catalog)
        return snapshot(store, catalog)


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_write_point_the_retry_leaves_store_and_catalog_consistent(tmp_path, samples, baseline, point):
    from image_pipeline.maintain import check

    store_dir, catalog_path = tmp_path / "store", tmp_path / "catalog.sqlite3"
    killed = subprocess.run([sys.executable, str(CRASH_AT), point, str(store_dir), str(catalog_path), str(samples)],
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]  # killed where it was meant to be, not finished
    store = LocalStore(store_dir)
    with SqliteCatalog(catalog_path) as catalog:
        archive = run_pipeline(store, catalog, samples)  # the retry
        entry = deliver_once(store, catalog)
        report = check(store, catalog, grace=timedelta(0))  # every unnamed object counts as an orphan
        assert report.missing == [] and report.orphans == [] and report.records == len(baseline[1])
        assert snapshot(store, catalog) == baseline
        assert entry["status"] == "sent" and len(catalog.deliveries()) == 1
    (eml,) = list(store.list("outbox/"))  # exactly one message, whole
    assert email.message_from_bytes(store.get_bytes(eml), policy=policy.default)["To"] == "you@example.com"
    with zipfile.ZipFile(store.path(archive.key)) as whole:  # the archive is complete, not the killed half
        assert whole.testzip() is None and sum(n.startswith("images/") for n in whole.namelist()) == archive.images
