"""Settings from the environment, and the library's CLI running the stages without Airflow."""

from __future__ import annotations

import zipfile

import pytest

from support.samples import make_samples

from image_pipeline.cli import main
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
                                         ("ANALYTICS_CATCHUP", "maybe"), ("ANALYTICS_MAX_ACTIVE_RUNS", "0")])
def test_bad_settings_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(f"GALLERY_{name}", value)
    with pytest.raises(SettingsError):
        Settings.from_env()


def test_cli_runs_the_pipeline_without_airflow(pipeline_env, tmp_path, capsys):
    samples = tmp_path / "samples"
    make_samples(samples)  # the tests' (and make demo's) sample set: no longer a subcommand of the library
    assert main(["upload", str(samples)]) == 0
    assert main(["retrieve", "--engine", "inbox", "--keyword", "cli"]) == 0
    assert main(["process"]) == 0
    assert '"processed": 6' in capsys.readouterr().out
    assert main(["report"]) == 0
    assert main(["deliver", "--keyword", "cli", "--to", "me@example.com"]) == 0
    capsys.readouterr()
    assert main(["last-delivery", "--keyword", "cli"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert lines["images"] == "6"
    with zipfile.ZipFile(lines["archive"]) as zf:
        assert sum(n.startswith("images/") for n in zf.namelist()) == 6
    assert lines["email"].startswith(str(pipeline_env / "outbox"))


def test_cli_refuses_a_bad_request(pipeline_env):
    with pytest.raises(ValueError, match="needs at least one keyword"):
        main(["retrieve", "--engine", "bing"])


def test_required_connections_follow_the_chosen_backends():
    assert Settings().required_connections() == {}  # the embedded default needs none; SMTP is optional on auto
    cfg = Settings(store_url="s3://b/p", catalog="mongo", email="smtp", mongo_conn_id="catalog_db")
    assert cfg.required_connections() == {"aws_default": "aws", "catalog_db": "mongo", "smtp_default": "smtp"}
