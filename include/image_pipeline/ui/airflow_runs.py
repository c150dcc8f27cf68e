"""Every call the gallery makes into Airflow's internals, in one place (besides the auth manager's
security dependencies, ``ui/auth.py``): starting ``image_request`` as
the logged-in user (and counting that user's runs, the two held together), recording the inbox's
Asset event for an upload, and reading back the runs that event started.

None of it is Airflow's public interface. What this module relies on, each name checked (its route,
signature, fields or columns) by ``tests/unit/ui/test_airflow_internals.py``, which also fails when
an ``airflow`` import here is missing from this list, so an Airflow upgrade that changes one fails
there, by name, rather than in a user's request:

- ``airflow.api_fastapi.core_api.routes.public.dag_run.trigger_dag_run``: the function behind
  ``POST /api/v2/dags/{dag_id}/dagRuns``, called by keyword (``dag_id, body, dag_bag, user, session,
  request``).
- ``airflow.api_fastapi.core_api.datamodels.dag_run.TriggerDAGRunPostBody``: its body (``conf``,
  ``logical_date``).
- ``airflow.api_fastapi.core_api.datamodels.dag_run.DAGRunResponse``: the created run as the REST API
  answers it, the request endpoint's answer (pinned by the committed ``ui/openapi.json``).
- ``airflow.api_fastapi.common.dagbag.create_dag_bag``: the API server's DagBag, made with no argument.
- ``airflow.api_fastapi.core_api.routes.public.assets.create_asset_event``: the function behind
  ``POST /api/v2/assets/events``, called by keyword (``body, session, user``).
- ``airflow.api_fastapi.core_api.datamodels.assets.CreateAssetEventsBody``: its body (``asset_id``,
  ``extra``).
- ``airflow.models.dagrun.DagRun``: the ``dag_run`` table's ``dag_id``, ``run_id``, ``state``,
  ``triggering_user_name`` and ``run_after`` (a time with its zone).
- ``airflow.models.asset.AssetModel``: the ``asset`` table's ``id``, ``name`` and ``uri``.
- ``airflow.models.asset.AssetEvent``: the ``asset_event`` table's ``id``, ``asset_id``, ``extra``,
  ``source_dag_id``, ``source_run_id`` and ``timestamp``, and its ``created_dagruns`` (the runs it fed).
- ``airflow.utils.state.DagRunState``: a run's state, answered as its value.
- ``airflow.utils.session.create_session``: a session of the metadata DB, committed at the block's end
  (``scoped=False``: a session of its own, not the thread's).

Starting runs. The gallery's request endpoint (:mod:`.requests`) runs inside Airflow's API server,
as a plugin's FastAPI app: it starts ``image_request`` with the code behind Airflow's own
``POST /api/v2/dags/{dag_id}/dagRuns`` (the route's function, called with the gallery's user and a
session of the metadata DB), so the run is created exactly as the REST API creates it (the DAG's
Params validated, the user recorded as the run's triggering user) without an HTTP call from the API
server to itself.

Counting a user's runs and creating the next one must be one critical section, or two requests at
the limit would both pass: :func:`one_at_a_time` holds a lock within the process (the endpoint runs
in a thread pool) and, across API server processes, a PostgreSQL advisory lock taken in the
transaction that creates the run and released when it commits, so the next request counts the new
run. The lock is the project's own (a key of its own, no Airflow table is locked). SQLite, which has
no locks to share, is only served by one process (``airflow standalone``).

The inbox's event (issue 28). An upload through the gallery (:mod:`.uploads`) stores its files in
the inbox zone, then records an event of the Asset ``gallery_inbox_files`` with the code behind
Airflow's own ``POST /api/v2/assets/events`` (the route's function, called in the API server with the
uploader as its user): the scheduler's next loop creates a run of ``gallery_inbox``, where the
inbox's watcher would only notice the files on its next poll, once they had been still for its
settle time (10 to 20 s). The watcher stays, for files that arrive any other way (the CLI, a copy
into the folder, S3 with or without SQS).

Who may: the upload's own right, to trigger ``gallery_inbox`` (:data:`~.auth.can_upload`). The REST
API asks for the right to write Assets (the simple auth manager's Op role) because an Asset event may
start any DAG scheduled on the Asset; this one starts only ``gallery_inbox``, which the uploader may
start anyway.

A second event for the same files does no harm: the scheduler folds the events queued while a run of
``gallery_inbox`` is active into its next run (``max_active_runs=1``), a run that finds the inbox
empty ends skipped without an event of ``gallery_raw_images`` (so no run of ``gallery_process``
follows), and images are content-addressed: a file ingested twice is one image.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterator

from airflow.api_fastapi.common.dagbag import create_dag_bag
from airflow.api_fastapi.core_api.datamodels.assets import CreateAssetEventsBody
from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse, TriggerDAGRunPostBody
from airflow.api_fastapi.core_api.routes.public.assets import create_asset_event
from airflow.api_fastapi.core_api.routes.public.dag_run import trigger_dag_run
from airflow.models.asset import AssetEvent, AssetModel
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from fastapi import Request
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from image_pipeline.airflow_adapter.assets import INBOX_FILES, RAW_IMAGES

log = logging.getLogger(__name__)

RunResponse = DAGRunResponse  # a created run as Airflow's REST API answers it (the endpoint's response model)
INBOX_DAG = "gallery_inbox"
PROCESS_DAG = "gallery_process"

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


@dataclass(frozen=True)
class InboxEventRecorded:
    """What became of an upload's event: recorded (its id and time), or not, and why."""

    recorded: bool
    id: int | None = None
    timestamp: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "id": self.id, "timestamp": self.timestamp, "reason": self.reason}


