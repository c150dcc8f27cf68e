"""A real Airflow for tests: `airflow standalone` (scheduler, API server, DAG processor, triggerer)
in a throw-away home, with this project's DAGs and the embedded default. Used by the tests that
need the scheduler or the REST API (tests/test_backfill.py, tests/test_request_api.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_leftovers(home: Path) -> None:
    """standalone's components can outlive it in sessions of their own: stop every process of this home."""
    import psutil

    mine = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get("AIRFLOW_HOME") == str(home):
                mine.append(proc)
        except (psutil.Error, OSError):
            continue
    for proc in mine:
        proc.terminate()
    _, alive = psutil.wait_procs(mine, timeout=15)
    for proc in alive:
        proc.kill()


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def airflow_standalone(home: Path, extra_env: dict[str, str], dag_id: str) -> Iterator[dict[str, Any]]:
    """Start `airflow standalone` in ``home`` and wait until ``dag_id`` is parsed; stop every process
    of the home afterwards. Yields ``home``, ``env``, ``port``, ``url`` and ``airflow`` (runs the CLI)."""
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "GALLERY_STORE_URL": (home / "data").as_uri(),
        "GALLERY_SQLITE_PATH": str(home / "catalog.sqlite3"),
        "GALLERY_EMAIL": "outbox",
        **extra_env,
    }
    subprocess.run([str(ROOT / "scripts" / "init-airflow")], check=True, capture_output=True, env=env)
    log = open(home / "standalone.log", "w")
    proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)

    def api_up():
        try:
            with urllib.request.urlopen(f"http://localhost:{port}/api/v2/version", timeout=2):
                return True
        except OSError:
            return False

    def airflow(*args, check=True):
        done = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True)
        if check and done.returncode:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done

    try:
        wait_for(api_up, 180, "the API server")
        wait_for(lambda: dag_id in airflow("dags", "list", "-o", "plain", check=False).stdout, 180,
                 "the DAG processor to parse the DAGs")
        yield {"home": home, "env": env, "port": port, "url": f"http://localhost:{port}", "airflow": airflow}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        stop_leftovers(home)
        log.close()


def api_token(server: dict[str, Any]) -> str:
    """A JWT for the REST API, logging in as ``admin`` with the password standalone generated."""
    passwords = json.loads((server["home"] / "simple_auth_manager_passwords.json.generated").read_text())
    request = urllib.request.Request(f"{server['url']}/auth/token", method="POST",
                                     data=json.dumps({"username": "admin", "password": passwords["admin"]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access_token"]


def api(server: dict[str, Any], token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(f"{server['url']}/api/v2{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
