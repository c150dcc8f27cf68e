"""The editor's routes: the operations registry, the live preview, and recipes checked and saved.

The preview runs the pipeline's own engine (:func:`image_pipeline.process.engine.preview_image`: the
decode and operations ``gallery_process`` runs) on a reduced decode, kept while the image is being
edited (:mod:`.previews`), in FastAPI's threadpool (plain ``def`` routes), so a slow chain never blocks
the API server's event loop. A viewer may preview and check; saving needs the right to trigger
``gallery_process`` (:data:`~.auth.can_write`).

The preview, the check and the save parse a recipe as a recipe file is parsed, its pictures found
by the one resolver (:mod:`image_pipeline.process.pictures`) under the recipes' folders, and each
gallery image it names looked up: a recipe naming a picture that is not there is refused with the
reason (422), and a path outside the folders gets the same words whether it exists or not. What is
the recipe's, the request's or the image's fault is a 422 with its message; nothing else is caught.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import OrderedDict
from functools import partial
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from image_pipeline.core.errors import BadImage, InvalidRequest, RecipeError
from image_pipeline.core.storage import LocalStore, ObjectNotFound
from image_pipeline.ui.auth import GetUserDep, can_write
from image_pipeline.ui.backends import Backends, backends
from image_pipeline.ui.images import IMAGE, BackendsDep, Sha256, checked_sha256
from image_pipeline.ui.previews import PreviewDecodes
from image_pipeline.ui.schemas import (BACKEND, READ, Operations, RecipeCheck, RecipeItem, SavedRecipe, errors)

router = APIRouter(prefix="/api", tags=["editor"])
SOURCE_CACHE = 8  # originals kept on local disk for previews, when the store is remote
PREVIEW_SECONDS = 20.0  # a chain slower than this on the reduced decode is refused (422)


class PreviewRequest(BaseModel):
    operations: list[Any] = Field(default_factory=list, max_length=50,
                                  description="The recipe YAML's operations: each a name or a one-key mapping "
                                              "{name: params}")
    max_side: int = Field(1024, ge=64, le=4096, description="The preview's longest side, at most")


class RecipeBody(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field("", max_length=500)
    operations: list[Any] = Field(default_factory=list, max_length=50)
    output: dict[str, Any] = Field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "operations": self.operations,
                "output": self.output}


class SavedRecipeBody(RecipeBody):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
                      description="An identifier (ASCII letters, digits, _): what the forms and the outputs' URLs take")


@router.get("/operations", summary="The operations a recipe can list, by family, with their parameters",
            response_model=Operations, responses=errors(*READ))
def operations() -> dict[str, Any]:
    from image_pipeline.process.operations.base import describe

    return describe()


class _Sources:
    """Originals downloaded from a remote store, the last few kept (the editor previews one image many times)."""

    def __init__(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="gallery-preview-")
        self.files: OrderedDict[str, Path] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, b: Backends, key: str) -> Path:
        with self.lock:
            if key in self.files:
                self.files.move_to_end(key)
                return self.files[key]
        target = Path(self.dir.name) / key.replace("/", "_")
        b.store.download(key, target)
        with self.lock:
            self.files[key] = target
            while len(self.files) > SOURCE_CACHE:
                _, old = self.files.popitem(last=False)
                old.unlink(missing_ok=True)
        return target


_SOURCES_LOCK = threading.Lock()


def _source(b: Backends, doc: dict[str, Any]) -> Path:
    key = doc.get("raw_key") or (doc.get("quarantine") or {}).get("key")
    if not key:
        raise HTTPException(404, "the image's original is not in the store")
    store = b.store
    if isinstance(store, LocalStore):
        return store.path(key)
    with _SOURCES_LOCK:
        sources = b.__dict__.get("preview_sources")
        if sources is None:
            sources = b.__dict__["preview_sources"] = _Sources()
    return sources.get(b, key)


def _decodes(b: Backends) -> PreviewDecodes:
    """The app's decodes for previews (one per Backends, as its originals' downloads)."""
    with _SOURCES_LOCK:
        decodes = b.__dict__.get("preview_decodes")
        if decodes is None:
            decodes = b.__dict__["preview_decodes"] = PreviewDecodes()
    return decodes


def _checked_recipe(b: Backends, spec: dict[str, Any], origin: str) -> Any:
    """``spec`` parsed with the recipes' folders, every picture it names found now: a file under the
    folders, or an image of the gallery. :class:`RecipeError` says what is wrong."""
    from image_pipeline.process.pictures import gallery_sha256, named_pictures
    from image_pipeline.process.recipes import parse_recipe

    recipe = parse_recipe(spec, origin, b.cfg.processing.recipe_folders())
    for operation, picture in named_pictures(recipe.steps):
        sha256 = gallery_sha256(picture)
        if sha256 is not None and b.catalog.get(sha256) is None:
            raise RecipeError(f"{operation} {picture.param}: no gallery image {sha256}")
    return recipe


PREVIEW_HEADERS = {
    "X-Preview-Ms": {"description": "Milliseconds the preview took", "schema": {"type": "string"}},
    "X-Preview-Size": {"description": "The preview's width x height", "schema": {"type": "string"}},
}


@router.post(IMAGE + "/preview", response_class=Response,
             responses={200: {"description": "The preview: JPEG, or PNG when it has transparency",
                              "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                                          "image/png": {"schema": {"type": "string", "format": "binary"}}},
                              "headers": PREVIEW_HEADERS},
                        **errors(400, 404, 422, *BACKEND)},
             summary="The image with a chain of operations applied by the pipeline's engine, reduced")
def preview(sha256: Sha256, body: PreviewRequest, request: Request) -> Response:
    from image_pipeline.process.batches import gallery_image
    from image_pipeline.process.engine import decode_for_preview, preview_image

    started = time.perf_counter()
    b = backends(request)
    doc = b.catalog.get(checked_sha256(sha256))
    if doc is None:
        raise HTTPException(404, "no such image")
    try:
        recipe = _checked_recipe(b, {"name": "preview", "operations": body.operations}, "preview")
    except RecipeError as exc:
        raise HTTPException(422, str(exc)) from None
    from dataclasses import replace

    from image_pipeline import wiring

    limits = wiring.limits(b.cfg)  # a preview holds a threadpool worker: a shorter time limit than a run's
    limits = replace(limits, time_limit=min(limits.time_limit, PREVIEW_SECONDS))
    try:  # the original decoded once while it is being edited (ui/previews.py)
        decoded = _decodes(b).get((doc["sha256"], body.max_side),
                                  lambda: decode_for_preview(_source(b, doc), body.max_side, limits=limits))
        result = preview_image(decoded, recipe, body.max_side, limits=limits,
                               gallery_image=partial(gallery_image, b.store, b.catalog))
    except (RecipeError, InvalidRequest, BadImage) as exc:
        raise HTTPException(422, str(exc)) from None
    except ObjectNotFound:
        raise HTTPException(404, "the image's original is not in the store") from None
    return Response(result.data, media_type=result.content_type, headers={
        "X-Preview-Ms": f"{(time.perf_counter() - started) * 1000:.0f}", "Cache-Control": "no-store",
        "X-Preview-Size": f"{result.width}x{result.height}"})


def _recipe_item(recipe: Any, origin: Literal["file", "saved"], b: Backends, saved: dict[str, Any] | None = None,
                 ) -> dict[str, Any]:
    from image_pipeline.process.recipes import recipe_spec, recipe_yaml

    spec = recipe_spec(recipe)
    return {"name": recipe.name, "description": recipe.description, "version": recipe.version,
            "gallery_thumb": recipe.name == b.cfg.processing.gallery_thumb, "origin": origin,
            "operations": spec["operations"], "output": spec["output"], "yaml": recipe_yaml(spec),
            "saved_by": (saved or {}).get("saved_by"), "saved_at": (saved or {}).get("saved_at")}


@router.get("/recipes", summary="The recipes (files and saved), with their versions, operations and YAML",
            response_model=list[RecipeItem], responses=errors(*BACKEND))
def recipes(b: BackendsDep) -> list[dict[str, Any]]:
    book = b.recipe_book()
    saved = {d["name"]: d for d in b.catalog.saved_recipes()}
    items = [_recipe_item(r, "saved" if name in saved else "file", b, saved.get(name))
             for name, r in book.all().items()]
    return sorted(items, key=lambda r: r["name"])


@router.post("/recipes/check", summary="Check a recipe as a file recipe is checked; its YAML and the errors",
             response_model=RecipeCheck, responses=errors(400, 422, *BACKEND))
def check_recipe(body: RecipeBody, b: BackendsDep) -> dict[str, Any]:
    from image_pipeline.process.recipes import recipe_yaml

    spec = body.spec()
    try:
        _checked_recipe(b, spec, "recipe")
        errors: list[str] = []
    except RecipeError as exc:
        errors = [str(exc)]
    return {"yaml": recipe_yaml({k: v for k, v in spec.items() if v or k == "operations"}), "errors": errors}


@router.post("/recipes", status_code=201, dependencies=[Depends(can_write)], response_model=SavedRecipe,
             responses=errors(400, 409, 422, *BACKEND),
             summary="Save a recipe in the catalog (every worker reads it); saving a saved name bumps its version")
def save_recipe(body: SavedRecipeBody, request: Request, user: GetUserDep) -> dict[str, Any]:
    from image_pipeline.process.recipes import recipe_yaml, save_recipe as save

    b = backends(request)
    spec = body.spec()
    try:
        _checked_recipe(b, spec, "recipe")
    except RecipeError as exc:
        raise HTTPException(422, str(exc)) from None
    if spec["name"] in b.file_recipe_book().all():
        raise HTTPException(409, f"{spec['name']} is a recipe file's name: choose another name")
    try:  # checked again as it is saved: a picture removed meanwhile is refused all the same
        stored = save(b.catalog, spec, user.get_name(), folders=b.cfg.processing.recipe_folders())
    except RecipeError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"name": stored["name"], "version": stored["version"], "yaml": recipe_yaml(stored["spec"])}
