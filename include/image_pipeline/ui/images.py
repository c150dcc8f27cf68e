"""The gallery's JSON routes: the listing, its facets, an image's detail, metrics and recipes."""

from __future__ import annotations

import re
import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from image_pipeline.core.catalog import ImageFilters
from image_pipeline.ui.backends import Backends, backends

SHA256 = re.compile(r"^[0-9a-f]{64}$")
router = APIRouter(prefix="/api", tags=["gallery"])
BackendsDep = Annotated[Backends, Depends(backends)]
COUNT_SECONDS = 10.0  # a page's count is remembered this long: paging on through the cursor does not recount
_counts_lock = threading.Lock()


def _count(b: Backends, filters: ImageFilters) -> int:
    counts = b.__dict__.setdefault("counts", {})  # per app: {filters: (when, count)}
    key, now = repr(filters), time.monotonic()
    with _counts_lock:
        hit = counts.get(key)
    if hit is not None and now - hit[0] < COUNT_SECONDS:
        return hit[1]
    count = b.catalog.count_images(filters)
    with _counts_lock:
        if len(counts) > 1024:
            counts.clear()
        counts[key] = (now, count)
    return count


def forget_counts(b: Backends) -> None:
    """After a change that moves images in or out of a listing (tags, the trash): count again."""
    with _counts_lock:
        b.__dict__.get("counts", {}).clear()


def root(request: Request) -> str:
    """Where the app is mounted (``/gallery`` inside Airflow): the prefix of the URLs it gives out."""
    return request.scope.get("root_path", "").rstrip("/")


def airflow_base() -> str:
    """The path of Airflow's UI (``[api] base_url``'s path, usually empty): run pages live under it."""
    from urllib.parse import urlparse

    from airflow.configuration import conf

    return urlparse(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


def checked_sha256(sha256: str) -> str:
    """A sha256 from the client, or 404: it names a catalog record, never a path."""
    if not SHA256.match(sha256):
        raise HTTPException(404, "no such image")
    return sha256


@router.get("/images", summary="A page of the gallery, newest (or oldest) first")
def list_images(
    request: Request, b: BackendsDep,
    keyword: str | None = None, label: str | None = None, source: str | None = None,
    since: str | None = Query(None, description="YYYY-MM-DD or an ISO time (retrieved at or after)"),
    until: str | None = Query(None, description="YYYY-MM-DD (that day included) or an ISO time (before)"),
    format: str | None = None, status: Literal["raw", "processed", "quarantined"] | None = None,
    has_faces: bool | None = None, duplicates: bool = False,
    tag: Annotated[list[str] | None, Query(description="images carrying this tag (repeat: all of them)")] = None,
    trashed: bool = Query(False, description="true: only the trash (the default listing hides it)"),
    sort: Literal["newest", "oldest"] = "newest", limit: int = Query(60, ge=1, le=500),
    cursor: str | None = Query(None, description="next_cursor of the previous page"),
) -> dict[str, Any]:
    from image_pipeline.ui.views import summary

    try:
        filters = ImageFilters(keyword=keyword, label=label, source=source, since=since, until=until,
                               format=format, status=status, has_faces=has_faces, duplicates=duplicates,
                               tag=tuple(tag or ()) or None, trashed=trashed)
        items, next_cursor = b.catalog.list_images(filters, sort=sort, limit=limit, cursor=cursor)
        count = _count(b, filters)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    base, thumb = root(request), b.cfg.gallery_thumb
    return {"items": [summary(d, base, thumb) for d in items], "next_cursor": next_cursor, "count": count}


@router.get("/facets", summary="The values the gallery filters on, with their image counts")
def facets(b: BackendsDep) -> dict[str, Any]:
    return b.catalog.facets()


@router.get("/images/{sha256}", summary="An image's record: metadata, features, provenance, outputs")
def image_detail(sha256: str, request: Request, b: BackendsDep) -> dict[str, Any]:
    from image_pipeline.ui.views import detail

    doc = b.catalog.get(checked_sha256(sha256))
    if doc is None:
        raise HTTPException(404, "no such image")
    head = doc.get("duplicate_of") or sha256
    group, _ = b.catalog.list_images({"group": head}, sort="oldest", limit=24)
    others = [d for d in group if d["sha256"] != sha256]
    return detail(doc, root(request), airflow_base(), b.cfg.gallery_thumb, others)


@router.get("/metrics", summary="The analytics' daily metrics documents, by day")
def metrics(b: BackendsDep, since: str | None = Query(None, description="first day, YYYY-MM-DD"),
            until: str | None = Query(None, description="last day, YYYY-MM-DD (included)")) -> list[dict[str, Any]]:
    return [m for m in b.catalog.metrics()
            if (since is None or m.get("day", "") >= since) and (until is None or m.get("day", "") <= until)]
