"""Image bytes from the object store, and the React bundle's static files.

Objects are content-addressed, so each response is cacheable for good: ``ETag`` names the content
(the image's sha256; for an output also its recipe's fingerprint), ``Cache-Control: public,
max-age=31536000, immutable``, and ``If-None-Match`` answers 304. A local store's file is streamed
(``FileResponse``); on S3 the answer is a 307 to a presigned URL valid a few minutes. The sha256 and
the recipe come from the client and are checked against patterns and the catalog: the key served is
always the one the catalog records, never built from the request.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path as PathParam, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.convertors import register_url_convertor
from pydantic import BaseModel, Field

from image_pipeline.core import keys
from image_pipeline.core.errors import InvalidRequest, RecipeError
from image_pipeline.core.selection import MAX_IMAGES, Selection
from image_pipeline.core.storage import LocalStore
from image_pipeline.ui.backends import backends
from image_pipeline.ui.images import SHA256_PATTERN, SHA256_SEGMENT, PatternConvertor, Sha256, checked_sha256
from image_pipeline.ui.schemas import BACKEND, READ, Archive, errors
from image_pipeline.ui.views import output_version

RECIPE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
RECIPE = re.compile(RECIPE_PATTERN)
IMMUTABLE = "public, max-age=31536000, immutable"
PRESIGNED_SECONDS = 300
STATIC = Path(__file__).resolve().parent / "static"
TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "GIF": "image/gif",
         "BMP": "image/bmp", "TIFF": "image/tiff", "AVIF": "image/avif", "HEIF": "image/heif"}

STATIC_TYPES = {".js": "text/javascript", ".cjs": "text/javascript", ".mjs": "text/javascript",
                ".json": "application/json", ".svg": "image/svg+xml", ".css": "text/css", ".map": "application/json"}

ARCHIVE_PATTERN = r"^[0-9a-f]{64}\.zip$"
ARCHIVE = re.compile(ARCHIVE_PATTERN)
DOWNLOADABLE = sorted(set(TYPES.values())) + ["application/octet-stream"]  # what _content_type answers
STATIC_DOWNLOADABLE = sorted(set(STATIC_TYPES.values()) | {"image/png", "text/plain", "application/octet-stream"})


def _bytes(types: list[str], what: str, redirect: bool = True) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route answering bytes (no JSON): 200 in ``types``, 304 to an If-None-Match
    naming them, 307 to the store's presigned URL (S3), and the errors of a file looked up in the catalog."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    cache = {"ETag": {"description": "Names the content (the bytes never change under it)",
                      "schema": {"type": "string"}},
             "Cache-Control": {"description": "public, max-age=31536000, immutable", "schema": {"type": "string"}}}
    out: dict[int | str, dict[str, Any]] = {
        200: {"description": what, "content": {t: binary for t in types}, "headers": cache},
        304: {"description": "Not modified: the If-None-Match named this content", "headers": cache},
    }
    if redirect:
        out[307] = {"description": "On S3: the bytes at a presigned URL (valid a few minutes)",
                    "headers": {"Location": {"description": "The presigned URL", "schema": {"type": "string"}}}}
    return {**out, **errors(404, 422, *BACKEND)}


register_url_convertor("gallery_recipe", PatternConvertor(RECIPE_PATTERN.strip("^$")))
register_url_convertor("gallery_archive", PatternConvertor(ARCHIVE_PATTERN.strip("^$")))
Recipe = Annotated[str, PathParam(pattern=RECIPE_PATTERN, description="A recipe's name")]
ArchiveName = Annotated[str, PathParam(pattern=ARCHIVE_PATTERN, description="<content id>.zip, as POST /api/archives "
                                                                             "answers")]

router = APIRouter(prefix="/api/images", tags=["files"])
archive_router = APIRouter(prefix="/api/archives", tags=["files"])
static_router = APIRouter(tags=["static"])


def _content_type(key: str, fmt: str | None) -> str:
    """The image's type by its format, else by its key's extension if it is one of ours (what the schema
    documents), else bytes."""
    guessed = mimetypes.guess_type(key)[0]
    return TYPES.get((fmt or "").upper()) or (guessed if guessed in DOWNLOADABLE else "application/octet-stream")


def _serve(request: Request, key: str, etag: str, content_type: str) -> Response:
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    store = backends(request).store
    if isinstance(store, LocalStore):
        path = store.path(key)
        if not path.is_file():
            raise HTTPException(404, "no such file")
        return FileResponse(path, media_type=content_type, headers=headers)
    try:
        url = store.link(key, PRESIGNED_SECONDS)
    except KeyError:
        raise HTTPException(404, "no such file") from None
    # The redirect itself may be cached only while its presigned URL is valid.
    return RedirectResponse(url, status_code=307, headers={
        "ETag": etag, "Cache-Control": f"private, max-age={PRESIGNED_SECONDS // 2}",
        "X-Content-Type-Options": "nosniff"})


def _doc(request: Request, sha256: str) -> dict[str, Any]:
    doc = backends(request).catalog.get(checked_sha256(sha256))
    if doc is None:
        raise HTTPException(404, "no such image")
    return doc


def _output(request: Request, sha256: str, recipe: str) -> Response:
    if not RECIPE.match(recipe):
        raise HTTPException(404, "no such output")
    output = (_doc(request, sha256).get("outputs") or {}).get(recipe)
    if not output or not output.get("key"):
        raise HTTPException(404, "no such output")
    return _serve(request, output["key"], f'"{sha256}.{recipe}.{output_version(output)}"',
                  _content_type(output["key"], output.get("format")))


@router.get(SHA256_SEGMENT + "/raw", summary="The original image (a quarantined file too)",
            response_class=Response, responses=_bytes(DOWNLOADABLE, "The original's bytes"))
def raw(sha256: Sha256, request: Request) -> Response:
    doc = _doc(request, sha256)
    key = doc.get("raw_key") or (doc.get("quarantine") or {}).get("key")
    if not key:
        raise HTTPException(404, "no such file")
    return _serve(request, key, f'"{sha256}"', _content_type(key, doc.get("format")))


@router.get(SHA256_SEGMENT + "/outputs/{recipe:gallery_recipe}", summary="A recipe's output of the image",
            response_class=Response, responses=_bytes(DOWNLOADABLE, "The output's bytes"))
def output(sha256: Sha256, recipe: Recipe, request: Request) -> Response:
    return _output(request, sha256, recipe)


@router.get(SHA256_SEGMENT + "/thumb",
            summary="The gallery's thumbnail of the image (GALLERY_GALLERY_THUMB)",
            response_class=Response, responses=_bytes(DOWNLOADABLE, "The thumbnail's bytes"))
def thumb(sha256: Sha256, request: Request) -> Response:
    return _output(request, sha256, backends(request).cfg.processing.gallery_thumb)


class ArchiveRequest(BaseModel):
    sha256s: list[Annotated[str, Field(pattern=SHA256_PATTERN)]] = Field(
        min_length=1, max_length=MAX_IMAGES, description="The chosen images' sha256")
    recipe: str | None = Field(None, pattern=RECIPE_PATTERN,
                               description="Whose outputs; default: the first of GALLERY_RECIPES")


@archive_router.post("", summary="A ZIP of chosen images' outputs, built by the delivery code", response_model=Archive,
                     responses=errors(400, 404, 422, *BACKEND))
def build_archive(body: ArchiveRequest, request: Request) -> dict[str, Any]:
    """The same archive a delivery makes (manifest, README; content-addressed, so asking twice builds
    it once), for the images chosen in the gallery; answers where to download it."""
    from image_pipeline.deliver.archive import ensure_archive

    found = backends(request)
    selection = Selection(images=tuple(body.sha256s))  # well-formed: the body's pattern
    name = body.recipe or found.cfg.processing.recipe_names()[0]
    book = found.recipe_book()
    if name not in book.names():
        raise HTTPException(404, f"no such recipe: {name}")
    try:
        recipe = book.get(name)
    except (InvalidRequest, RecipeError) as exc:  # a recipe the book has but cannot parse: the recipe's fault
        raise HTTPException(422, str(exc)) from None
    archive = ensure_archive(found.store, found.catalog, selection, recipe)
    if archive is None:
        raise HTTPException(404, f"none of these images has a {recipe.name} output yet")
    name = archive.key.rsplit("/", 1)[-1]
    return {"url": request.url_for("archive", name=name).path, "name": f"gallery-{archive.images}-{recipe.name}.zip",
            "images": archive.images, "bytes": archive.bytes}


ARCHIVE_BYTES = _bytes(["application/zip"], "The ZIP archive (Content-Disposition: attachment)")


@archive_router.get("/{name:gallery_archive}", summary="A delivery's ZIP archive, by the name its content gives it",
                    response_class=Response, responses=ARCHIVE_BYTES)
def archive(name: ArchiveName, request: Request) -> Response:
    """Archives are content-addressed too (``archives/<content id>.zip``): the name is checked against
    that pattern and the key is the archive zone's, never a path from the request."""
    if not ARCHIVE.match(name):
        raise HTTPException(404, "no such archive")
    response = _serve(request, f"{keys.ARCHIVES}/{name}", f'"{name.removesuffix(".zip")}"', "application/zip")
    if response.status_code == 200:
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@static_router.get("/static/{path:path}", summary="The React bundle's files", response_class=Response,
                   responses={200: {"description": "The file", "content": {  # a JSON file's content is any JSON
                       t: {"schema": {} if t == "application/json" else {"type": "string", "format": "binary"}}
                       for t in STATIC_DOWNLOADABLE}},
                       **errors(404, *READ)})
def static(path: str) -> Response:
    target = (STATIC / path).resolve()
    if not target.is_relative_to(STATIC) or not target.is_file() or target.name.startswith("."):
        raise HTTPException(404, "no such file")
    # Served with nosniff, a script must say it is one: Python's mimetypes knows no .cjs/.mjs.
    guessed = mimetypes.guess_type(target.name)[0]
    media_type = STATIC_TYPES.get(target.suffix) or (guessed if guessed in STATIC_DOWNLOADABLE
                                                     else "application/octet-stream")
    return FileResponse(target, media_type=media_type,
                        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})
