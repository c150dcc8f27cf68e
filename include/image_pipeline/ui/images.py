"""The gallery's JSON routes: the listing, its facets, an image's detail, metrics and similar images.

An image is named in a path by its sha256, ``{sha256:gallery_sha256}`` (:class:`PatternConvertor`): a
path whose segment is not one matches no route (404), so ``/api/images/bulk`` is its own route for every
method (a GET of it is a 405 saying POST, not "no such image").
"""

from __future__ import annotations

import re
import threading
import time
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BeforeValidator
from starlette.convertors import Convertor, register_url_convertor

from image_pipeline.core.catalog import ImageFilters
from image_pipeline.core.errors import InvalidRequest
from image_pipeline.ui.backends import Backends, backends
from image_pipeline.ui.schemas import (BACKEND, DailyMetrics, Facets, ImageDetail, ImagePage, SimilarImages,
                                       errors)

SHA256_PATTERN = "^[0-9a-f]{64}$"
SHA256 = re.compile(SHA256_PATTERN)
router = APIRouter(prefix="/api", tags=["gallery"])
BackendsDep = Annotated[Backends, Depends(backends)]


class PatternConvertor(Convertor[str]):
    """A path segment matching ``regex``, else no route: a name that cannot be one is a 404 like a name that
    is not there (and ``/api/images/bulk`` never reads as an image)."""

    def __init__(self, regex: str):
        self.regex = regex

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("gallery_sha256", PatternConvertor(SHA256_PATTERN.strip("^$")))
SHA256_SEGMENT = "/{sha256:gallery_sha256}"  # the schema shows it as {sha256}
IMAGE = "/images" + SHA256_SEGMENT  # an image's path under /api
Sha256 = Annotated[str, Path(pattern=SHA256_PATTERN, description="The image's sha256 (64 lowercase hex digits)")]
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


_FULL_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _day(value: Any) -> Any:
    """RFC 3339's full-date (what ``format: date`` says), nothing looser (no Unix time, no week date)."""
    if isinstance(value, str) and not _FULL_DATE.fullmatch(value):
        raise ValueError("a date is YYYY-MM-DD")  # pydantic's protocol: a validator raises ValueError
    return value


def _when(value: Any) -> Any:
    """RFC 3339's full-date or date-time with its offset (``format: date`` or ``date-time``): a day as a
    date (a bound of whole days), a time as a datetime."""
    if isinstance(value, str):
        if _FULL_DATE.fullmatch(value):
            return date.fromisoformat(value)
        if _DATE_TIME.fullmatch(value):
            return datetime.fromisoformat(value.upper())
        raise ValueError("a date YYYY-MM-DD, or a time YYYY-MM-DDTHH:MM:SS with its offset (Z, +01:00)")
    return value


Day = Annotated[date, BeforeValidator(_day)]
When = Annotated[datetime | date, BeforeValidator(_when)]
_EARLIEST, _LATEST = datetime.min.replace(tzinfo=timezone.utc), datetime.max.replace(tzinfo=timezone.utc)


