"""Every call the gallery makes into Airflow's internals to start runs, in one place: creating a run
as the logged-in user, counting that user's runs, and holding those two together.

The gallery's request endpoint (:mod:`.requests`) runs inside Airflow's API server, as a plugin's
FastAPI app: it starts ``image_request`` with the code behind Airflow's own
``POST /api/v2/dags/{dag_id}/dagRuns`` (the route's function, called with the gallery's user and a
session of the metadata DB), so the run is created exactly as the REST API creates it (the DAG's
Params validated, the user recorded as the run's triggering user) without an HTTP call from the API
server to itself. None of what this module imports is Airflow's public interface:
``tests/unit/ui/test_airflow_internals.py`` checks each name, signature and column it relies on,
so an Airflow upgrade that changes one fails there, by name, rather than in a user's request.

Counting a user's runs and creating the next one must be one critical section, or two requests at
the limit would both pass: :func:`one_at_a_time` holds a lock within the process (the endpoint runs
in a thread pool) and, across API server processes, a PostgreSQL advisory lock taken in the
transaction that creates the run and released when it commits, so the next request counts the new
run. The lock is the project's own (a key of its own, no Airflow table is locked). SQLite, which has
no locks to share, is only served by one process (``airflow standalone``).
"""

from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Iterator

from airflow.api_fastapi.common.dagbag import create_dag_bag
from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse, TriggerDAGRunPostBody
from airflow.api_fastapi.core_api.routes.public.dag_run import trigger_dag_run
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
from fastapi import Request
from sqlalchemy import select, text
from sqlalchemy.orm import Session

RunResponse = DAGRunResponse  # a created run as Airflow's REST API answers it (the endpoint's response model)

_IN_THIS_PROCESS = threading.Lock()


def lock_key(dag_id: str) -> int:
    """The advisory lock's key for ``dag_id``'s runs: a signed 64-bit integer (PostgreSQL's bigint)
    from a name of the project's own, the same in every process."""
    digest = hashlib.blake2b(f"image_pipeline.ui.airflow_runs:{dag_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def hold_runs_of(session: Session, dag_id: str) -> None:
    """Wait for, then hold until ``session``'s transaction ends, the lock on counting and creating
    ``dag_id``'s runs across processes. PostgreSQL: a transaction-level advisory lock (released at
    commit or rollback, and by the server when the connection dies). SQLite: nothing to hold, one
    process serves it. Any other database: refused, as nothing here was tried on it."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(dag_id)})
    elif dialect != "sqlite":
        raise NotImplementedError(f"the gallery's request limit needs Airflow's metadata DB on PostgreSQL or SQLite, "
                                  f"not {dialect}")


class Runs:
    """``dag_id``'s runs, read and created in one metadata-DB transaction (see :func:`one_at_a_time`)."""

    def __init__(self, session: Session, dag_id: str):
        self.session, self.dag_id = session, dag_id

    def times_by(self, user: str, since: datetime, limit: int) -> list[datetime]:
        """The ``run_after`` of the runs ``user`` triggered after ``since``, newest first, at most ``limit``."""
        return list(self.session.scalars(
            select(DagRun.run_after)
            .where(DagRun.dag_id == self.dag_id, DagRun.triggering_user_name == user, DagRun.run_after > since)
            .order_by(DagRun.run_after.desc()).limit(limit)))

    def trigger(self, request: Request, user: Any, conf: dict[str, Any]) -> DAGRunResponse:
        """A run created by Airflow's REST API's own code, as ``user``: the DAG's Params validate
        ``conf`` (an HTTPException 400 when they refuse it, 404 for an unknown DAG)."""
        dag_run = trigger_dag_run(dag_id=self.dag_id, body=TriggerDAGRunPostBody(conf=conf, logical_date=None),
                                  dag_bag=_dag_bag(request), user=user, session=self.session, request=request)
        return DAGRunResponse.model_validate(dag_run)


@contextmanager
def one_at_a_time(dag_id: str) -> Iterator[Runs]:
    """A metadata-DB transaction in which no other request counts or creates ``dag_id``'s runs,
    committed when the block ends (the run it created is then what the next one counts) and rolled
    back when it raises."""
    with _IN_THIS_PROCESS, create_session(scoped=False) as session:
        hold_runs_of(session, dag_id)
        yield Runs(session, dag_id)


def _dag_bag(request: Request) -> Any:
    """Airflow's API-server DagBag (serialized DAGs from the DB), one per app, as Airflow's own app keeps."""
    if getattr(request.app.state, "dag_bag", None) is None:
        request.app.state.dag_bag = create_dag_bag()
    return request.app.state.dag_bag
