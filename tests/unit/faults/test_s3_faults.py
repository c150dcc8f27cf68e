"""The object store misbehaves (S3 on moto behind tests/support/faultproxy.py: 503 SlowDown, connection
resets before and after the request was applied, stalls) during retrieval, processing and archiving:
the store's retry configuration (core.storage.S3Retry, from the settings) rides it out, and the store
and catalog end exactly as after a run without faults: nothing lost, nothing duplicated."""

from __future__ import annotations

import pytest

from image_pipeline import wiring
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.settings import Settings, SettingsError
from support.faultproxy import FaultPlan, FaultProxy
from support.pipeline_state import dangling, run_pipeline, snapshot
from support.s3 import AWS_TEST_ENV, moto_client, remove_bucket
from support.samples import make_samples

# Short timeouts so a stalled connection is given up in a second or two (the defaults suit a real bucket).
FAST = dict(s3_connect_timeout=2, s3_read_timeout=1)


def store_through(monkeypatch, endpoint, bucket, **settings):
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)  # boto3's own configuration: the store's endpoint
    return wiring.object_store(Settings(store={"store_url": f"s3://{bucket}/gallery", **settings}))


@pytest.fixture(scope="module")
def few_samples(tmp_path_factory):
    """Three small images (JPEG, PNG with alpha, GIF) and the two broken files: every kind of object the
    pipeline reads and writes, in few requests (each fault costs a back-off or a timeout)."""
    folder = tmp_path_factory.mktemp("few-samples")
    make_samples(folder, count=3, size=(160, 120))
    return folder


@pytest.fixture(scope="module")
def baseline(moto_server, few_samples, tmp_path_factory):
    """The store and catalog after a run without faults (once: both retry modes compare with it)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in AWS_TEST_ENV.items():
            monkeypatch.setenv(name, value)
        client = moto_client(moto_server)
        client.create_bucket(Bucket="baseline")
        store = store_through(monkeypatch, moto_server, "baseline")
        with SqliteCatalog(tmp_path_factory.mktemp("baseline") / "baseline.sqlite3") as catalog:
            archive = run_pipeline(store, catalog, few_samples)
            yield snapshot(store, catalog), archive
        remove_bucket(client, "baseline")


@pytest.fixture
def quick_backoff(monkeypatch):
    """botocore's waits between attempts (a random share of 1, 2, 4 ... up to 20 s after a 503; legacy
    mode's alike) cut to a twentieth: the same requests are retried as often, the test waits less."""
    import botocore.retryhandler
    from botocore.retries.standard import ExponentialBackoff

    delay = ExponentialBackoff.delay_amount
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: delay(self, context) / 20)
    legacy = botocore.retryhandler.delay_exponential  # bound into each new client's retry handler
    monkeypatch.setattr(botocore.retryhandler, "delay_exponential", lambda **kwargs: legacy(**kwargs) / 20)


@pytest.fixture
def second_bucket(s3_client):
    s3_client.create_bucket(Bucket="faulty")
    yield "faulty"
    remove_bucket(s3_client, "faulty")


@pytest.mark.system  # several seconds each: backoffs and stalls
@pytest.mark.parametrize("mode", ["standard", "adaptive"])
@pytest.mark.timeout(300)
def test_faults_during_retrieval_processing_and_archiving_lose_and_duplicate_nothing(
        baseline, second_bucket, moto_server, few_samples, quick_backoff, tmp_path, monkeypatch, mode):
    plan = FaultPlan(share=0.3, seed=17, bursts=(20,), burst_length=6)  # a burst longer than botocore's default
    with FaultProxy(moto_server, plan) as proxy:
        store = store_through(monkeypatch, proxy.url, second_bucket, s3_retry_mode=mode, **FAST)
        with SqliteCatalog(tmp_path / "faulty.sqlite3") as catalog:
            archive = run_pipeline(store, catalog, few_samples)
            assert snapshot(store, catalog) == baseline[0] and dangling(store, catalog) == []
    assert archive.key == baseline[1].key and archive.images == baseline[1].images
    assert set(proxy.injected) == {"slowdown", "reset_before", "reset_after", "stall"}, proxy.injected
    assert proxy.faults >= 20
    print(f"\nS3 faults injected and survived ({mode}): {proxy.faults} of {proxy.requests} requests {dict(proxy.injected)}")


@pytest.mark.timeout(120)
def test_with_botocore_defaults_the_same_faults_break_the_run(second_bucket, moto_server, few_samples, quick_backoff,
                                                              tmp_path, monkeypatch):
    """The faults are real: botocore's default (legacy mode, 5 attempts) gives up on a burst of six 503s
    that the pipeline's configuration rides out. (Its default 60 s read timeout would also make each
    stall cost a minute: the test above then overruns its time limit.)"""
    from botocore.config import Config

    import image_pipeline.core.storage as storage
    from image_pipeline.core.errors import Unavailable

    monkeypatch.setattr(storage.S3Retry, "botocore_config", lambda self: Config(connect_timeout=2, read_timeout=2))
    with FaultProxy(moto_server, FaultPlan(bursts=(5,), burst_length=6)) as proxy:
        store = store_through(monkeypatch, proxy.url, second_bucket, **FAST)
        with SqliteCatalog(tmp_path / "faulty.sqlite3") as catalog:
            with pytest.raises(Unavailable, match="SlowDown|503") as raised:  # the environment's fault: retried
                run_pipeline(store, catalog, few_samples)
    assert "ClientError" in type(raised.value.__cause__).__name__
    assert set(proxy.injected) == {"slowdown"} and proxy.faults <= 6


def test_the_settings_give_the_store_its_retry_configuration(monkeypatch):
    monkeypatch.setenv("GALLERY_S3_RETRY_MODE", "adaptive")
    monkeypatch.setenv("GALLERY_S3_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("GALLERY_S3_READ_TIMEOUT", "15")
    config = wiring.s3_retry(Settings.from_env()).botocore_config()
    assert config.retries == {"mode": "adaptive", "max_attempts": 7}
    assert (config.read_timeout, config.connect_timeout) == (15.0, 10.0)
    with pytest.raises(SettingsError):  # a bad setting is no ValueError (no handler of bad input takes it)
        Settings(store={"s3_retry_mode": "legacy"})
