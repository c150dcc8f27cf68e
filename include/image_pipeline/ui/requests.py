"""Image requests from the gallery: ``POST /api/requests`` starts ``image_request`` for the logged-in
user, with Airflow's own DAG-run creation (the same code as Airflow's ``POST /api/v2/dags/{id}/dagRuns``:
the form's Params validated, the run recorded as triggered by that user), rate-limited per user.

The limit (``GALLERY_REQUEST_RATE_LIMIT`` runs per ``GALLERY_REQUEST_RATE_WINDOW`` seconds, default 10
an hour) is counted in Airflow's metadata DB from the runs of ``image_request`` that user triggered,
so it holds across API server workers and restarts; past it the answer is 429 with a ``Retry-After``
and a message saying when the next request is possible. Needs the right to trigger ``image_request``.
The same limit holds for runs triggered any other way, in ``image_request``'s first task, with the
same message (:mod:`image_pipeline.core.request_limit`: why there, and what counts).

Counting and creating are one critical section, or two requests at the limit would both pass; that,
and every call into Airflow's internals it takes, is :mod:`.airflow_runs`'s.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from image_pipeline.core.request_limit import retry_after, too_many_requests
from image_pipeline.ui.airflow_runs import RunResponse, one_at_a_time
from image_pipeline.ui.auth import REQUEST_DAG, GetUserDep, can_request
from image_pipeline.ui.backends import backends
from image_pipeline.ui.schemas import READ, errors

router = APIRouter(prefix="/api", tags=["requests"])


class ImageRequest(BaseModel):
    conf: dict[str, Any] = Field(default_factory=dict, description="image_request's form: engine, keywords, "
                                 "count, recipe, email (and site_url or urls)")


@router.post("/requests", dependencies=[Depends(can_request)], response_model=RunResponse,
             summary="Start image_request for the logged-in user (rate-limited per user); needs the right to "
                     "trigger image_request",
             responses=errors(400, 404, 422, 429, *READ))
def request_images(body: ImageRequest, request: Request, user: GetUserDep) -> Any:
    cfg = backends(request).cfg
    limit, window = cfg.gallery.request_rate_limit, cfg.gallery.request_rate_window
    with one_at_a_time(REQUEST_DAG) as runs:
        now = datetime.now(timezone.utc)
        wait = retry_after(runs.times_by(user.get_name(), now - timedelta(seconds=window), limit), limit, window, now)
        if wait is not None:  # nothing created: the transaction, and its lock, end here
            raise HTTPException(429, too_many_requests(limit, window, wait), headers={"Retry-After": str(wait)})
        return runs.trigger(request, user, body.conf)  # committed as the block ends: the next request counts it
