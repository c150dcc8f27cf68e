"""docker-compose.yaml cannot run here (no Docker engine): check it statically against the settings
and connections the code reads, the settings file it shares with the CI harness, and the folders
the code needs. ``compose_problems`` lists what is wrong; the mutation tests prove it notices each
kind of missing or contradicting piece in a broken copy of the file."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from airflow_stack import AIRFLOW_ENV_FILE, HARNESS_OVERRIDES, STACK_ENV_FILE, read_env_file
from image_pipeline import RELEASE
from image_pipeline.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
FAB_FILE = ROOT / "docker-compose.fab.yaml"  # the override for a real deployment's auth manager
COMPOSE_ENV = ROOT / "scripts" / "compose-env"
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker")
BACKING_SERVICES = ("postgres", "redis", "mongo", "s3", "mailpit")
ONE_SHOT_SERVICES = ("airflow-init",)  # runs to completion: no healthcheck, others wait for it
# Where the project's folders go in the image, and the setting (if any) that points into each.
MOUNTS = {"dags": "/opt/airflow/dags", "plugins": "/opt/airflow/plugins", "include": "/opt/image-pipeline/include",
          "config": "/opt/image-pipeline/config"}
DEFAULTS = re.compile(r"\$\{(\w+):-([^}]*)\}")
REQUIRED = re.compile(r"\$\{(\w+):\?([^}]*)\}")  # compose refuses to start while VAR is unset or empty
# The only variables with a default: none is a secret.
DEFAULTED = {"AIRFLOW_UID", "GALLERY_BUCKET", "GALLERY_EMAIL_TO"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$|TOKEN", re.IGNORECASE)


def run_compose_env(output: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(COMPOSE_ENV), "--output", str(output)], capture_output=True,
                          text=True, check=True)


@cache
def generated_env() -> dict[str, str]:
    """A .env as scripts/compose-env writes it (in a temporary folder): what a person's stack reads."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        run_compose_env(Path(tmp) / ".env")
        return read_env_file(Path(tmp) / ".env")


def interpolate(value: str) -> str:
    """Compose's interpolation with the .env scripts/compose-env writes: ``${VAR:?...}`` its value,
    ``${VAR:-default}`` the default (those variables are not in it)."""
    required = REQUIRED.sub(lambda m: generated_env()[m.group(1)], str(value))
    return DEFAULTS.sub(lambda m: m.group(2), required)


