"""The inbox's Asset event recorded by an upload, so ``gallery_inbox`` is scheduled at once, and the
runs that event started, read back for the upload page.

An upload through the gallery stores its files in the inbox zone, then records an event of the
Asset ``gallery_inbox_files`` with the code behind Airflow's own ``POST /api/v2/assets/events`` (the
route's function, called in the API server with the uploader as its user and a session of the
metadata DB): the scheduler's next loop creates a run of ``gallery_inbox``, where the inbox's
watcher would only notice the files on its next poll, once they had been still for its settle time
(10 to 20 s). The watcher stays, for files that arrive any other way (the CLI, a copy into the
folder, S3 with or without SQS).

Who may: the upload's own right, to trigger ``gallery_inbox`` (:data:`~.auth.can_upload`). The REST
API asks for the right to write Assets (the simple auth manager's Op role) because an Asset event may
start any DAG scheduled on the Asset; this one starts only ``gallery_inbox``, which the uploader may
start anyway.

A second event for the same files does no harm: the scheduler folds the events queued while a run of
``gallery_inbox`` is active into its next run (``max_active_runs=1``), a run that finds the inbox
empty ends skipped without an event of ``gallery_raw_images`` (so no run of ``gallery_process``
follows), and images are content-addressed: a file ingested twice is one image.

None of what this module imports from Airflow is its public interface:
``tests/unit/ui/test_inbox_events.py`` checks each name, signature and column it relies on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from airflow.api_fastapi.core_api.datamodels.assets import CreateAssetEventsBody
from airflow.api_fastapi.core_api.routes.public.assets import create_asset_event
from airflow.models.asset import AssetEvent, AssetModel
from airflow.models.dagrun import DagRun
from airflow.utils.session import create_session
from airflow.utils.state import DagRunState
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from image_pipeline.airflow_adapter.assets import INBOX_FILES, RAW_IMAGES

log = logging.getLogger(__name__)

INBOX_DAG = "gallery_inbox"
PROCESS_DAG = "gallery_process"


@dataclass(frozen=True)
class Recorded:
    """What became of an upload's event: recorded (its id and time), or not, and why."""

    recorded: bool
    id: int | None = None
    timestamp: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"recorded": self.recorded, "id": self.id, "timestamp": self.timestamp, "reason": self.reason}


def _asset_id(session: Session, asset: Any) -> int | None:
    return session.scalar(select(AssetModel.id).where(AssetModel.name == asset.name, AssetModel.uri == asset.uri))


def record_inbox_event(user: Any, extra: dict[str, Any]) -> Recorded:
    """An event of the inbox's Asset, as ``user``, with ``extra``. Not recorded (the files then wait
    for the watcher's poll), with the reason: before the DAG processor has registered the Asset, or
    while the metadata DB cannot be reached (the upload itself is kept)."""
    try:
        with create_session() as session:
            asset_id = _asset_id(session, INBOX_FILES)
            if asset_id is None:
                return Recorded(False, reason=f"Airflow does not know the Asset {INBOX_FILES.name} yet (its DAGs "
                                              f"are not parsed): the inbox's watcher will find the files")
            event = create_asset_event(body=CreateAssetEventsBody(asset_id=asset_id, extra=extra), session=session,
                                       user=user)
            recorded = Recorded(True, id=event.id, timestamp=event.timestamp.isoformat())
    except OperationalError as exc:  # the metadata DB unreachable or locked: the environment's, the files are kept
        log.warning("the inbox's Asset event was not recorded (the watcher will find the files): %s", exc)
        return Recorded(False, reason="Airflow's metadata database did not answer: the inbox's watcher will find "
                                      "the files")
    return recorded


def _run(run: DagRun) -> dict[str, Any]:
    return {"dag_id": run.dag_id, "run_id": run.run_id, "state": DagRunState(run.state).value}


def runs_started_by(session: Session, event_id: int) -> list[dict[str, Any]]:
    """The runs of ``gallery_inbox`` the event fed (none until the scheduler has created one), then
    the runs of ``gallery_process`` that their events of ``gallery_raw_images`` fed: each as
    ``{dag_id, run_id, state}``, in that order."""
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
        seen = set()
        for raw_event in followed:
            for run in raw_event.created_dagruns:
                if run.dag_id == PROCESS_DAG and run.run_id not in seen:
                    seen.add(run.run_id)
                    process_runs.append(run)
    return [_run(r) for r in sorted(inbox_runs, key=lambda r: r.run_after)] + \
        [_run(r) for r in sorted(process_runs, key=lambda r: r.run_after)]
