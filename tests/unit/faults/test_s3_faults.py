"""The object store misbehaves (S3 on moto behind tests/support/faultproxy.py: 503 SlowDown, connection
resets before and after the request was applied, stalls) during retrieval, processing and archiving:
the store's retry configuration (core.storage.S3Retry, from the settings) rides it out, and the store
and catalog end exactly as after a run without faults: nothing lost, nothing duplicated."""

from __future__ import annotations

import pytest

from image_pipeline import wiring
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.settings import Settings
from support.faultproxy import FaultPlan, FaultProxy
from support.pipeline_state import dangling, run_pipeline, snapshot

# Short timeouts so a stalled connection is given up in seconds (the defaults suit a real bucket).
FAST = dict(s3_connect_timeout=2, s3_read_timeout=2)


def store_through(monkeypatch, endpoint, bucket, **settings):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)  # boto3's own configuration: the store's endpoint
    return wiring.object_store(Settings(store_url=f"s3://{bucket}/gallery", **settings))


@pytest.fixture
def baseline(s3_client, s3_bucket, moto_server, samples, tmp_path, monkeypatch):
    store = store_through(monkeypatch, moto_server, s3_bucket)
    with SqliteCatalog(tmp_path / "baseline.sqlite3") as catalog:
        archive = run_pipeline(store, catalog, samples)
        return snapshot(store, catalog), archive


@pytest.fixture
def second_bucket(s3_client):
    s3_client.create_bucket(Bucket="faulty")
    yield "faulty"
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket="faulty"):
        for obj in page.get("Contents", []):
            s3_client.delete_object(Bucket="faulty", Key=obj["Key"])
    s3_client.delete_bucket(Bucket="faulty")


@pytest.mark.system  # about 50 s each: backoffs and stalls
@pytest.mark.parametrize("mode", ["standard", "adaptive"])
@pytest.mark.timeout(300)
def test_faults_during_retrieval_processing_and_archiving_lose_and_duplicate_nothing(
        baseline, second_bucket, moto_server, samples, tmp_path, monkeypatch, mode):
    plan = FaultPlan(share=0.2, seed=17, bursts=(40,), burst_length=6)  # a burst longer than botocore's default
    with FaultProxy(moto_server, plan) as proxy:
        store = store_through(monkeypatch, proxy.url, second_bucket, s3_retry_mode=mode, **FAST)
        with SqliteCatalog(tmp_path / "faulty.sqlite3") as catalog:
            archive = run_pipeline(store, catalog, samples)
            assert snapshot(store, catalog) == baseline[0] and dangling(store, catalog) == []
    assert archive.key == baseline[1].key and archive.images == baseline[1].images
    assert set(proxy.injected) == {"slowdown", "reset_before", "reset_after", "stall"}, proxy.injected
    assert proxy.faults >= 20
    print(f"\nS3 faults injected and survived ({mode}): {proxy.faults} of {proxy.requests} requests {dict(proxy.injected)}")


@pytest.mark.timeout(120)
def test_with_botocore_defaults_the_same_faults_break_the_run(second_bucket, moto_server, samples, tmp_path, monkeypatch):
    """The faults are real: botocore's default (legacy mode, 5 attempts) gives up on a burst of six 503s
    that the pipeline's configuration rides out. (Its default 60 s read timeout would also make each
    stall cost a minute: the test above then overruns its time limit.)"""
    import botocore.exceptions
    from botocore.config import Config

    import image_pipeline.core.storage as storage

    monkeypatch.setattr(storage.S3Retry, "botocore_config", lambda self: Config(connect_timeout=2, read_timeout=2))
    with FaultProxy(moto_server, FaultPlan(bursts=(5,), burst_length=6)) as proxy:
        store = store_through(monkeypatch, proxy.url, second_bucket, **FAST)
        with SqliteCatalog(tmp_path / "faulty.sqlite3") as catalog:
            with pytest.raises(botocore.exceptions.ClientError, match="SlowDown|503"):
                run_pipeline(store, catalog, samples)
    assert set(proxy.injected) == {"slowdown"} and proxy.faults <= 6


def test_the_settings_give_the_store_its_retry_configuration(monkeypatch):
    monkeypatch.setenv("GALLERY_S3_RETRY_MODE", "adaptive")
    monkeypatch.setenv("GALLERY_S3_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("GALLERY_S3_READ_TIMEOUT", "15")
    config = wiring.s3_retry(Settings.from_env()).botocore_config()
    assert config.retries == {"mode": "adaptive", "max_attempts": 7}
    assert (config.read_timeout, config.connect_timeout) == (15.0, 10.0)
    with pytest.raises(ValueError):
        Settings(s3_retry_mode="legacy")