def _asset_id(session: Session, asset: Any) -> int | None:
    return session.scalar(select(AssetModel.id).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri))


def record_inbox_event(user: Any, extra: dict[str, Any]) -> InboxEventRecorded:
    """An event of the inbox's Asset, as ``user``, with ``extra``. Not recorded (the files then wait
    for the watcher's poll), with the reason: before the DAG processor has registered the Asset, or
    while the metadata DB cannot be reached (the upload itself is kept)."""
    try:
        with create_session(scoped=False) as session:
            asset_id = _asset_id(session, INBOX_FILES)
            if asset_id is None:
                return InboxEventRecorded(False, reason=f"Airflow does not know the Asset {INBOX_FILES.name} yet "
                                                        f"(its DAGs are not parsed): the inbox's watcher will find the "
                                                        "files")
            event = create_asset_event(body=CreateAssetEventsBody(asset_id=asset_id, extra=extra), session=session,
                                       user=user)
            recorded = InboxEventRecorded(True, id=event.id, timestamp=event.timestamp.isoformat())
    except OperationalError as exc:  # the metadata DB unreachable or locked: the environment's, the files are kept
        log.warning("the inbox's Asset event was not recorded (the watcher will find the files): %s", exc)
        return InboxEventRecorded(False, reason="Airflow's metadata database did not answer: the inbox's watcher will "
                                                "find the files")
    return recorded


def runs_started_by(event_ids: list[int]) -> list[dict[str, Any]]:
    """The runs the upload events ``event_ids`` started, each once, as ``{dag_id, run_id, state}``:
    for each event in turn, the runs of ``gallery_inbox`` it fed (none until the scheduler has
    created one), then the runs of ``gallery_process`` that their events of ``gallery_raw_images``
    fed. An unknown event has none."""
    if not event_ids:
        return []
    runs, seen = [], set()
    with create_session(scoped=False) as session:
        for event_id in event_ids:
            for run in _runs_started_by(session, event_id):
                if (run.dag_id, run.run_id) not in seen:
                    seen.add((run.dag_id, run.run_id))
                    runs.append({"dag_id": run.dag_id, "run_id": run.run_id, "state": DagRunState(run.state).value})
    return runs


def _runs_started_by(session: Session, event_id: int) -> list[DagRun]:
    event = session.scalar(select(AssetEvent).where(AssetEvent.id == event_id))
    if event is None:
        return []
    inbox_runs = [r for r in event.created_dagruns if r.dag_id == INBOX_DAG]
    raw_asset = _asset_id(session, RAW_IMAGES)
    process_runs: list[DagRun] = []
    if inbox_runs and raw_asset is not None:
        followed = session.scalars(select(AssetEvent).where(
            AssetEvent.asset_id == raw_asset, AssetEvent.source_dag_id == INBOX_DAG,
            AssetEvent.source_run_id.in_([r.run_id for r in inbox_runs])))
        for raw_event in followed:
            process_runs.extend(run for run in raw_event.created_dagruns if run.dag_id == PROCESS_DAG)
    return sorted(inbox_runs, key=lambda r: r.run_after) + sorted(process_runs, key=lambda r: r.run_after)
