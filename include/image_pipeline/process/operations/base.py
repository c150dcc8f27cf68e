"""The registry of image operations a recipe can list, thumbor-style: the engine decodes and
encodes; each operation is a small function from image to image, registered under its name with
the parameters it accepts.

Operations run on whatever scale the engine decoded at (``ctx.scale``: decoded pixels per original
pixel). Parameters given in original pixels (a crop box, a blur radius) are scaled by it, so a
recipe means the same thing whatever the decode scale. A ``resize`` tells the engine how small the
decode may be (:func:`needed_scale`).

Each operation also describes itself for the gallery's editor (:func:`describe`): its family (the
module that registers it), a title, a description (its docstring's first paragraph) and, per
parameter, a ``kind`` (number, integer, boolean, select, color, text, box) with the editor's bounds,
choices, title and description (:func:`param`). A ``select``'s choices are checked with the recipe;
``min``/``max`` are the editor's range (a recipe file may go past them: a wider blur is not wrong).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from PIL import Image

from image_pipeline.core.errors import RecipeError

ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass
class Context:
    """What an operation may know besides the pixels."""

    scale: float = 1.0  # decoded pixels per original pixel, across
    scale_y: float = 1.0  # ... and down (a reduced decode rounds each side on its own)
    orientation: int = 1  # EXIF orientation of the source (1 = upright)
    oriented: bool = False  # auto_orient has run
    # What operations record in the output's facts (``models``), e.g. the method or model a step used.
    facts: dict[str, Any] = field(default_factory=dict)
    # A gallery image's pixels by sha256 (``sha256:<hex>`` references); None outside the gallery.
    gallery_image: Callable[[str], Image.Image] | None = None


NUM = (int, float)
KINDS = ("number", "integer", "boolean", "select", "color", "text", "box")


@dataclass(frozen=True)
class Param:
    """One parameter of an operation: its Python types and default (what a recipe is checked
    against), and how the editor shows it."""

    types: type | tuple[type, ...]
    default: Any = None
    kind: str | None = None  # None: from the types (number, integer, boolean, text; box for a list)
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: tuple[Any, ...] | None = None
    title: str | None = None
    description: str = ""

    def __iter__(self):  # (types, default), as the registry's tuples were
        return iter((self.types, self.default))

    def resolved_kind(self) -> str:
        if self.kind is not None:
            return self.kind
        if self.choices is not None:
            return "select"
        types = self.types if isinstance(self.types, tuple) else (self.types,)
        if bool in types:
            return "boolean"
        if float in types:
            return "number"
        if int in types:
            return "integer"
        return "box" if list in types else "text"

    def describe(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"name": name, "kind": self.resolved_kind(), "default": self.default,
                               "title": self.title or name.replace("_", " ").capitalize(),
                               "description": self.description, "required": False,
                               "nullable": self.default is None}
        for key in ("min", "max", "step"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out


def param(types: type | tuple[type, ...], default: Any = None, **meta: Any) -> Param:
    """A parameter with the editor's metadata: ``kind``, ``min``, ``max``, ``step``, ``choices``,
    ``title``, ``description``."""
    if meta.get("kind") is not None and meta["kind"] not in KINDS:
        raise ValueError(f"unknown parameter kind {meta['kind']!r}")
    if "choices" in meta:
        meta["choices"] = tuple(meta["choices"])
    return Param(types, default, **meta)


@dataclass(frozen=True)
class Operation:
    name: str
    apply: Callable[..., Image.Image]  # (image, ctx, **params) -> image
    params: dict[str, Param] = field(default_factory=dict)
    colour: bool = False  # needs colour input (a grayscale-only decode cannot serve it)
    family: str = "other"
    title: str = ""
    description: str = ""
    files: tuple[str, ...] = ()  # parameters naming a picture (:mod:`image_pipeline.process.pictures`)
    validate: Callable[[dict[str, Any]], None] | None = None  # checks across parameters, when the recipe is parsed

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = set(params) - set(self.params)
        if unknown:
            raise RecipeError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        checked = {}
        for name, spec in self.params.items():
            types, default = spec
            value = params.get(name, default)
            if value is not None and not isinstance(value, types) or isinstance(value, bool) and bool not in (
                    types if isinstance(types, tuple) else (types,)):
                raise RecipeError(f"{self.name}: parameter {name} has the wrong type ({value!r})")
            if value is not None and spec.choices is not None and value not in spec.choices:
                raise RecipeError(f"{self.name}: {name} is one of {', '.join(map(str, spec.choices))}, got {value!r}")
            if value is not None and spec.resolved_kind() == "color":
                try:  # found when the recipe is parsed, not on the first image it runs on
                    _colour(value, "RGBA")
                except RecipeError as exc:
                    raise RecipeError(f"{self.name}: {name}: {exc}") from None
            checked[name] = value
        if self.validate is not None:
            self.validate(checked)
        return checked

    def describe(self) -> dict[str, Any]:
        """What the editor shows of it (``GET /gallery/api/operations``)."""
        return {"name": self.name, "title": self.title, "description": self.description, "colour": self.colour,
                "params": [spec.describe(n) for n, spec in self.params.items()]}


OPERATIONS: dict[str, Operation] = {}
FAMILIES = {"geometry": "Geometry", "colour": "Colour and filters", "artistic": "Artistic", "learned": "Learned models",
            "watermark": "Watermark"}


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def operation(name: str, colour: bool = False, *, title: str | None = None, description: str | None = None,
              files: tuple[str, ...] = (), validate: Callable[[dict[str, Any]], None] | None = None,
              **params: Any):
    """Register ``fn`` under ``name``; ``params`` are :func:`param` specs or ``(types, default)`` tuples.
    Its family is its module's name (geometry, colour, artistic, watermark, learned). ``files`` names the
    parameters that refer to a picture; ``validate`` checks across parameters when a recipe is parsed."""
    specs = {k: v if isinstance(v, Param) else Param(*v) for k, v in params.items()}

    def register(fn: Callable[..., Image.Image]) -> Callable[..., Image.Image]:
        family = fn.__module__.rsplit(".", 1)[-1]
        OPERATIONS[name] = Operation(
            name, fn, specs, colour, family=family if family in FAMILIES else "other",
            title=title or name.replace("_", " ").capitalize(),
            description=description if description is not None else _first_paragraph(fn.__doc__),
            files=files, validate=validate)
        return fn
    return register


def describe() -> dict[str, Any]:
    """The registry by family, in the families' order, each family's operations by name."""
    families = []
    for family, family_title in FAMILIES.items():
        ops = [OPERATIONS[n].describe() for n in sorted(OPERATIONS) if OPERATIONS[n].family == family]
        if ops:
            families.append({"name": family, "title": family_title, "operations": ops})
    return {"families": families}


def _rgb(im: Image.Image) -> Image.Image:
    """RGB or RGBA: what colour operations work on."""
    if im.mode in ("RGB", "RGBA"):
        return im
    return im.convert("RGBA" if im.mode in ALPHA_MODES else "RGB")


def _keep_alpha(im: Image.Image, fn: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply ``fn`` to the colour channels only; the alpha channel is carried over untouched."""
    if im.mode in ALPHA_MODES:
        alpha = im.getchannel("A")
        out = fn(im.convert("RGB" if im.mode != "LA" else "L"))
        out.putalpha(alpha)
        return out
    return fn(im)


def _colour(value: str, mode: str) -> Any:
    """A colour's value in ``mode``; a text that is no colour is the recipe's fault (:class:`RecipeError`)."""
    from PIL import ImageColor

    try:
        return ImageColor.getcolor(value, mode if mode in ("RGB", "RGBA", "L", "LA") else "RGB")
    except ValueError:  # Pillow's word for a colour it cannot parse: translated here, once
        raise RecipeError(f"{value!r} is not a colour (#rrggbb, or a name such as white)") from None
