"""docker-compose.yaml cannot run here (no Docker engine): check it statically against the settings
and connections the code reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from image_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text())


def airflow_env(compose, service="airflow-worker"):
    return compose["services"][service]["environment"]


def test_every_component_is_there_with_a_healthcheck(compose):
    services = compose["services"]
    for name in ("postgres", "redis", "mongo", "minio", "mailpit", "airflow-apiserver", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-triggerer", "airflow-worker"):
        assert "healthcheck" in services[name], name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"


def test_connections_the_code_uses_are_defined(compose):
    env = airflow_env(compose)
    cfg = Settings()
    for conn_id, conn_type in ((cfg.aws_conn_id, "aws"), (cfg.mongo_conn_id, "mongo"), (cfg.smtp_conn_id, "smtp")):
        raw = env[f"AIRFLOW_CONN_{conn_id.upper()}"]
        assert json.loads(raw.replace("${MINIO_ROOT_USER:-minioadmin}", "u")
                          .replace("${MINIO_ROOT_PASSWORD:-minioadmin-change-me}", "p"))["conn_type"] == conn_type


def test_pipeline_settings_are_valid_for_the_stack(compose, monkeypatch):
    for name, value in airflow_env(compose).items():
        if name.startswith("GALLERY_"):
            monkeypatch.setenv(name, value.replace("${GALLERY_BUCKET:-image-pipeline}", "image-pipeline")
                               .replace("${GALLERY_EMAIL_TO:-gallery@example.com}", "gallery@example.com"))
    cfg = Settings.from_env()
    assert cfg.store_is_s3 and cfg.catalog == "mongo" and cfg.email == "smtp"


def test_project_folders_are_mounted(compose):
    volumes = compose["x-airflow-common"]["volumes"]
    for folder in ("dags", "plugins", "include"):
        assert any(v.startswith(f"./{folder}:") for v in volumes), folder
        assert (ROOT / folder).is_dir()


def test_init_creates_the_pool_the_dags_use(compose):
    from image_pipeline.airflow_adapter import DOWNLOAD_POOL

    init = "\n".join(compose["services"]["airflow-init"]["command"])
    assert "airflow db migrate" in init and f"airflow pools set {DOWNLOAD_POOL}" in init
    assert f"pools set {DOWNLOAD_POOL}" in (ROOT / "scripts" / "init-airflow").read_text()
