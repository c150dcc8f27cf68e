"""The per-user limit on image requests: at most ``GALLERY_REQUEST_RATE_LIMIT`` runs of
``image_request`` per user every ``GALLERY_REQUEST_RATE_WINDOW`` seconds (default 10 an hour), its
arithmetic and its one message, read by the two places that refuse: the gallery's endpoint
(``ui/requests.py``: 429 with ``Retry-After``, no run created) and ``image_request``'s first task
(``airflow_adapter/tasks.py``: the run fails for good). Both refuse with :func:`too_many_requests`.

Where the limit holds, and why there
------------------------------------
A run of ``image_request`` is started by the gallery, by Airflow's REST API
(``POST /api/v2/dags/image_request/dagRuns``), by the trigger form (which calls that API), by the
CLI (``airflow dags trigger``, straight into the metadata DB) or by another DAG's
``TriggerDagRunOperator`` (Airflow's execution API). Airflow has nothing native that counts a
user's runs over time: ``max_active_runs`` bounds the runs at once, pools the tasks at once, and a
middleware on the API server would see the REST API only. What every path shares is the run's
first task, ``check_request``: it records the run and counts, before anything is fetched or stored.

Tasks in Airflow 3 cannot read the metadata DB (they speak to the execution API), so the task
cannot count as the gallery does: it counts in a *request ledger* in the project's catalog
(:meth:`~image_pipeline.core.catalog.roles.RequestLedger.admit_request`, both backends), one entry per
run, keyed by its run id, holding the triggering user, the run's time and the decision, recorded
and counted in one atomic step. The gallery keeps its own count in Airflow's DB because it answers
before any run exists; a run it lets through is recorded by ``check_request`` like any other.

What counts
-----------
- Every run of ``image_request`` counts, whatever became of it, refused ones included: the
  gallery counts every run in Airflow's DB the same way, so both tell one user the same thing.
- A run's time is when Airflow started it (``dag_run.start_date``), not its ``run_after``, which a
  REST caller may set: a ``run_after`` in the past would take the run out of any window.
- A run is refused when ``limit`` or more of its user's other runs are recorded less than a window
  before *or after* its own time. After: checks can run out of order (runs wait in the queue,
  ``max_active_runs``), and a run that started later but was checked first is counted too. So
  whatever the order, no window ever holds more than ``limit`` admitted runs: of any set of
  admitted runs less than a window apart, the last one checked saw all the others.
- The first decision stands: a retried or cleared ``check_request`` finds the run's entry and
  gives the same answer, without counting the run twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from image_pipeline.core.catalog.roles import RequestLedger
from image_pipeline.core.errors import InvalidRequest

# The user a run with no triggering user counts against (``airflow dags trigger`` where the OS user
# is unknown, a trigger from an unattended run): such runs are limited together, not left unlimited.
ANONYMOUS = "anonymous"


class TooManyRequests(InvalidRequest):
    """The request's fault: its user is past the limit. ``retry_after``: seconds until they are not."""

    def __init__(self, limit: int, window: int, retry_after: int):
        super().__init__(too_many_requests(limit, window, retry_after))
        self.retry_after = retry_after


def too_many_requests(limit: int, window: int, wait: int) -> str:
    """The refusal's words, the gallery's 429 and the refused run's alike."""
    return (f"Too many image requests: at most {limit} every {duration(window)} per user. "
            f"You can ask again in {duration(wait)}.")


def duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return "hour" if seconds == 3600 else f"{seconds // 3600} hours"
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def retry_after(times: Iterable[datetime], limit: int, window: int, now: datetime) -> int | None:
    """Seconds until a user whose requests were made at ``times`` is under the limit again (fewer
    than ``limit`` of them in the window ending then), or None while under it now. Naive times are UTC."""
    since = now - timedelta(seconds=window)
    recent = sorted((t for t in map(_aware, times) if t > since), reverse=True)[:limit]
    if len(recent) < limit:
        return None
    return max(1, int((recent[-1] + timedelta(seconds=window) - now).total_seconds()) + 1)


def admit(catalog: RequestLedger, run_id: str, user: str | None, at: datetime, limit: int, window: int,
          now: datetime | None = None) -> dict[str, Any]:
    """Record the run ``run_id`` of ``user`` (None: :data:`ANONYMOUS`), started at ``at``, in the
    catalog's request ledger and return its entry; raise :class:`TooManyRequests` when it is past
    the limit (now, or when first recorded: a retry gets the same answer)."""
    entry = catalog.admit_request(run_id, user or ANONYMOUS, at, limit, window)
    if not entry["admitted"]:
        now = now or datetime.now(timezone.utc)
        # The refused run itself counts (see the module's docstring): the wait includes it. A run
        # that waited in the queue past its window may find the user under the limit again: 1 s.
        wait = retry_after((datetime.fromisoformat(t) for t in entry["recent"]), limit, window, now) or 1
        raise TooManyRequests(limit, window, wait)
    return entry


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
