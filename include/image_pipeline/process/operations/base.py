"""The registry of image operations a recipe can list, thumbor-style: the engine decodes and
encodes; each operation is a small function from image to image, registered under its name with
the parameters it accepts.

Operations run on whatever scale the engine decoded at (``ctx.scale``: decoded pixels per original
pixel). Parameters given in original pixels (a crop box, a blur radius) are scaled by it, so a
recipe means the same thing whatever the decode scale.

Each operation declares, where it is registered, what the decode's planning
(:mod:`image_pipeline.process.plan`) and the engine need to know of it: how it changes the image's
size (:class:`Geometry`: a ``resize`` tells how small the decode may be), what it does with colour
(:data:`COLOURS`: a luma-only decode serves a recipe that drops colour before anything needs it), and
whether transparency may be laid on the background before it (``alpha_neutral``). An operation that
declares nothing gets the cautious answers: a full-scale decode, in colour, transparency kept.

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


Size = tuple[int, int]


@dataclass(frozen=True)
class Geometry:
    """How an operation changes the image's size, for the decode's planning. Sizes are in source
    pixels (as at a full-scale decode): an operation is scale-aware (at decode scale ``s`` its output
    is ``s`` times its output at full scale), so what the planner finds on them holds at any scale."""

    kind: str  # "keeps", "reshapes", "resizes" or "unknown"
    rule: Callable[..., Any] | None = None


KEEPS_SIZE = Geometry("keeps")  # the output is the input's size (a filter, a colour change, a flip)
UNKNOWN_SIZE = Geometry("unknown")  # the planner cannot tell: a full-scale decode (what declaring nothing gives)


def reshapes(rule: Callable[[Size, dict[str, Any], int], Size]) -> Geometry:
    """The output's size is ``rule(size, params, orientation)`` (the source's EXIF orientation): a turn,
    a crop to a window its parameters give, an enlargement. The steps after it are planned on that size."""
    return Geometry("reshapes", rule)


def resizes(rule: Callable[[Size, dict[str, Any]], float]) -> Geometry:
    """It resamples to a size its parameters give: ``rule(size, params)`` is the fraction of its input's
    resolution it needs. The decode need not be larger, whatever the steps after it do."""
    return Geometry("resizes", rule)


# What an operation does with colour: "any" works on luma as on colour (a luma-only decode serves
# it), "needs" needs colour in, "makes" makes colour even from luma (sepia, a coloured mark), "drops"
# leaves luma only (grayscale).
COLOURS = ("any", "needs", "makes", "drops")

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
    colour: str = "needs"  # one of COLOURS; a luma-only decode serves it only when "any" (or "drops")
    family: str = "other"
    title: str = ""
    description: str = ""
    files: tuple[str, ...] = ()  # parameters naming a picture (:mod:`image_pipeline.process.pictures`)
    validate: Callable[[dict[str, Any]], None] | None = None  # checks across parameters, when the recipe is parsed
    geometry: Geometry = UNKNOWN_SIZE
    # Its result laid on a flat background is the same whether the background is laid before or after
    # it (geometry that does not look at the pixels, the luma): then the engine may lay transparency on
    # the background as it decodes. A bool, or a test of the step's parameters.
    alpha_neutral: bool | Callable[[dict[str, Any]], bool] = False

    def is_alpha_neutral(self, params: dict[str, Any]) -> bool:
        return self.alpha_neutral(params) if callable(self.alpha_neutral) else self.alpha_neutral

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
                    parse_colour(value, "RGBA")
                except RecipeError as exc:
                    raise RecipeError(f"{self.name}: {name}: {exc}") from None
            checked[name] = value
        if self.validate is not None:
            self.validate(checked)
        return checked

    def describe(self) -> dict[str, Any]:
        """What the editor shows of it (``GET /gallery/api/operations``)."""
        return {"name": self.name, "title": self.title, "description": self.description,
                "colour": self.colour == "needs",
                "params": [spec.describe(n) for n, spec in self.params.items()]}


OPERATIONS: dict[str, Operation] = {}
FAMILIES = {"geometry": "Geometry", "colour": "Colour and filters", "artistic": "Artistic", "learned": "Learned models",
            "watermark": "Watermark"}


def _first_paragraph(doc: str | None) -> str:
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def operation(name: str, *, geometry: Geometry = UNKNOWN_SIZE, colour: str = "needs",
              alpha_neutral: bool | Callable[[dict[str, Any]], bool] = False, title: str | None = None,
              description: str | None = None, files: tuple[str, ...] = (),
              validate: Callable[[dict[str, Any]], None] | None = None, **params: Any):
    """Register ``fn`` under ``name``; ``params`` are :func:`param` specs or ``(types, default)`` tuples.
    Its family is its module's name (geometry, colour, artistic, watermark, learned). ``geometry``,
    ``colour`` and ``alpha_neutral`` are its facts for the decode's planning (their defaults the
    cautious ones: see the module's docstring). ``files`` names the parameters that refer to a picture;
    ``validate`` checks across parameters when a recipe is parsed."""
    if colour not in COLOURS:
        raise ValueError(f"{name}: colour is one of {', '.join(COLOURS)}, not {colour!r}")
    if not isinstance(geometry, Geometry):
        raise TypeError(f"{name}: geometry is KEEPS_SIZE, UNKNOWN_SIZE, reshapes(rule) or resizes(rule)")
    specs = {k: v if isinstance(v, Param) else Param(*v) for k, v in params.items()}

    def register(fn: Callable[..., Image.Image]) -> Callable[..., Image.Image]:
        family = fn.__module__.rsplit(".", 1)[-1]
        OPERATIONS[name] = Operation(
            name, fn, specs, colour, family=family if family in FAMILIES else "other",
            title=title or name.replace("_", " ").capitalize(),
            description=description if description is not None else _first_paragraph(fn.__doc__),
            files=files, validate=validate, geometry=geometry, alpha_neutral=alpha_neutral)
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


def as_rgb(im: Image.Image) -> Image.Image:
    """RGB or RGBA: what colour operations work on."""
    if im.mode in ("RGB", "RGBA"):
        return im
    return im.convert("RGBA" if im.mode in ALPHA_MODES else "RGB")


def keep_alpha(im: Image.Image, fn: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply ``fn`` to the colour channels only; the alpha channel is carried over untouched."""
    if im.mode in ALPHA_MODES:
        alpha = im.getchannel("A")
        out = fn(im.convert("RGB" if im.mode != "LA" else "L"))
        out.putalpha(alpha)
        return out
    return fn(im)


def parse_colour(value: str, mode: str) -> Any:
    """A colour's value in ``mode``; a text that is no colour is the recipe's fault (:class:`RecipeError`)."""
    from PIL import ImageColor

    try:
        return ImageColor.getcolor(value, mode if mode in ("RGB", "RGBA", "L", "LA") else "RGB")
    except ValueError:  # Pillow's word for a colour it cannot parse: translated here, once
        raise RecipeError(f"{value!r} is not a colour (#rrggbb, or a name such as white)") from None
