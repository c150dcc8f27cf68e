"""Uploads into the inbox zone: what the gallery's upload page sends.

Bounded before anything is kept: the request's ``Content-Length`` (required) may not exceed the
files per request (``GALLERY_UPLOAD_MAX_FILES``) times the bytes per file
(``GALLERY_UPLOAD_MAX_BYTES``), else 413; more files than allowed is a 400; a file over the byte
limit, or whose bytes are not an image (recognised by its header, as retrieval does), is refused on
its own with the reason while the others go on. Accepted files go under a new, sanitised key of the
``inbox/`` zone with a sidecar naming the Airflow user (the ingestion records it in the image's
provenance); the inbox's AssetWatcher then starts ``gallery_inbox`` and processing follows. Each
file's answer carries the sha256 of its bytes, the id its image will have in the catalog.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from image_pipeline.settings import GallerySettings
from image_pipeline.ui.auth import GetUserDep, can_upload
from image_pipeline.ui.backends import Backends, backends
from image_pipeline.ui.schemas import BACKEND, Uploads, errors

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


def _store_one(b: Backends, upload: UploadFile, uploaded_by: str) -> dict[str, Any]:
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
        return answer
    answer["sha256"] = sha256_bytes(data)
    try:
        info = inspect_image(data)
    except BadImage as exc:
        answer["reason"] = str(exc)
        return answer
    upload_file(b.store, name, data, uploaded_by=uploaded_by, content_type=f"image/{info.format.lower()}")
    return {**answer, "status": "accepted"}


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
        answers = [await run_in_threadpool(_store_one, b, f, user.get_name()) for f in files]
    return {"files": answers, "accepted": sum(a["status"] == "accepted" for a in answers),
            "refused": sum(a["status"] == "refused" for a in answers)}
