"""docker-compose.yaml cannot run here (no Docker engine): check it statically against the settings
and connections the code reads, the settings file it shares with the CI harness, and the folders
the code needs. ``compose_problems`` lists what is wrong; the mutation tests prove it notices each
kind of missing piece in a copy of the file."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest
import yaml

from airflow_stack import HARNESS_OVERRIDES, STACK_ENV_FILE, read_env_file
from image_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker")
BACKING_SERVICES = ("postgres", "redis", "mongo", "minio", "mailpit")
ONE_SHOT_SERVICES = ("airflow-init", "minio-init")  # run to completion: no healthcheck, others wait for them
# Where the project's folders go in the image, and the setting (if any) that points into each.
MOUNTS = {"dags": "/opt/airflow/dags", "plugins": "/opt/airflow/plugins", "include": "/opt/image-pipeline/include",
          "config": "/opt/image-pipeline/config"}
DEFAULTS = re.compile(r"\$\{(\w+):-([^}]*)\}")


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with nothing set: the default."""
    return DEFAULTS.sub(lambda m: m.group(2), str(value))


def env_of(compose: dict, service: str) -> dict[str, str]:
    """A service's environment as its container sees it: the env_files (the shared settings file),
    then its ``environment`` (which wins)."""
    spec = compose["services"][service]
    env: dict[str, str] = {}
    for entry in spec.get("env_file", []):
        path = ROOT / (entry["path"] if isinstance(entry, dict) else entry)
        if path.is_file() and path.name != ".env":
            env.update(read_env_file(path))
    env.update({k: interpolate(v) for k, v in (spec.get("environment") or {}).items()})
    return env


def init_connections(compose: dict) -> dict[str, dict]:
    env = compose["services"]["airflow-init"].get("environment") or {}
    return {k.removeprefix("INIT_CONN_").lower(): json.loads(interpolate(v))
            for k, v in env.items() if k.startswith("INIT_CONN_")}


