"""Settings from the environment (the CLI's tests are in tests/unit/cli)."""

from __future__ import annotations

import pytest

from image_pipeline.settings import PROJECT_ROOT, Settings, SettingsError


def test_defaults_are_the_embedded_default():
    cfg = Settings.from_env()
    assert cfg.store_url == (PROJECT_ROOT / "data").as_uri()
    assert (cfg.catalog, cfg.email, cfg.aws_conn_id, cfg.mongo_conn_id, cfg.smtp_conn_id) == (
        "sqlite", "auto", "aws_default", "mongo_default", "smtp_default")


def test_environment_selects_backends(monkeypatch):
    monkeypatch.setenv("GALLERY_STORE_URL", "s3://bucket/prefix")
    monkeypatch.setenv("GALLERY_CATALOG", "mongo")
    monkeypatch.setenv("GALLERY_ATTACH_MAX_BYTES", "42")
    cfg = Settings.from_env()
    assert cfg.store_is_s3 and cfg.catalog == "mongo" and cfg.attach_max_bytes == 42


@pytest.mark.parametrize("value, catchup", [("true", True), ("False", False), ("1", True), ("no", False)])
def test_analytics_catchup_is_a_boolean_setting(monkeypatch, value, catchup):
    assert Settings.from_env().analytics_catchup is False
    monkeypatch.setenv("GALLERY_ANALYTICS_CATCHUP", value)
    assert Settings.from_env().analytics_catchup is catchup


@pytest.mark.parametrize("name, value", [("STORE_URL", "ftp://x"), ("CATALOG", "postgres"), ("EMAIL", "pigeon"),
                                         ("BATCH_SIZE", "0"), ("ATTACH_MAX_BYTES", "lots"),
                                         ("ANALYTICS_CATCHUP", "maybe"), ("ANALYTICS_MAX_ACTIVE_RUNS", "0"),
                                         ("PROCESS_SLOTS", "-1")])
def test_bad_settings_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(f"GALLERY_{name}", value)
    with pytest.raises(SettingsError):
        Settings.from_env()


def test_processing_slots_are_the_setting_or_the_cores(monkeypatch):
    import os

    assert Settings().processing_slots() == (os.cpu_count() or 1)
    monkeypatch.setenv("GALLERY_PROCESS_SLOTS", "6")
    assert Settings.from_env().processing_slots() == 6


def test_required_connections_follow_the_chosen_backends():
    assert Settings().required_connections() == {}  # the embedded default needs none; SMTP is optional on auto
    cfg = Settings(store_url="s3://b/p", catalog="mongo", email="smtp", mongo_conn_id="catalog_db")
    assert cfg.required_connections() == {"aws_default": "aws", "catalog_db": "mongo", "smtp_default": "smtp"}