def utc_bound(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A listing's bound as an aware UTC time: a day is its start (``since``) or the next day's start
    (``until``: the day is included); a time without a zone is UTC. A bound past the calendar's edge
    (9999-12-31 included, a time of year 1 east of UTC) is clamped to it, which selects what it
    means: every record is retrieved between the two edges."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        if end and value == date.max:
            return _LATEST
        value = datetime.combine(value + timedelta(days=1) if end else value, datetime.min.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:  # astimezone's word for a UTC time outside years 1 to 9999: the calendar's edge
        return _LATEST if value.year == 9999 else _EARLIEST


def checked_sha256(sha256: str) -> str:
    """A sha256 from the client, or 404: it names a catalog record, never a path."""
    if not SHA256.match(sha256):
        raise HTTPException(404, "no such image")
    return sha256


@router.get("/images", summary="A page of the gallery, newest (or oldest) first", response_model=ImagePage,
            responses=errors(400, 422, *BACKEND))
def list_images(
    request: Request, b: BackendsDep,
    tag: Annotated[list[str], Query(default_factory=list, description="images carrying this tag (repeat: all of "
                                                                      "them)")],
    keyword: str | None = None, label: str | None = None, source: str | None = None,
    since: Annotated[When | None, Query(description="YYYY-MM-DD (from that day) or an RFC 3339 time "
                                                    "(retrieved at or after)")] = None,
    until: Annotated[When | None, Query(description="YYYY-MM-DD (that day included) or an RFC 3339 time "
                                                    "(before)")] = None,
    format: str | None = None, status: Literal["raw", "processed", "quarantined"] | None = None,
    has_faces: bool | None = None, duplicates: bool = False,
    trashed: bool = Query(False, description="true: only the trash (the default listing hides it)"),
    sort: Literal["newest", "oldest"] = "newest", limit: int = Query(60, ge=1, le=500),
    cursor: str | None = Query(None, description="next_cursor of the previous page (400 for one this API did not "
                                                 "give)"),
) -> dict[str, Any]:
    from image_pipeline.ui.views import summary

    try:
        filters = ImageFilters(keyword=keyword, label=label, source=source, since=utc_bound(since, end=False),
                               until=utc_bound(until, end=True), format=format, status=status, has_faces=has_faces,
                               duplicates=duplicates, tag=tuple(tag or ()) or None, trashed=trashed)
        items, next_cursor = b.catalog.list_images(filters, sort=sort, limit=limit, cursor=cursor)
        count = _count(b, filters)
    except InvalidRequest as exc:  # a cursor this API did not give: the request's fault
        raise HTTPException(400, str(exc)) from None
    base, thumb = root(request), b.cfg.processing.gallery_thumb
    return {"items": [summary(d, base, thumb) for d in items], "next_cursor": next_cursor, "count": count}


@router.get("/facets", summary="The values the gallery filters on, with their image counts", response_model=Facets,
            responses=errors(*BACKEND))
def facets(b: BackendsDep) -> dict[str, Any]:
    return b.catalog.facets()


@router.get(IMAGE, summary="An image's record: metadata, features, provenance, outputs", response_model=ImageDetail,
            responses=errors(404, 422, *BACKEND))
def image_detail(sha256: Sha256, request: Request, b: BackendsDep) -> dict[str, Any]:
    from image_pipeline.ui.views import detail

    doc = b.catalog.get(checked_sha256(sha256))
    if doc is None:
        raise HTTPException(404, "no such image")
    head = doc.get("duplicate_of") or sha256
    group, _ = b.catalog.list_images({"group": head}, sort="oldest", limit=24)
    others = [d for d in group if d["sha256"] != sha256]
    return detail(doc, root(request), airflow_base(), b.cfg.processing.gallery_thumb, others)


@router.get("/metrics", summary="The analytics' daily metrics documents, by day", response_model=list[DailyMetrics],
            responses=errors(422, *BACKEND))
def metrics(b: BackendsDep, since: Annotated[Day | None, Query(description="first day, YYYY-MM-DD")] = None,
            until: Annotated[Day | None, Query(description="last day, YYYY-MM-DD (included)")] = None,
            ) -> list[dict[str, Any]]:
    first, last = since and since.isoformat(), until and until.isoformat()
    return [m for m in b.catalog.metrics()
            if (first is None or m.get("day", "") >= first) and (last is None or m.get("day", "") <= last)]


# --- similar images -------------------------------------------------------------------------------

def similar_index(b: Backends):
    """The app's similar-images index (one per app and process; the catalog's own cache file)."""
    from image_pipeline.process.similar import SimilarIndex, index_for

    index = b.__dict__.get("similar")
    if index is None:
        cfg = b.cfg
        where = cfg.catalog
        catalog_id = f"sqlite:{where.sqlite_path}" if where.backend == "sqlite" else f"mongo:{where.mongo_db}"
        shared = index_for(catalog_id, cfg.models.similar_exact_max, cfg.models.similar_cache_dir)
        # Tests hand in their own catalog: a private index then, never the settings' cache file.
        index = shared if b._catalog_factory is None else SimilarIndex(cfg.models.similar_exact_max)
        b.__dict__["similar"] = index
    return index


def _similar_items(b: Backends, request: Request, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from image_pipeline.ui.views import summary

    items = []
    for hit in hits:
        doc = b.catalog.get(hit["sha256"])
        if doc is not None:
            items.append({**summary(doc, root(request), b.cfg.processing.gallery_thumb), "score": hit["score"]})
    return items


NEEDS_MODELS = ("similar images need onnxruntime (the embedding model's runtime) and faiss-cpu (the index), "
                "dependencies of image-pipeline that this installation lacks (a platform without their wheels, or "
                "a broken install): pip install image-pipeline")


def _similar_here() -> bool:
    """Whether this installation searches similar images: the embedding model (a picture's embedding)
    and faiss (the index, its saved copy), found without importing them (a platform may lack their wheels)."""
    from image_pipeline.process import models

    return models.available("embedding") and models.available("hnsw")


@router.get(IMAGE + "/similar", summary="The images most like this one (cosine of their embeddings); where this "
                                        "installation lacks onnxruntime or faiss-cpu, none and why "
                                        "(available: false)",
            response_model=SimilarImages, responses=errors(404, 422, *BACKEND))
def similar_images(sha256: Sha256, request: Request, b: BackendsDep,
                   k: int = Query(12, ge=1, le=100)) -> dict[str, Any]:
    doc = b.catalog.get(checked_sha256(sha256))
    if doc is None:
        raise HTTPException(404, "no such image")
    embedded = bool((doc.get("features") or {}).get("embedding"))
    if not _similar_here():
        return {"items": [], "available": False, "embedding": embedded, "reason": NEEDS_MODELS}
    from image_pipeline.process.similar import similar

    hits = similar(b.catalog, sha256, k, similar_index(b))
    if hits is None:
        return {"items": [], "available": True, "embedding": False,
                "reason": "the image has no embedding yet: it gets one when it is processed with the embedding model "
                          "installed"}
    return {"items": _similar_items(b, request, hits), "available": True, "embedding": True, "reason": None}


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
    if info.width * info.height > b.cfg.downloads.download_max_pixels:
        raise HTTPException(400, f"more than {b.cfg.downloads.download_max_pixels} pixels")
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
    return {"items": _similar_items(b, request, hits), "available": True, "embedding": True, "reason": None}


UPLOAD_OVERHEAD = 64 * 1024  # boundaries and part headers around the picture
# The multipart body the route reads itself (streamed, bounded before it is read): described here.
SIMILAR_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["file"], "additionalProperties": False,
               "properties": {"file": {"type": "string", "format": "binary",
                                       "description": "The picture (JPEG, PNG, WebP, ...), at most "
                                                      "GALLERY_UPLOAD_MAX_BYTES"}}},
    "encoding": {"file": {"contentType": "image/*, application/octet-stream"}}}}}}


