"""Uploads into the inbox zone: what the gallery's upload page sends.

Bounded before anything is kept: the request's ``Content-Length`` (required) may not exceed the
files per request (``GALLERY_UPLOAD_MAX_FILES``) times the bytes per file
(``GALLERY_UPLOAD_MAX_BYTES``), else 413; more files than allowed is a 400; a file over the byte
limit, or whose bytes are not an image (recognised by its header, as retrieval does), is refused on
its own with the reason while the others go on. Accepted files go under a new, sanitised key of the
``inbox/`` zone with a sidecar naming the Airflow user (the ingestion records it in the image's
provenance); then one event of the inbox's Asset is recorded for them
(:func:`.airflow_runs.record_inbox_event`), so ``gallery_inbox`` is scheduled at once rather than at
the watcher's next poll, and processing follows.
Each file's answer carries the sha256 of its bytes, the id its image will have in the catalog.

``GET /api/uploads/progress`` is what the upload page follows: each image's place (still in the
inbox, in the gallery waiting for processing, processed or quarantined, with its thumbnail) and the
runs the upload's event started, with their states (read from Airflow's metadata DB by
:func:`.airflow_runs.runs_started_by`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from image_pipeline.settings import GallerySettings
from image_pipeline.ui.auth import GetUserDep, can_upload
from image_pipeline.ui.backends import Backends, backends
from image_pipeline.ui.images import SHA256_PATTERN, BackendsDep, airflow_base, root
from image_pipeline.ui.schemas import BACKEND, UploadProgress, Uploads, errors

router = APIRouter(prefix="/api", tags=["uploads"])
MULTIPART_OVERHEAD = 64 * 1024  # per file: boundaries and part headers
# The multipart body the route reads itself (streamed into temporary files, bounded before it is read):
# described here. The limits are the settings' defaults (the document is the same on every install).
DEFAULT_MAX_FILES = GallerySettings.model_fields["upload_max_files"].default
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {"type": "object", "required": ["files"], "additionalProperties": False, "properties": {
        "files": {"type": "array", "minItems": 1, "maxItems": DEFAULT_MAX_FILES,
                  "items": {"type": "string", "format": "binary"},
                  "description": f"The images, at most GALLERY_UPLOAD_MAX_FILES ({DEFAULT_MAX_FILES} by default) of "
                                 "GALLERY_UPLOAD_MAX_BYTES each; a file that is not an image is refused on its own"}}},
    "encoding": {"files": {"contentType": "image/*, application/octet-stream"}}}}}}


def _store_one(b: Backends, upload: UploadFile, uploaded_by: str) -> tuple[dict[str, Any], str | None]:
    """The file's answer, and its inbox key when it was accepted."""
    from image_pipeline.core.errors import BadImage
    from image_pipeline.core.keys import sha256_bytes
    from image_pipeline.core.probe import inspect_image
    from image_pipeline.retrieve.inbox import upload_file

    name = upload.filename or ""
    answer: dict[str, Any] = {"name": name, "status": "refused", "reason": None, "sha256": None}
    limit = b.cfg.gallery.upload_max_bytes
    upload.file.seek(0)
    data = upload.file.read(limit + 1)
    if len(data) > limit:
        answer["reason"] = f"larger than the limit of {limit} bytes per file"
        return answer, None
    answer["sha256"] = sha256_bytes(data)
    try:
        info = inspect_image(data)
    except BadImage as exc:
        answer["reason"] = str(exc)
        return answer, None
    key = upload_file(b.store, name, data, uploaded_by=uploaded_by, content_type=f"image/{info.format.lower()}")
    return {**answer, "status": "accepted"}, key


@router.post("/uploads", dependencies=[Depends(can_upload)], response_model=Uploads, openapi_extra=UPLOAD_BODY,
             responses=errors(400, 411, 413, *BACKEND),
             summary="Upload images (multipart field `files`, several) into the inbox; "
                     "needs the right to trigger gallery_inbox")
async def upload(request: Request, user: GetUserDep) -> dict[str, Any]:
    b = backends(request)
    max_files, max_bytes = b.cfg.gallery.upload_max_files, b.cfg.gallery.upload_max_bytes
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HTTPException(411, "a Content-Length is required")
    if int(length) > max_files * (max_bytes + MULTIPART_OVERHEAD):
        raise HTTPException(413, f"too large: at most {max_files} files of {max_bytes} bytes each per request")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HTTPException(400, "send the files as multipart/form-data, in the field 'files'")
    # Starlette spools each part to a temporary file (in memory up to 1 MiB) and refuses more parts than allowed.
    async with request.form(max_files=max_files, max_fields=16, max_part_size=64 * 1024) as form:
        unknown = sorted(set(form) - {"files"})
        if unknown:
            raise HTTPException(400, f"unknown field(s) {', '.join(unknown)}: send the files alone, in 'files'")
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not files:
            raise HTTPException(400, "no files: send them in the multipart field 'files'")
        if len(files) > max_files:
            raise HTTPException(400, f"too many files: at most {max_files} per request")
        stored = [await run_in_threadpool(_store_one, b, f, user.get_name()) for f in files]
    answers, keys = [a for a, _ in stored], [k for _, k in stored if k]
    event = None
    if keys:  # one event for the request's files, once they are all in the inbox
        from image_pipeline.ui.airflow_runs import record_inbox_event

        extra = {"files": len(keys), "first": keys[0], "uploaded_by": user.get_name()}
        event = (await run_in_threadpool(record_inbox_event, user, extra)).as_dict()
    return {"files": answers, "accepted": len(keys), "refused": len(answers) - len(keys), "event": event}


MAX_FOLLOWED = 100  # images (and events) one progress request may ask about: a page's uploads
Sha256Item = Annotated[str, Field(pattern=SHA256_PATTERN)]
EventId = Annotated[int, Field(ge=1, le=2**31 - 1)]  # asset_event.id: an INTEGER column
DONE = ("processed", "quarantined")
RUN_ENDED = ("success", "failed")


@router.get("/uploads/progress", response_model=UploadProgress, responses=errors(422, *BACKEND),
            summary="Where uploaded images are (inbox, gallery, processed) and the runs their uploads' events started")
def upload_progress(
    request: Request, b: BackendsDep,
    sha256: Annotated[list[Sha256Item], Query(min_length=1, max_length=MAX_FOLLOWED,
                                              description="The uploaded files' sha256 (repeat)")],
    event: Annotated[list[EventId], Query(default_factory=list, max_length=MAX_FOLLOWED,
                                      description="The uploads' event ids (repeat): their runs are answered too")],
) -> dict[str, Any]:
    from image_pipeline.ui.airflow_runs import runs_started_by
    from image_pipeline.ui.views import run_ref, thumb_url

    base, thumb = root(request), b.cfg.processing.gallery_thumb
    images = []
    for sha in sha256:
        doc = b.catalog.get(sha)
        if doc is None:
            images.append({"sha256": sha, "status": "inbox", "thumb_url": None, "reason": None})
            continue
        status = doc.get("status") or "raw"
        reason = (doc.get("quarantine") or {}).get("reason") if status == "quarantined" else None
        images.append({"sha256": sha, "status": status, "thumb_url": thumb_url(base, doc, thumb), "reason": reason})
    runs = [{**run, **run_ref(run["run_id"], run["dag_id"], airflow_base())} for run in runs_started_by(event)]
    done = all(i["status"] in DONE for i in images) and all(r["state"] in RUN_ENDED for r in runs)
    return {"images": images, "runs": runs, "done": done}