def env_of(compose: dict, service: str) -> dict[str, str]:
    """A service's environment as its container sees it: the env_files (the shared settings file),
    then its ``environment`` (which wins)."""
    spec = compose["services"][service]
    env: dict[str, str] = {}
    for entry in spec.get("env_file") or []:
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
    if not waits_for("airflow-init", "s3", "service_healthy"):
        problems.append("airflow-init does not wait for the object store to be healthy")

    # One place for the settings: every Airflow service reads the shared files and overrides none of them.
    shared = {**read_env_file(AIRFLOW_ENV_FILE), **read_env_file(STACK_ENV_FILE)}
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        files = [e["path"] if isinstance(e, dict) else e for e in services[name].get("env_file") or []]
        for settings_file in (AIRFLOW_ENV_FILE, STACK_ENV_FILE):
            if str(settings_file.relative_to(ROOT)) not in files:
                problems.append(f"{name} does not read {settings_file.relative_to(ROOT)}")
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
    init = "\n".join(services["airflow-init"].get("command", []))
    # The bucket is GALLERY_STORE_URL's, created by airflow-init (idempotent) before any task runs.
    if cfg.store.is_s3 and not ('os.environ["GALLERY_STORE_URL"]' in init and "s3.create_bucket(Bucket=bucket)" in init):
        problems.append("airflow-init does not create GALLERY_STORE_URL's bucket")
    from image_pipeline.airflow_adapter import DOWNLOAD_POOL, PROCESS_POOL

    for step in ("airflow db migrate", f"airflow pools set {DOWNLOAD_POOL}", f"airflow pools set {PROCESS_POOL}",
                 "passwords.json", "connections add"):
        if step not in init:
            problems.append(f"airflow-init does not run {step!r}")

    # The folders the code needs, mounted where the settings and Airflow look for them, in every Airflow service.
    for name in (*AIRFLOW_SERVICES, "airflow-init"):
        volumes = services[name].get("volumes", [])
        for folder, target in MOUNTS.items():
            if not (ROOT / folder).is_dir() or not any(v.split(":")[:2] == [f"./{folder}", target] for v in volumes):
                problems.append(f"{name}: ./{folder} is not mounted at {target}")
    if not cfg.downloads.searches_file.startswith(MOUNTS["config"] + "/"):
        problems.append(f"GALLERY_SEARCHES_FILE {cfg.downloads.searches_file} is not in the mounted ./config")
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
    assert cfg.store.is_s3 and cfg.catalog.backend == "mongo" and cfg.email.channel == "smtp"
    assert set(cfg.required_connections()) == {"aws_default", "mongo_default", "smtp_default"}
    assert env_of(compose, "airflow-worker")["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_the_harness_uses_the_same_settings_with_only_timings_changed():
    shared = read_env_file(STACK_ENV_FILE)
    assert set(HARNESS_OVERRIDES) <= set(shared)  # overrides change shared values, never add hidden ones
    assert all(k.startswith("AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT") for k in HARNESS_OVERRIDES)
    harness = (ROOT / "tests" / "system" / "test_distributed.py").read_text()
    assert "**read_env_file(STACK_ENV_FILE)" in harness and "**HARNESS_OVERRIDES" in harness
    assert "**read_env_file(AIRFLOW_ENV_FILE)" in harness
    assert not set(re.findall(r'"((?:AIRFLOW__|GALLERY_)\w+)":', harness)) & (set(shared) | set(read_env_file(AIRFLOW_ENV_FILE)))


def test_init_creates_the_pools_with_the_script_s_commands(compose):
    from image_pipeline.airflow_adapter import DOWNLOAD_POOL, PROCESS_POOL

    script = (ROOT / "scripts" / "init-airflow").read_text()
    assert f"pools set {DOWNLOAD_POOL}" in script
    assert f'pools set {PROCESS_POOL} "${{GALLERY_PROCESS_SLOTS:-4}}"' in script  # the settings' default


def _loaded_and_changed(path: tuple[str, ...], change):
    """A change to one key of the loaded file (``change(parent, key)``), the file written back as YAML."""
    def mutate(text: str) -> str:
        doc = yaml.safe_load(text)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        change(parent, path[-1])
        return yaml.safe_dump(doc)
    return mutate


def _drop(*path: str):
    """Delete a block (a service, a healthcheck, a dependency) from the loaded file."""
    return _loaded_and_changed(path, lambda parent, key: parent.pop(key))


def _set(*path: str, value: str):
    """Set a key of the loaded file (a setting in a service's environment)."""
    return _loaded_and_changed(path, lambda parent, key: parent.__setitem__(key, value))


def edited(text: str, pattern: str, replacement: str, count: int = 0) -> str:
    """The file's text with ``pattern`` replaced (``replacement`` taken as it is), which must be there."""
    changed = re.sub(pattern, lambda m: replacement, text, count=count, flags=re.MULTILINE)
    assert changed != text, pattern
    return changed


def _replace(pattern: str, replacement: str):
    """Replace text in the file (a host in a connection)."""
    return lambda text: edited(text, pattern, replacement)


def _delete_lines(pattern: str):
    """Delete lines from the file's text (a mount, a connection, an env_file entry)."""
    return _replace(pattern, "")


BROKEN = {
    "a service": (_drop("services", "mongo"), "service mongo is missing"),
    "the workers": (_drop("services", "airflow-worker"), "service airflow-worker is missing"),
    "the bucket's creation": (_delete_lines(r"^ *s3\.create_bucket\(Bucket=bucket\)\n"),
                              "airflow-init does not create GALLERY_STORE_URL's bucket"),
    "the object store": (_drop("services", "s3"), "service s3 is missing"),
    "a healthcheck": (_drop("services", "airflow-scheduler", "healthcheck"), "airflow-scheduler has no healthcheck"),
    "waiting for the API server": (_drop("services", "airflow-worker", "depends_on", "airflow-apiserver"),
                                   "airflow-worker does not wait for the API server"),
    "a connection": (_delete_lines(r"^ *INIT_CONN_SMTP_DEFAULT: .*\n"), "does not create the connection smtp_default"),
    "a mounted folder": (_delete_lines(r"^ *- \./dags:.*\n"), "airflow-worker: ./dags is not mounted"),
    "the config mount": (_delete_lines(r"^ *- \./config:.*\n"), "airflow-scheduler: ./config is not mounted"),
    "the library's path": (_delete_lines(r"^ *PYTHONPATH: .*\n"), "the mounted ./include is not on PYTHONPATH"),
    "the shared settings": (_delete_lines(r"^ *- path: config/celery-stack.env\n *required: true\n"),
                            "does not read config/celery-stack.env"),
    "every deployment's settings": (_delete_lines(r"^ *- path: config/airflow.env\n *required: true\n"),
                                    "does not read config/airflow.env"),
    "a connection pointing at no service": (_replace(r'"host": "mongo"', '"host": "mongodb-typo"'),
                                            "points at 'mongodb-typo'"),
    "a redefined shared setting": (_set("services", "airflow-scheduler", "environment", "AIRFLOW__CORE__EXECUTOR",
                                        value="LocalExecutor"), "airflow-scheduler redefines shared settings"),
}


@pytest.mark.parametrize("what", BROKEN)
def test_a_broken_copy_fails_the_check(what):
    mutate, expected = BROKEN[what]
    problems = compose_problems(yaml.safe_load(mutate(COMPOSE_FILE.read_text())))
    assert any(expected in p for p in problems), problems


def test_the_image_is_the_official_one_with_the_locked_dependencies():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "constraints.txt").read_text(), re.MULTILINE).group(1)
    assert re.search(rf"^FROM apache/airflow:{re.escape(pinned)}-python3\.11$", dockerfile, re.MULTILINE)
    assert "COPY --chown=airflow:root requirements /opt/image-pipeline/requirements" in dockerfile
    assert '--no-deps --require-hashes -r "/opt/image-pipeline/requirements/${lock}.txt"' in dockerfile
    assert "pip install --no-cache-dir --no-deps /opt/image-pipeline " in dockerfile
    assert "COPY --chown=airflow:root include" in dockerfile
    assert "PYTHONPATH=/opt/image-pipeline/include" in dockerfile  # config/ found beside the library
    dockerignore = (ROOT / ".dockerignore").read_text().split()
    assert ".venv/" in dockerignore and ".cache/" in dockerignore  # the build context stays small


