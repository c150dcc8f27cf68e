"""Image requests from the gallery: ``POST /api/requests`` starts ``image_request`` for the logged-in
user, with Airflow's own DAG-run creation (the same code as Airflow's ``POST /api/v2/dags/{id}/dagRuns``:
the form's Params validated, the run recorded as triggered by that user), rate-limited per user.

The limit (``GALLERY_REQUEST_RATE_LIMIT`` runs per ``GALLERY_REQUEST_RATE_WINDOW`` seconds, default 10
an hour) is counted in Airflow's metadata DB from the runs of ``image_request`` that user triggered,
so it holds across API server workers and restarts; past it the answer is 429 with a ``Retry-After``
and a message saying when the next request is possible. Needs the right to trigger ``image_request``.
The same limit holds for runs triggered any other way, in ``image_request``'s first task, with the
same message (:mod:`image_pipeline.core.request_limit`: why there, and what counts).

Counting and creating are one critical section, or two requests at the limit would both pass: a lock
within the process (the endpoint runs in a thread pool) and, across API server processes, the DAG's row
in ``dag`` locked ``FOR UPDATE`` until the new run is committed (SQLite, which has no row locks, is
only served by one process: ``airflow standalone``).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.api_fastapi.common.dagbag import create_dag_bag
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunResponse, TriggerDAGRunPostBody
from airflow.api_fastapi.core_api.routes.public.dag_run import trigger_dag_run
from airflow.models.dag import DagModel
from airflow.models.dagrun import DagRun
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from image_pipeline.core.request_limit import retry_after, too_many_requests
from image_pipeline.ui.auth import REQUEST_DAG, GetUserDep, can_request
from image_pipeline.ui.backends import backends
from image_pipeline.ui.schemas import READ, errors

router = APIRouter(prefix="/api", tags=["requests"])
_COUNT_AND_CREATE = threading.Lock()


class ImageRequest(BaseModel):
    conf: dict[str, Any] = Field(default_factory=dict, description="image_request's form: engine, keywords, "
                                 "count, recipe, email (and site_url or urls)")


def _dag_bag(request: Request) -> Any:
    """Airflow's API-server DagBag (serialized DAGs from the DB), one per app, as Airflow's own app keeps."""
    if getattr(request.app.state, "dag_bag", None) is None:
        request.app.state.dag_bag = create_dag_bag()
    return request.app.state.dag_bag


def _over_limit(session: Any, user: str, limit: int, window: int, now: datetime) -> int | None:
    """Seconds until ``user`` may trigger again, or None while under the limit."""
    recent = session.scalars(
        select(DagRun.run_after).where(DagRun.dag_id == REQUEST_DAG, DagRun.triggering_user_name == user,
                                       DagRun.run_after > now - timedelta(seconds=window))
        .order_by(DagRun.run_after.desc()).limit(limit)).all()
    return retry_after(recent, limit, window, now)


@router.post("/requests", dependencies=[Depends(can_request)], response_model=DAGRunResponse,
             summary="Start image_request for the logged-in user (rate-limited per user); needs the right to "
                     "trigger image_request",
             responses=errors(400, 404, 422, 429, *READ))
def request_images(body: ImageRequest, request: Request, user: GetUserDep, session: SessionDep) -> Any:
    cfg = backends(request).cfg
    limit, window = cfg.request_rate_limit, cfg.request_rate_window
    with _COUNT_AND_CREATE:
        session.execute(select(DagModel.dag_id).where(DagModel.dag_id == REQUEST_DAG).with_for_update())
        wait = _over_limit(session, user.get_name(), limit, window, datetime.now(timezone.utc))
        if wait is not None:
            session.rollback()  # the row lock
            raise HTTPException(429, too_many_requests(limit, window, wait), headers={"Retry-After": str(wait)})
        dag_run = trigger_dag_run(dag_id=REQUEST_DAG, body=TriggerDAGRunPostBody(conf=body.conf, logical_date=None),
                                  dag_bag=_dag_bag(request), user=user, session=session, request=request)
        session.commit()  # the next request counts this run
    return DAGRunResponse.model_validate(dag_run)
