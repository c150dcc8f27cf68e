"""What a failure records on an image (see :mod:`image_pipeline.core.errors`): its quarantine and its
unexpected attempts, as every backend writes them."""

from __future__ import annotations

from typing import Any

from image_pipeline.core.catalog.base import to_iso


def quarantine_entry(reason: str, stage: str, key: str, at: str, kind: str = "image", release: str | None = None,
                     run_id: str | None = None, attempts: int | None = None,
                     dag_id: str | None = None) -> dict[str, Any]:
    """A document's ``quarantine``: what every backend records."""
    entry: dict[str, Any] = {"reason": reason, "stage": stage, "key": key, "at": to_iso(at), "kind": kind}
    entry.update({k: v for k, v in (("release", release), ("run_id", run_id), ("dag_id", dag_id),
                                    ("attempts", attempts)) if v})
    return entry


def attempt_entry(reason: str, at: str, release: str | None, dag_id: str | None = None) -> dict[str, Any]:
    """The latest unexpected failure (``dag_id``: the DAG of the run it happened in)."""
    return {"reason": reason, "at": to_iso(at), **({"release": release} if release else {}),
            **({"dag_id": dag_id} if dag_id else {})}


def counted_attempt(current: dict[str, Any] | None, attempt: dict[str, Any], run_id: str | None) -> dict[str, Any]:
    """``current`` attempts with ``attempt`` counted, once per run (the latest reason kept)."""
    current = current or {"count": 0, "run_ids": []}
    if run_id is not None and run_id in current["run_ids"]:
        return {**current, **attempt}
    run_ids = current["run_ids"] + ([run_id] if run_id is not None else [])
    return {**current, **attempt, "count": current["count"] + 1, "run_ids": run_ids[-20:]}