def _lock_for(extras: str) -> Path:
    """The Dockerfile's choice of lock for a value of its EXTRAS argument (its shell line, run)."""
    line = re.search(r'lock="\$\(.*?\)"', (ROOT / "docker" / "Dockerfile").read_text()).group(0)
    out = subprocess.run(["sh", "-c", f'{line}; printf %s "$lock"'], env={"EXTRAS": extras, "PATH": os.environ["PATH"]},
                         capture_output=True, text=True, check=True).stdout
    return ROOT / "requirements" / f"{out}.txt"


def test_each_image_variant_installs_a_committed_lock():
    fab = yaml.safe_load(FAB_FILE.read_text())
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    default = re.search(r"^ARG EXTRAS=(.*)$", dockerfile, re.MULTILINE).group(1)
    variants = {default, "", *(s["build"]["args"]["EXTRAS"] for s in fab["services"].values())}
    assert variants == {"ml", "", "ml,fab"}
    for extras in variants:
        assert _lock_for(extras).is_file(), extras
    assert _lock_for("ml,fab").name == "ml-fab.txt" and _lock_for("").name == "base.txt"
    # The models are base dependencies: every variant has them, the U2-Net-p weights fetched, no torch.
    assert "\n && python /opt/image-pipeline/scripts/fetch-weights\n" in dockerfile
    for extras in variants:
        assert "\ntorch==" not in _lock_for(extras).read_text(), extras
        assert "\nonnxruntime==" in _lock_for(extras).read_text(), extras