def compose_problems(compose: dict) -> list[str]:
    """Everything the stack needs that the compose file lacks or contradicts."""
    problems = []
    services = compose.get("services", {})
    for name in (*AIRFLOW_SERVICES, *BACKING_SERVICES, *ONE_SHOT_SERVICES):
        if name not in services:
            problems.append(f"service {name} is missing")
    for name in (*AIRFLOW_SERVICES, *BACKING_SERVICES):
        if name in services and not (services[name].get("healthcheck") or {}).get("test"):
            problems.append(f"service {name} has no healthcheck")
    if problems:
        return problems

    def waits_for(service: str, other: str, condition: str) -> bool:
        return (services[service].get("depends_on") or {}).get(other, {}).get("condition") == condition

    for name in AIRFLOW_SERVICES:
        if not waits_for(name, "airflow-init", "service_completed_successfully"):
            problems.append(f"{name} does not wait for airflow-init to complete")
        for backing in ("postgres", "redis"):
            if not waits_for(name, backing, "service_healthy"):
                problems.append(f"{name} does not wait for {backing} to be healthy")
    if not waits_for("airflow-worker", "airflow-apiserver", "service_healthy"):
        problems.append("airflow-worker does not wait for the API server to be healthy")
    if not waits_for("airflow-init", "minio-init", "service_completed_successfully"):
        problems.append("airflow-init does not wait for the bucket to be created")

    # One place for the settings: every Airflow service reads the shared file and overrides none of it.
    shared = read_env_file(STACK_ENV_FILE)
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        files = [e["path"] if isinstance(e, dict) else e for e in services[name].get("env_file", [])]
        if str(STACK_ENV_FILE.relative_to(ROOT)) not in files:
            problems.append(f"{name} does not read {STACK_ENV_FILE.relative_to(ROOT)}")
        redefined = set(services[name].get("environment") or {}) & set(shared)
        if redefined:
            problems.append(f"{name} redefines shared settings {sorted(redefined)}")

    # The pipeline's settings as the worker sees them must be valid, and everything they name must exist.
    worker_env = env_of(compose, "airflow-worker")
    try:
        cfg = _settings_from(worker_env)
    except ValueError as exc:
        return [*problems, f"the workers' GALLERY_* settings are invalid: {exc}"]
    connections = init_connections(compose)
    hosts = {"aws": lambda c: re.sub(r"^https?://([^:/]+).*", r"\1", c.get("extra", {}).get("endpoint_url", "")),
             "mongo": lambda c: c.get("host"), "smtp": lambda c: c.get("host")}
    for conn_id, conn_type in cfg.required_connections().items():
        conn = connections.get(conn_id)
        if conn is None:
            problems.append(f"airflow-init does not create the connection {conn_id}")
        elif conn.get("conn_type") != conn_type:
            problems.append(f"connection {conn_id} is {conn.get('conn_type')}, not {conn_type}")
        elif hosts[conn_type](conn) not in services:
            problems.append(f"connection {conn_id} points at {hosts[conn_type](conn)!r}, not a service")
    if cfg.store_is_s3:
        bucket = cfg.store_url.removeprefix("s3://").split("/")[0]
        if bucket not in interpolate(" ".join(services["minio-init"].get("entrypoint", ""))) \
                and bucket != interpolate(services["minio-init"].get("environment", {}).get("GALLERY_BUCKET", "")):
            problems.append(f"minio-init does not create the bucket {bucket}")
    init = "\n".join(services["airflow-init"].get("command", []))
    from image_pipeline.airflow_adapter import DOWNLOAD_POOL

    for step in ("airflow db migrate", f"airflow pools set {DOWNLOAD_POOL}", "passwords.json", "connections add"):
        if step not in init:
            problems.append(f"airflow-init does not run {step!r}")

    # The folders the code needs, mounted where the settings and Airflow look for them, in every Airflow service.
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        volumes = services[name].get("volumes", [])
        for folder, target in MOUNTS.items():
            if not (ROOT / folder).is_dir() or not any(v.split(":")[:2] == [f"./{folder}", target] for v in volumes):
                problems.append(f"{name}: ./{folder} is not mounted at {target}")
    if not cfg.searches_file.startswith(MOUNTS["config"] + "/"):
        problems.append(f"GALLERY_SEARCHES_FILE {cfg.searches_file} is not in the mounted ./config")
    # The library is imported from the mounted ./include and finds config/ (the shipped recipes)
    # beside it, as in a checkout (settings.PROJECT_ROOT).
    worker_volumes = services["airflow-worker"].get("volumes", [])
    library = [p for p in worker_env.get("PYTHONPATH", "").split(":") if any(
        v.split(":")[:2] == ["./include", p] for v in worker_volumes)]
    if not library:
        problems.append("the mounted ./include is not on PYTHONPATH")
    elif not any(v.split(":")[:2] == ["./config", str(Path(library[0]).parent / "config")] for v in worker_volumes):
        problems.append("./config is not mounted beside ./include")
    return problems


def _settings_from(env: dict[str, str]) -> Settings:
    import os
    from unittest import mock

    gallery = {k: v for k, v in env.items() if k.startswith("GALLERY_")}
    with mock.patch.dict(os.environ, gallery):
        return Settings.from_env()


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_the_compose_file_has_everything_the_code_needs(compose):
    assert compose_problems(compose) == []