@router.post("/similar", summary="The gallery's images most like an uploaded picture (multipart field `file`); "
                                 "where this installation lacks onnxruntime or faiss-cpu, none and why "
                                 "(available: false)",
             response_model=SimilarImages, openapi_extra=SIMILAR_BODY, responses=errors(400, 411, 413, 422, *BACKEND))
async def similar_to_file(request: Request, b: BackendsDep, k: int = Query(12, ge=1, le=100)) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool
    from starlette.datastructures import UploadFile

    limit = b.cfg.gallery.upload_max_bytes
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HTTPException(411, "a Content-Length is required")
    if int(length) > limit + UPLOAD_OVERHEAD:
        raise HTTPException(413, f"too large: at most {limit} bytes")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(400, "send the picture as multipart/form-data, in the field 'file'")
    async with request.form(max_files=1, max_fields=4, max_part_size=UPLOAD_OVERHEAD) as form:
        unknown = sorted(set(form) - {"file"})
        if unknown:
            raise HTTPException(400, f"unknown field(s) {', '.join(unknown)}: send the picture alone, in 'file'")
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(400, "send the picture as multipart/form-data, in the field 'file'")
        if not _similar_here():  # a well-formed request, whose picture nothing here could use: not read
            return {"items": [], "available": False, "embedding": False, "reason": NEEDS_MODELS}
        data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"too large: at most {limit} bytes")
    return await run_in_threadpool(_similar_to_file, b, request, data, k)