# --- a stack a person can run in production: pinned images, generated secrets, a real auth manager --------

def deployment_problems(text: str) -> list[str]:
    """What makes a compose file's text unfit to run as it is: an image without a pinned version, a
    secret with a default or written in the file, a variable it requires that scripts/compose-env
    does not write."""
    problems = []
    doc = yaml.safe_load(text)
    blocks = [*doc.get("services", {}).values(), *(v for k, v in doc.items() if k.startswith("x-"))]
    for image in re.findall(r"^\s*image:\s*(\S+)", text, re.MULTILINE):
        name, _, tag = image.rpartition(":")
        if not name or "/" in tag or tag == "latest" or not re.search(r"\d+\.\d+", tag):
            problems.append(f"image {image} is not pinned to a version")
        elif name == "image-pipeline-airflow" and tag.removesuffix("-fab") != RELEASE:
            problems.append(f"image {image} is not the project's release {RELEASE}")
    for var, default in DEFAULTS.findall(text):
        if var not in DEFAULTED or SECRET_NAME.search(var):
            problems.append(f"${{{var}}} has a default ({default!r}): only {sorted(DEFAULTED)} may")
    for block in blocks:
        env = (block.get("environment") or {}) if isinstance(block, dict) else {}
        for key, value in env.items():
            if SECRET_NAME.search(key) and not key.endswith("_FILE") and not REQUIRED.fullmatch(str(value)):
                problems.append(f"{key} is not a required variable (${{VAR:?...}}): {value!r}")
            password = re.search(r'"password": "([^"]*)"', str(value)) if key.startswith("INIT_CONN_") else None
            if password and not REQUIRED.fullmatch(password.group(1)):
                problems.append(f"{key}'s password is written in the file")
    written = set(generated_env())
    for var, message in REQUIRED.findall(text):
        if var not in written:
            problems.append(f"${{{var}}} is required but scripts/compose-env does not write it")
        elif "scripts/compose-env" not in message:
            problems.append(f"${{{var}}}'s message does not say to run scripts/compose-env")
    return problems


@pytest.mark.parametrize("path", [COMPOSE_FILE, FAB_FILE], ids=lambda p: p.name)
def test_the_stack_is_pinned_and_has_no_default_secret(path):
    assert deployment_problems(path.read_text()) == []


def test_every_secret_of_the_stack_is_required():
    required = {var for var, _ in REQUIRED.findall(COMPOSE_FILE.read_text())}
    assert {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD",
            "POSTGRES_PASSWORD", "REDIS_PASSWORD", "MONGO_PASSWORD", "S3_ACCESS_KEY", "S3_SECRET_KEY"} <= required
    assert not (ROOT / ".env.example").exists()  # no template of default passwords beside the script
    assert ".env" in (ROOT / ".gitignore").read_text().split()