def test_the_stack_runs_the_pipeline_on_its_real_backends(compose):
    cfg = _settings_from(env_of(compose, "airflow-worker"))
    assert cfg.store_is_s3 and cfg.catalog == "mongo" and cfg.email == "smtp"
    assert set(cfg.required_connections()) == {"aws_default", "mongo_default", "smtp_default"}
    assert env_of(compose, "airflow-worker")["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_harness_uses_the_same_settings_with_only_timings_changed():
    shared = read_env_file(STACK_ENV_FILE)
    assert set(HARNESS_OVERRIDES) <= set(shared)  # overrides change shared values, never add hidden ones
    assert all(k.startswith("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT") for k in HARNESS_OVERRIDES)
    harness = (ROOT / "tests" / "system" / "test_distributed.py").read_text()
    assert "**read_env_file(STACK_ENV_FILE)" in harness and "**HARNESS_OVERRIDES" in harness
    assert not set(re.findall(r'"((?:AIRFLOW__|GALLERY_)\w+)":', harness)) & set(shared)


def test_init_creates_the_pool_with_the_script_s_command(compose):
    from image_pipeline.airflow_adapter import DOWNLOAD_POOL

    assert f"pools set {DOWNLOAD_POOL}" in (ROOT / "scripts" / "init-airflow").read_text()


def _drop(*path: str):
    """Delete a block (a service, a healthcheck, a dependency) from the loaded file."""
    def mutate(text: str) -> str:
        doc = yaml.safe_load(text)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
        return yaml.safe_dump(doc)
    return mutate


def _delete_lines(pattern: str):
    """Delete lines from the file's text (a mount, a connection, an env_file entry)."""
    def mutate(text: str) -> str:
        changed = re.sub(pattern, "", text, flags=re.MULTILINE)
        assert changed != text, pattern
        return changed
    return mutate


MUTATIONS = {
    "a service": (_drop("services", "mongo"), "service mongo is missing"),
    "the workers": (_drop("services", "airflow-worker"), "service airflow-worker is missing"),
    "the bucket's creation": (_drop("services", "minio-init"), "service minio-init is missing"),
    "a healthcheck": (_drop("services", "airflow-scheduler", "healthcheck"), "airflow-scheduler has no healthcheck"),
    "waiting for the API server": (_drop("services", "airflow-worker", "depends_on", "airflow-apiserver"),
                                   "airflow-worker does not wait for the API server"),
    "a connection": (_delete_lines(r"^ *INIT_CONN_SMTP_DEFAULT: .*\n"), "does not create the connection smtp_default"),
    "a mounted folder": (_delete_lines(r"^ *- \./dags:.*\n"), "airflow-worker: ./dags is not mounted"),
    "the config mount": (_delete_lines(r"^ *- \./config:.*\n"), "airflow-scheduler: ./config is not mounted"),
    "the library's path": (_delete_lines(r"^ *PYTHONPATH: .*\n"), "the mounted ./include is not on PYTHONPATH"),
    "the shared settings": (_delete_lines(r"^ *- path: config/celery-stack.env\n *required: true\n"),
                            "does not read config/celery-stack.env"),
}


@pytest.mark.parametrize("what", MUTATIONS)
def test_a_copy_missing_a_piece_fails_the_check(what, tmp_path):
    mutate, expected = MUTATIONS[what]
    copy_file = tmp_path / "docker-compose.yaml"
    copy_file.write_text(mutate(COMPOSE_FILE.read_text()))
    problems = compose_problems(yaml.safe_load(copy_file.read_text()))
    assert any(expected in p for p in problems), problems


def test_a_connection_pointing_at_no_service_fails_the_check(compose):
    broken = copy.deepcopy(compose)
    env = broken["services"]["airflow-init"]["environment"]
    env["INIT_CONN_MONGO_DEFAULT"] = env["INIT_CONN_MONGO_DEFAULT"].replace('"host": "mongo"', '"host": "mongodb-typo"')
    assert any("points at 'mongodb-typo'" in p for p in compose_problems(broken))


def test_a_redefined_shared_setting_fails_the_check(compose):
    broken = copy.deepcopy(compose)
    broken["services"]["airflow-scheduler"]["environment"]["AIRFLOW__CORE__EXECUTOR"] = "LocalExecutor"
    assert any("airflow-scheduler redefines shared settings" in p for p in compose_problems(broken))


def test_the_image_is_the_official_one_with_the_pinned_dependencies():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE).group(1)
    assert re.search(rf"^FROM apache/airflow:{re.escape(pinned)}-python3\.11$", dockerfile, re.MULTILINE)
    assert "-c /opt/image-pipeline/constraints.txt" in dockerfile and "COPY --chown=airflow:root include" in dockerfile
    assert "PYTHONPATH=/opt/image-pipeline/include" in dockerfile  # config/ found beside the library
    assert ".venv/" in (ROOT / ".dockerignore").read_text().split()  # the build context stays small
