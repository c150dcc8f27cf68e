"""Recipes: named, versioned processing definitions in YAML.

A recipe is an ordered list of operations (see :mod:`image_pipeline.process.operations`) and an output
spec. The shipped ones live in ``config/recipes/``; users add their own there or in the folder
``GALLERY_RECIPES_DIR`` names, or pass a file to the CLI::

    name: web
    version: 1
    description: Longest side 1920 px, WebP
    operations:
      - auto_orient
      - resize: {longest: 1920}
    output: {format: webp, quality: 80}

Output keys: ``format`` (jpeg, png, webp, avif, heif), ``quality`` (1-100), ``progressive``
(JPEG), ``lossless`` (WebP), ``target_bytes`` (largest output; the quality is searched, lossy
formats only), ``min_quality`` (the search's floor), ``metadata`` (``strip`` or ``keep``: EXIF and
the colour profile), ``color_profile`` (``srgb``: convert to sRGB; ``keep``: leave as is),
``background`` (what transparency is laid on for formats without alpha).

Recipes saved from the gallery's editor live in the catalog (every worker reads it), as the same
mapping, checked by the same parser; saving a name again bumps its version (:func:`save_recipe`).
A :class:`RecipeBook` given the catalog's saved recipes serves both (a file wins a name clash).

Every output records the recipe's ``version`` and ``fingerprint`` (a hash of its operations and
output spec): processing redoes an image's output when either changed, so editing a recipe
reprocesses exactly what it affects.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

from image_pipeline.core.catalog.roles import SavedRecipes
from image_pipeline.core.errors import InvalidRequest
from image_pipeline.process.operations import OPERATIONS, RecipeError
from image_pipeline.process.operations.base import parse_colour
from image_pipeline.process.pictures import PictureRef, picture_ref
from image_pipeline.process.plan import gray_first, needed_scale
from image_pipeline.settings import config_dir

# format name -> (Pillow format, extension, content type, lossy, has alpha)
FORMATS = {
    "jpeg": ("JPEG", "jpg", "image/jpeg", True, False),
    "png": ("PNG", "png", "image/png", False, True),
    "webp": ("WEBP", "webp", "image/webp", True, True),
    "avif": ("AVIF", "avif", "image/avif", True, True),
    "heif": ("HEIF", "heic", "image/heic", True, True),
}

OUTPUT_DEFAULTS: dict[str, Any] = {
    "format": "jpeg", "quality": 85, "progressive": False, "lossless": False, "target_bytes": None,
    "min_quality": 30, "metadata": "strip", "color_profile": "srgb", "background": "#ffffff",
}


@dataclass(frozen=True)
class OutputSpec:
    format: str
    quality: int
    progressive: bool
    lossless: bool
    target_bytes: int | None
    min_quality: int
    metadata: str
    color_profile: str
    background: str

    @property
    def pil_format(self) -> str:
        return FORMATS[self.format][0]

    @property
    def ext(self) -> str:
        return FORMATS[self.format][1]

    @property
    def content_type(self) -> str:
        return FORMATS[self.format][2]

    @property
    def has_alpha(self) -> bool:
        return FORMATS[self.format][4]


@dataclass(frozen=True)
class Recipe:
    name: str
    version: int
    description: str
    steps: tuple[tuple[str, dict[str, Any]], ...]  # (operation, checked params)
    output: OutputSpec
    fingerprint: str

    @property
    def ext(self) -> str:
        return self.output.ext

    @property
    def content_type(self) -> str:
        return self.output.content_type

    def needed_scale(self, size: tuple[int, int], orientation: int) -> float:
        return needed_scale(list(self.steps), size, orientation)

    @property
    def gray_first(self) -> bool:
        return gray_first(list(self.steps))


def parse_recipe(spec: dict[str, Any], origin: str = "recipe", folders: Iterable[str | Path] = (), *,
                 check_pictures: bool = True) -> Recipe:
    """A checked :class:`Recipe` from its YAML mapping; :class:`RecipeError` says what is wrong.
    A picture parameter (an operation's ``files``) names a gallery image or a file under ``folders``
    (:mod:`image_pipeline.process.pictures`); with ``check_pictures`` each must resolve now, else it
    is resolved when an operation opens it (so a picture missing where a recipe is loaded fails
    that recipe's outputs, not the loading of every recipe)."""
    folders = tuple(folders)
    if not isinstance(spec, dict):
        raise RecipeError(f"{origin}: a recipe is a mapping")
    unknown = set(spec) - {"name", "version", "description", "operations", "output"}
    if unknown:
        raise RecipeError(f"{origin}: unknown key(s) {', '.join(sorted(unknown))}")
    name = spec.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise RecipeError(f"{origin}: name must be an identifier (letters, digits, _), got {name!r}")
    version = spec.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecipeError(f"{name}: version must be a positive integer")
    steps, as_written = [], []
    for entry in spec.get("operations") or []:
        if isinstance(entry, str):
            op, params = entry, {}
        elif isinstance(entry, dict) and len(entry) == 1:
            ((op, params),) = entry.items()
            params = params or {}
        else:
            raise RecipeError(f"{name}: each operation is a name or a one-key mapping, got {entry!r}")
        if op not in OPERATIONS:
            raise RecipeError(f"{name}: unknown operation {op!r}; known: {', '.join(sorted(OPERATIONS))}")
        if not isinstance(params, dict):
            raise RecipeError(f"{name}: {op}'s parameters must be a mapping")
        checked = OPERATIONS[op].check(params)
        as_written.append((op, checked))
        steps.append((op, {**checked, **{k: picture_ref(checked[k], folders, op, k, check=check_pictures)
                                         for k in OPERATIONS[op].files if checked[k] is not None}}))
    output = _parse_output(name, spec.get("output") or {})
    # As written (a picture's name, not where this machine keeps it): the same recipe, the same fingerprint.
    canonical = json.dumps({"steps": as_written, "output": output.__dict__}, sort_keys=True, default=str)
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()[:16]
    return Recipe(name, version, str(spec.get("description", "")), tuple(steps), output, fingerprint)


def _parse_output(name: str, raw: dict[str, Any]) -> OutputSpec:
    if not isinstance(raw, dict):
        raise RecipeError(f"{name}: output must be a mapping")
    unknown = set(raw) - set(OUTPUT_DEFAULTS)
    if unknown:
        raise RecipeError(f"{name}: unknown output key(s) {', '.join(sorted(unknown))}")
    out = {**OUTPUT_DEFAULTS, **raw}
    out["format"] = str(out["format"]).lower().replace("jpg", "jpeg").replace("heic", "heif")
    if out["format"] not in FORMATS:
        raise RecipeError(f"{name}: output format must be one of {', '.join(FORMATS)}")
    for key in ("quality", "min_quality"):
        if not isinstance(out[key], int) or not 1 <= out[key] <= 100:
            raise RecipeError(f"{name}: {key} must be an integer from 1 to 100")
    if out["target_bytes"] is not None:
        if not isinstance(out["target_bytes"], int) or out["target_bytes"] < 1:
            raise RecipeError(f"{name}: target_bytes must be a positive integer")
        if not FORMATS[out["format"]][3] or out["lossless"]:
            raise RecipeError(f"{name}: target_bytes needs a lossy format")
        if out["min_quality"] > out["quality"]:
            raise RecipeError(f"{name}: min_quality must not exceed quality")
    if out["metadata"] not in ("strip", "keep"):
        raise RecipeError(f"{name}: metadata is strip or keep")
    if out["color_profile"] not in ("srgb", "keep"):
        raise RecipeError(f"{name}: color_profile is srgb or keep")
    try:  # what transparency is laid on: found now, not on the first image with an alpha channel
        parse_colour(str(out["background"]), "RGB")
    except RecipeError as exc:
        raise RecipeError(f"{name}: background: {exc}") from None
    if out["format"] == "heif" and not heif_available():
        raise RecipeError(f"{name}: HEIF output needs pillow-heif")
    return OutputSpec(**out)


def heif_available() -> bool:
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True


def load_recipe_file(path: str | Path, folders: Iterable[str | Path] = (), *, check_pictures: bool = True) -> Recipe:
    """A recipe file, parsed; its pictures are found beside it first, then under ``folders``."""
    import yaml

    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RecipeError(f"{path}: cannot read recipe: {exc}") from None
    return parse_recipe(spec, str(path), (path.parent, *folders), check_pictures=check_pictures)


@lru_cache(maxsize=8)
def _load(files: tuple[tuple[Path, int], ...], folders: tuple[Path, ...]) -> dict[str, Recipe]:
    found: dict[str, Recipe] = {}
    for path, _ in files:
        recipe = load_recipe_file(path, folders, check_pictures=False)
        found[recipe.name] = recipe  # a user's recipe of the same name replaces the shipped one
    return found


class RecipeBook:
    """Every recipe of some folders (the shipped ones first, then the user's), by name, and the
    saved ones ``saved`` lists (the catalog's :meth:`~image_pipeline.core.catalog.roles.SavedRecipes.saved_recipes`,
    read on each call, so a recipe saved on one machine is used by every worker's next task). Files
    are parsed again only when one changed (the cache is keyed by modification times). Built by the
    composition root (:func:`image_pipeline.wiring.recipe_book`).

    The folders are also where recipes' pictures are found (a recipe file's own folder first). A
    picture is resolved when an operation opens it, on the machine that runs it: one missing fails
    that recipe's outputs, never the loading of the others."""

    def __init__(self, folders: Iterable[str | Path], saved: Callable[[], Iterable[dict[str, Any]]] | None = None):
        self.folders = [Path(f) for f in folders]
        self.saved = saved

    def files(self) -> tuple[tuple[Path, int], ...]:
        """Every recipe file with its modification time, in the order they override each other."""
        return tuple((path, path.stat().st_mtime_ns) for folder in self.folders
                     for path in sorted(folder.glob("*.y*ml")))

    def file_recipes(self) -> dict[str, Recipe]:
        return dict(_load(self.files(), tuple(self.folders)))

    def saved_recipes(self) -> dict[str, Recipe]:
        """The saved recipes, parsed (with their stored version) like a file."""
        return {doc["name"]: saved_recipe(doc, self.folders) for doc in (self.saved() if self.saved else ())}

    def all(self) -> dict[str, Recipe]:
        files = self.file_recipes()
        return {**{n: r for n, r in self.saved_recipes().items() if n not in files}, **files}

    def names(self) -> list[str]:
        return sorted(self.all())

    def get(self, name_or_path: str, *, allow_path: bool = False) -> Recipe:
        """A recipe by name; with ``allow_path`` (the command line, whose user owns the machine), also
        from a YAML file when given a path. Forms and the gallery's API name recipes only: a path
        from them would read a file of the server's."""
        recipes = self.all()
        if name_or_path in recipes:
            return recipes[name_or_path]
        if allow_path and name_or_path.endswith((".yaml", ".yml")) and Path(name_or_path).is_file():
            return load_recipe_file(name_or_path, self.folders)
        raise InvalidRequest(f"unknown recipe {name_or_path!r}; known: {', '.join(sorted(recipes))}")


def saved_recipe(doc: dict[str, Any], folders: Iterable[str | Path] = ()) -> Recipe:
    """A saved recipe (a catalog document) as a :class:`Recipe`, checked like a file; its pictures
    are found under ``folders`` (the recipes' folders of the machine that runs it) when used."""
    return parse_recipe({**doc["spec"], "name": doc["name"], "version": doc["version"]}, f"saved recipe {doc['name']}",
                        folders, check_pictures=False)


def recipe_spec(recipe: Recipe) -> dict[str, Any]:
    """A recipe as its YAML mapping (each operation a one-key mapping), parameters and output keys
    left at their defaults left out: parsing it again gives the same recipe (same fingerprint)."""
    from image_pipeline.process.operations import OPERATIONS

    operations: list[Any] = []
    for name, params in recipe.steps:
        defaults = {k: spec.default for k, spec in OPERATIONS[name].params.items()}
        changed = {k: str(v) if isinstance(v, PictureRef) else v  # a picture's name as written
                   for k, v in params.items() if v != defaults.get(k)}
        operations.append({name: changed})
    output = {k: v for k, v in recipe.output.__dict__.items() if v != OUTPUT_DEFAULTS[k]}
    spec: dict[str, Any] = {"name": recipe.name, "version": recipe.version}
    if recipe.description:
        spec["description"] = recipe.description
    return {**spec, "operations": operations, "output": output}


def recipe_yaml(spec: dict[str, Any]) -> str:
    """A recipe mapping as the YAML text a recipe file would hold."""
    import yaml

    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, allow_unicode=True)


def save_recipe(catalog: SavedRecipes, spec: dict[str, Any], saved_by: str, saved_at: str | None = None,
                folders: Iterable[str | Path] = ()) -> dict[str, Any]:
    """Check ``spec`` exactly as a recipe file is checked, each picture it names found now under
    ``folders`` (:class:`RecipeError` says what is wrong), then save it in the catalog, its version
    bumped; returns the stored document with ``spec`` holding the version."""
    from image_pipeline.core.catalog import utcnow_iso

    recipe = parse_recipe(spec, "recipe", folders)
    stored = catalog.save_recipe(recipe.name, {k: v for k, v in spec.items() if k != "version"}, saved_by,
                                 saved_at or utcnow_iso())
    return {**stored, "spec": {"name": recipe.name, "version": stored["version"],
                               **{k: v for k, v in stored["spec"].items() if k not in ("name", "version")}}}


def default_book() -> RecipeBook:
    """The shipped recipes (``config/recipes``): a caller with the user's folder too (``GALLERY_RECIPES_DIR``)
    passes the book :func:`image_pipeline.wiring.recipe_book` builds from the settings."""
    return RecipeBook([str(config_dir() / "recipes")])


def all_recipes() -> dict[str, Recipe]:
    """Every shipped recipe by name."""
    return default_book().all()


def get_recipe(name_or_path: str) -> Recipe:
    """A recipe by name, or from a YAML file when given a path (folder mode, the command line)."""
    return default_book().get(name_or_path, allow_path=True)
