"""Managing images from the gallery: title, description and tags, the trash, in bulk too. Every change
is recorded on the image (who, what, when: its ``history``) by the catalog. Writing needs the right
to trigger ``gallery_process`` (:data:`~.auth.can_write`); a viewer gets a 403 that says so.

A trashed image is hidden from the gallery, skipped by processing and left out of later days'
analytics; the ``gallery_maintenance`` DAG purges it after ``GALLERY_TRASH_RETENTION_DAYS``.
"""

from __future__ import annotations

from typing import Annotated, Any, Callable, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Request
from pydantic import AfterValidator, BaseModel, Field

from image_pipeline.core.catalog.base import MAX_TAGS, clean_tags
from image_pipeline.core.errors import InvalidRequest
from image_pipeline.core.selection import MAX_IMAGES
from image_pipeline.ui.auth import GetUserDep, can_write
from image_pipeline.ui.backends import backends
from image_pipeline.ui.images import IMAGE, SHA256_PATTERN, Sha256, checked_sha256, forget_counts, image_detail
from image_pipeline.ui.schemas import BACKEND, BulkResult, ImageDetail, errors

router = APIRouter(prefix="/api", tags=["manage"], dependencies=[Depends(can_write)])


def _tag(value: str) -> str:
    """The catalog's rule (``clean_tags``: stripped, 1-50 printable characters), refused as pydantic refuses."""
    try:
        return clean_tags([value])[0]
    except InvalidRequest as exc:  # the tag's text refused: a validation error of the field (422)
        raise ValueError(str(exc)) from None  # pydantic's protocol: a validator raises ValueError


# JSON Schema cannot say "printable" (str.isprintable): the pattern says what it can (a character that is
# not blank, no control character) and the validator applies the catalog's rule itself.
Tag = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f]"
                                                               r"[^\x00-\x1f\x7f-\x9f]*$",
                           description="1 to 50 printable characters (spaces around are dropped)"),
               AfterValidator(_tag)]
Sha256Item = Annotated[str, Field(pattern=SHA256_PATTERN)]


class ImageChanges(BaseModel):
    model_config = {"extra": "forbid"}

    title: str | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=5000)
    tags: list[Tag] | None = Field(None, max_length=MAX_TAGS)


class BulkTags(BaseModel):
    sha256s: list[Sha256Item] = Field(min_length=1, max_length=MAX_IMAGES)
    action: Literal["tag", "untag"]
    tags: list[Tag] = Field(min_length=1, max_length=MAX_TAGS, description="The tags to add or remove")


class BulkMove(BaseModel):
    sha256s: list[Sha256Item] = Field(min_length=1, max_length=MAX_IMAGES)
    action: Literal["trash", "restore"]
    tags: list[Tag] = Field(default_factory=list, max_length=0, description="None (what the form sends: [])")


BulkRequest = Annotated[BulkTags | BulkMove, Field(discriminator="action")]


@router.patch(IMAGE, summary="Change an image's title, description or tags (recorded in its history)",
              response_model=ImageDetail, responses=errors(400, 404, 422, *BACKEND))
def edit(sha256: Sha256, body: ImageChanges, request: Request, user: GetUserDep) -> dict[str, Any]:
    b = backends(request)
    doc = b.catalog.edit_image(checked_sha256(sha256), body.model_dump(exclude_unset=True), user.get_name())
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


@router.post(IMAGE + "/trash", summary="Move an image to the trash (hidden; purged after the retention)",
             response_model=ImageDetail, responses=errors(404, 422, *BACKEND))
def trash(sha256: Sha256, request: Request, user: GetUserDep) -> dict[str, Any]:
    return _moved(sha256, request, backends(request).catalog.trash_image, user.get_name())


@router.post(IMAGE + "/restore", summary="Take an image out of the trash", response_model=ImageDetail,
             responses=errors(404, 422, *BACKEND))
def restore(sha256: Sha256, request: Request, user: GetUserDep) -> dict[str, Any]:
    return _moved(sha256, request, backends(request).catalog.restore_image, user.get_name())


@router.post("/images/bulk", summary="Tag, untag, trash or restore several images; how many changed",
             response_model=BulkResult, responses=errors(400, 409, 422, *BACKEND))
def bulk(body: Annotated[BulkRequest, Body()], request: Request, user: GetUserDep) -> dict[str, int]:
    b = backends(request)
    catalog, by = b.catalog, user.get_name()
    sha256s = list(dict.fromkeys(body.sha256s))
    if isinstance(body, BulkTags):
        try:
            changed = catalog.tag_images(sha256s, body.tags, by, remove=body.action == "untag")
        except InvalidRequest as exc:  # the tags are checked: what is left is an image's tags past MAX_TAGS
            raise HTTPException(409, str(exc)) from None
    else:
        change = catalog.trash_image if body.action == "trash" else catalog.restore_image
        changed = sum(change(s, by)[1] for s in sha256s)
    forget_counts(b)
    return {"changed": changed}
