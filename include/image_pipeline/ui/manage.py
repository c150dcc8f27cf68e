"""Managing images from the gallery: title, description and tags, the trash, in bulk too. Every change
is recorded on the image (who, what, when: its ``history``) by the catalog. Writing needs the right
to trigger ``gallery_process`` (:data:`~.auth.can_write`); a viewer gets a 403 that says so.

A trashed image is hidden from the gallery, skipped by processing and left out of later days'
analytics; the ``gallery_maintenance`` DAG purges it after ``GALLERY_TRASH_RETENTION_DAYS``.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from image_pipeline.core.errors import InvalidRequest
from image_pipeline.core.selection import MAX_IMAGES
from image_pipeline.ui.auth import GetUserDep, can_write
from image_pipeline.ui.backends import backends
from image_pipeline.ui.images import checked_sha256, forget_counts, image_detail

router = APIRouter(prefix="/api/images", tags=["manage"], dependencies=[Depends(can_write)])


class ImageChanges(BaseModel):
    model_config = {"extra": "forbid"}

    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=5000)
    tags: list[str] | None = Field(None, max_length=50)


class BulkRequest(BaseModel):
    sha256s: list[str] = Field(min_length=1, max_length=MAX_IMAGES)
    action: Literal["tag", "untag", "trash", "restore"]
    tags: list[str] = Field(default_factory=list, max_length=50)


@router.patch("/{sha256}", summary="Change an image's title, description or tags (recorded in its history)")
def edit(sha256: str, body: ImageChanges, request: Request, user: GetUserDep) -> dict[str, Any]:
    b = backends(request)
    try:
        doc = b.catalog.edit_image(checked_sha256(sha256), body.model_dump(exclude_unset=True), user.get_name())
    except InvalidRequest as exc:  # the request's fault: refused, nothing changed
        raise HTTPException(422, str(exc)) from None
    if doc is None:
        raise HTTPException(404, "no such image")
    forget_counts(b)
    return image_detail(sha256, request, b)


def _moved(sha256: str, request: Request, move: Callable[..., tuple[Any, Any]], by: str) -> dict[str, Any]:
    """Trash or restore one image with the catalog's ``move``; its detail afterwards (404 if unknown)."""
    b = backends(request)
    doc, _ = move(checked_sha256(sha256), by)
    if doc is None:
        raise HTTPException(404, "no such image")
    forget_counts(b)
    return image_detail(sha256, request, b)


@router.post("/{sha256}/trash", summary="Move an image to the trash (hidden; purged after the retention)")
def trash(sha256: str, request: Request, user: GetUserDep) -> dict[str, Any]:
    return _moved(sha256, request, backends(request).catalog.trash_image, user.get_name())


@router.post("/{sha256}/restore", summary="Take an image out of the trash")
def restore(sha256: str, request: Request, user: GetUserDep) -> dict[str, Any]:
    return _moved(sha256, request, backends(request).catalog.restore_image, user.get_name())


@router.post("/bulk", summary="Tag, untag, trash or restore several images; how many changed")
def bulk(body: BulkRequest, request: Request, user: GetUserDep) -> dict[str, int]:
    b = backends(request)
    catalog, by = b.catalog, user.get_name()
    sha256s = [checked_sha256(s) for s in dict.fromkeys(body.sha256s)]
    if body.action in ("tag", "untag"):
        if not body.tags:
            raise HTTPException(422, "give the tags to add or remove")
        try:
            changed = catalog.tag_images(sha256s, body.tags, by, remove=body.action == "untag")
        except InvalidRequest as exc:  # the request's fault: refused, nothing changed
            raise HTTPException(422, str(exc)) from None
    else:
        change = catalog.trash_image if body.action == "trash" else catalog.restore_image
        changed = sum(change(s, by)[1] for s in sha256s)
    forget_counts(b)
    return {"changed": changed}
