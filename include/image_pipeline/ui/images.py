"""The gallery's JSON routes: the listing, its facets, an image's detail, metrics and recipes."""

from __future__ import annotations

import re
import threading
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from image_pipeline.core.catalog import ImageFilters
from image_pipeline.core.errors import InvalidRequest
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
    except InvalidRequest as exc:  # a filter, sort, limit or cursor refused: the request's fault
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


# --- similar images -------------------------------------------------------------------------------

def similar_index(b: Backends):
    """The app's similar-images index (one per app and process; the catalog's own cache file)."""
    from image_pipeline.process.similar import SimilarIndex, index_for

    index = b.__dict__.get("similar")
    if index is None:
        cfg = b.cfg
        catalog_id = f"sqlite:{cfg.sqlite_path}" if cfg.catalog == "sqlite" else f"mongo:{cfg.mongo_db}"
        shared = index_for(catalog_id, cfg.similar_exact_max, cfg.similar_cache_dir)
        # Tests hand in their own catalog: a private index then, never the settings' cache file.
        index = shared if b._catalog_factory is None else SimilarIndex(cfg.similar_exact_max)
        b.__dict__["similar"] = index
    return index


def _similar_items(b: Backends, request: Request, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from image_pipeline.ui.views import summary

    items = []
    for hit in hits:
        doc = b.catalog.get(hit["sha256"])
        if doc is not None:
            items.append({**summary(doc, root(request), b.cfg.gallery_thumb), "score": hit["score"]})
    return items


@router.get("/images/{sha256}/similar", summary="The images most like this one (cosine of their embeddings)")
def similar_images(sha256: str, request: Request, b: BackendsDep,
                   k: int = Query(12, ge=1, le=100)) -> dict[str, Any]:
    from image_pipeline.process.similar import similar

    if b.catalog.get(checked_sha256(sha256)) is None:
        raise HTTPException(404, "no such image")
    hits = similar(b.catalog, sha256, k, similar_index(b))
    if hits is None:  # not processed yet, or processed without the extra ml
        return {"items": [], "embedding": False}
    return {"items": _similar_items(b, request, hits), "embedding": True}


def _picture(b: Backends, data: bytes):
    """An uploaded picture's pixels, refused (400) unless it is an image within the processing limits."""
    import io

    from PIL import Image

    from image_pipeline.core.errors import BadImage
    from image_pipeline.core.probe import inspect_image

    try:
        info = inspect_image(data)
    except BadImage as exc:
        raise HTTPException(400, str(exc)) from None
    if info.width * info.height > b.cfg.download_max_pixels:
        raise HTTPException(400, f"more than {b.cfg.download_max_pixels} pixels")
    from image_pipeline.process.decode import DECODE_ERRORS

    im = Image.open(io.BytesIO(data))
    im.draft("RGB", (512, 512))  # a JPEG decodes at the smallest DCT scale still over the model's input
    try:
        return im.convert("RGB")
    except DECODE_ERRORS as exc:  # a header that reads over pixels that do not (a truncated file): the upload's fault
        raise HTTPException(400, f"cannot decode the picture: {exc}") from None


def _similar_to_file(b: Backends, request: Request, data: bytes, k: int) -> dict[str, Any]:
    from image_pipeline.process.similar import similar_to_picture

    hits = similar_to_picture(b.catalog, _picture(b, data), k, similar_index(b))
    return {"items": _similar_items(b, request, hits)}


@router.post("/similar", summary="The gallery's images most like an uploaded picture (multipart field `file`); "
                                 "needs the extra ml")
async def similar_to_file(request: Request, b: BackendsDep, k: int = Query(12, ge=1, le=100)) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile

    from image_pipeline.process import models

    if not models.available("embedding"):
        raise HTTPException(503, "finding similar pictures needs the extra 'ml' (the embedding model)")
    limit = b.cfg.upload_max_bytes
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HTTPException(411, "a Content-Length is required")
    if int(length) > limit + 64 * 1024:
        raise HTTPException(413, f"too large: at most {limit} bytes")
    async with request.form(max_files=1, max_fields=4, max_part_size=64 * 1024) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(400, "send the picture as multipart/form-data, in the field 'file'")
        data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"too large: at most {limit} bytes")
    return await run_in_threadpool(_similar_to_file, b, request, data, k)