UNFIT = {
    "a floating tag": (r"image: mongo:7\.0\.\d+", "image: mongo:latest", "image mongo:latest is not pinned"),
    "a major-only tag": (r"image: postgres:[\d.]+", "image: postgres:16", "image postgres:16 is not pinned"),
    "the project's image untagged": (r"image: image-pipeline-airflow:\S+", "image: image-pipeline-airflow:latest",
                                     "image image-pipeline-airflow:latest is not pinned"),
    "another release": (r"image: image-pipeline-airflow:\S+", "image: image-pipeline-airflow:0.0.1",
                        "is not the project's release"),
    "a default password": (r"\$\{POSTGRES_PASSWORD:\?[^}]*\}", "${POSTGRES_PASSWORD:-airflow}",
                           "${POSTGRES_PASSWORD} has a default"),
    "a password in the file": (r"MONGO_INITDB_ROOT_PASSWORD: .*", "MONGO_INITDB_ROOT_PASSWORD: hunter2",
                               "MONGO_INITDB_ROOT_PASSWORD is not a required variable"),
    "a connection's password in the file": (r'"password": "\$\{MONGO_PASSWORD:\?[^}]*\}"', '"password": "hunter2"',
                                            "INIT_CONN_MONGO_DEFAULT's password is written in the file"),
    "a variable nobody writes": (r"\$\{REDIS_PASSWORD:\?", "${REDIS_PASSWORD_TYPO:?",
                                 "${REDIS_PASSWORD_TYPO} is required but scripts/compose-env does not write it"),
}


@pytest.mark.parametrize("what", UNFIT)
def test_an_unfit_copy_fails_the_check(what):
    pattern, replacement, expected = UNFIT[what]
    problems = deployment_problems(edited(COMPOSE_FILE.read_text(), pattern, replacement, count=1))
    assert any(expected in p for p in problems), problems


def test_compose_env_writes_every_secret_once_and_never_overwrites(tmp_path):
    from cryptography.fernet import Fernet

    env_file = tmp_path / ".env"
    run_compose_env(env_file)
    env = read_env_file(env_file)
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600  # the secrets readable by their owner only
    Fernet(env["AIRFLOW_FERNET_KEY"].encode())  # a key Airflow accepts
    secret_values = {k: v for k, v in env.items() if SECRET_NAME.search(k)}
    assert len(secret_values) >= 9, secret_values
    assert all(re.fullmatch(r"[A-Za-z0-9_=-]{16,}", v) for v in secret_values.values()), secret_values
    assert len(set(secret_values.values())) == len(secret_values)  # each its own
    assert env != generated_env()  # random: another run, other values

    before = env_file.read_text()
    assert "left as it is" in run_compose_env(env_file).stdout
    assert env_file.read_text() == before

    # A .env from an older stack: its values kept, only what it lacks added.
    env_file.write_text("POSTGRES_PASSWORD=chosen-by-hand")
    run_compose_env(env_file)
    again = read_env_file(env_file)
    assert again["POSTGRES_PASSWORD"] == "chosen-by-hand" and set(again) == set(env)


def test_simple_auth_manager_is_for_development_and_fab_is_the_real_deployment_s():
    shared = read_env_file(STACK_ENV_FILE)
    assert shared["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")
    assert "SimpleAuthManager: for development only" in COMPOSE_FILE.read_text()
    assert "SimpleAuthManager, which is for development only" in FAB_FILE.read_text()
    fab = yaml.safe_load(FAB_FILE.read_text())
    for name in (*AIRFLOW_SERVICES, "airflow-init", "flower"):
        service = fab["services"][name]
        assert service["environment"]["AIRFLOW__CORE__AUTH_MANAGER"] == \
            "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager", name
        assert service["build"]["args"]["EXTRAS"] == "ml,fab"
    # The provider is the extra fab, locked like everything else, and init makes the admin a FAB user.
    assert re.search(r"^apache-airflow-providers-fab==\S+", (ROOT / "constraints.txt").read_text(), re.MULTILINE)
    assert "apache-airflow-providers-fab==" in (ROOT / "requirements" / "ml-fab.txt").read_text()
    init = "\n".join(yaml.safe_load(COMPOSE_FILE.read_text())["services"]["airflow-init"]["command"])
    assert "*FabAuthManager ]]" in init and "airflow users create --username admin" in init
