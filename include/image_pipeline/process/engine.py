"""The image engine: one decode, every recipe's output.

For each image the engine

1. reads the header only and refuses what breaks the limits (pixels, frames) before decoding;
2. decodes once, by the fastest decoder for the format, at the smallest scale every selected recipe
   (and the features) allow: JPEGs through libjpeg's DCT scaling (``Image.draft``: 1/2, 1/4 or 1/8
   of the pixels are ever produced, and only luma when every recipe starts by going gray and no
   feature needs colour; OpenCV's libjpeg-turbo then), PNG through libspng, WebP through OpenCV,
   then an integer box ``reduce`` right after the decode; odd modes (CMYK, 16-bit, palette with
   transparency, colour-keyed) are normalised to L, LA, RGB or RGBA; multi-frame files give their
   first frame;
3. runs each recipe's operations on that decode, timing each one, and encodes its output (with a
   quality search when the recipe sets a byte target), checking the per-image time limit between
   steps.

Failures are classified here (:mod:`image_pipeline.core.errors`): what the decode or the limits refuse
raises :class:`BadImage` (the image's fault, for the caller to quarantine); a :class:`RecipeError` of a
recipe's steps fails that recipe's output only (``ImageResult.failures``) and the other recipes go on;
anything else (the environment's fault, a bug) propagates for the caller to classify.

Nothing here holds more than one image's pixels: callers stream files through it. The decode is
:mod:`.decode`, the encode :mod:`.encode`, the decode's scale :mod:`.plan` (through the recipes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from PIL import Image

from image_pipeline.core.errors import BadImage, RecipeError, is_environmental
from image_pipeline.process.decode import DECODE_ERRORS, SourceImage, box_reduce, open_source, to_srgb
from image_pipeline.process.encode import encode, encode_to_target, output_metadata
from image_pipeline.process.features import FEATURE_SIDE  # features need no more than this a side
from image_pipeline.process.limits import Deadline, Limits
from image_pipeline.process.operations import ALPHA_MODES, OPERATIONS, Context, parse_colour
from image_pipeline.process.recipes import OutputSpec, Recipe


@dataclass
class ImageResult:
    source: dict[str, Any]  # format, mode, width, height, frames of the original
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # recipe -> facts (and "path")
    # recipe -> {"reason", "operation"}: outputs that failed by the recipe's fault (RecipeError)
    failures: dict[str, dict[str, Any]] = field(default_factory=dict)
    features: dict[str, Any] | None = None
    seconds: float = 0.0


def process_image(
    src: str | Path, recipes: Iterable[Recipe], dest: Callable[[Recipe], Path], *,
    limits: Limits = Limits(), features: Callable[[Image.Image, Image.Exif], dict[str, Any]] | None = None,
    gallery_image: Callable[[str], Image.Image] | None = None,
) -> ImageResult:
    """Decode ``src`` once and write every recipe's output to ``dest(recipe)``.

    ``features``, when given, is called once with the source's EXIF and the decode, shrunk to its
    own small size (:func:`feature_input`: at least ``FEATURE_SIDE`` pixels a side, in colour and
    sRGB), so that features cost their own work and not a slower decode of every recipe.
    ``gallery_image`` gives a gallery image's pixels by sha256 (recipes may name one, e.g. as a style
    picture).
    Raises :class:`BadImage` (the quarantine reason) for an image that cannot be processed; a
    recipe whose steps raise :class:`RecipeError` lands in ``failures`` instead of ``outputs``.
    """
    started = time.perf_counter()
    deadline = Deadline(limits.time_limit)
    recipes = list(recipes)
    with open_source(src) as source:  # closed only at the end: closing it frees the pixels decoded into it
        return _process(source, recipes, dest, limits, features, started, deadline, gallery_image)


PREVIEW_SLACK = 0.75  # a preview may come out this much smaller than its max_side (a cheaper decode)


@dataclass
class _Decoded:
    source: dict[str, Any]
    exif: Image.Exif
    orientation: int
    icc: bytes | None
    base: Image.Image
    seconds: float
    colour: Image.Image  # the decode before any luma-only conversion: what features read
    srgb: Image.Image | None = None

    def for_spec(self, spec: OutputSpec) -> Image.Image:
        """The decode, in sRGB unless the output keeps the source's profile (converted once, shared)."""
        if spec.color_profile == "keep" or not self.icc:
            return self.base
        if self.srgb is None:
            self.srgb = to_srgb(self.base, self.icc)
        return self.srgb

    def context(self, gallery_image: Callable[[str], Image.Image] | None = None) -> Context:
        return Context(scale=self.base.width / self.source["width"], scale_y=self.base.height / self.source["height"],
                       orientation=self.orientation, gallery_image=gallery_image)


def _decode_once(source: SourceImage, recipes: list[Recipe], limits: Limits, features: bool,
                 max_side: int | None = None) -> _Decoded:
    """Header checks, then the one decode at the smallest scale the recipes (and features) allow;
    ``max_side`` caps it further (the editor's preview: at most that many pixels a side)."""
    try:
        facts = source.check(limits)
        exif = source.exif()
        orientation = exif.get(0x0112, 1)
        orientation = orientation if isinstance(orientation, int) else 1
        icc = source.icc  # applied per recipe
        size = source.size
        scale = max([r.needed_scale(size, orientation) for r in recipes]
                    + ([min(1.0, FEATURE_SIDE / max(size))] if features else []), default=1.0)
        if max_side is not None:  # a preview: the DCT scale just under max_side beats a larger decode shrunk
            scale = min(scale, PREVIEW_SLACK * max_side / max(size))
        gray_recipes = bool(recipes) and all(r.gray_first for r in recipes)
        # Luma-only decoding when nothing needs colour; features do (dominant colours, labels): then
        # one colour decode serves both, its luma taken once below (with libjpeg-turbo a luma-only
        # decode saves little: entropy decoding, which every scale and mode pays, dominates).
        gray = gray_recipes and not features
        t0 = time.perf_counter()
        background = _early_background(recipes, features)
        base = source.decode(scale, gray, background)
        if max_side is not None and max(base.size) > max_side:
            from image_pipeline.process.operations.geometry import shrink

            f = max_side / max(base.size)
            base = shrink(base, (max(1, round(base.width * f)), max(1, round(base.height * f))),
                          Image.Resampling.BILINEAR)
        colour = base
        if gray_recipes and base.mode not in ("L", "LA"):  # after the reduce: fewer pixels to convert
            base = base.convert("LA" if base.mode in ALPHA_MODES else "L")
        return _Decoded(facts, exif, orientation, icc, base, time.perf_counter() - t0, colour)
    except BadImage:
        raise
    except DECODE_ERRORS as exc:  # Pillow's words for a malformed file: the image's fault, unless the machine's
        if is_environmental(exc):
            raise
        raise BadImage(f"cannot decode image: {exc}") from None


class StepFailed(RecipeError):
    """A recipe's step refused to run (:class:`RecipeError`): which recipe and operation."""

    def __init__(self, recipe: str, operation: str, reason: str):
        super().__init__(f"{recipe}: {operation}: {reason}")
        self.recipe, self.operation, self.reason = recipe, operation, reason


def _run_steps(frame: Image.Image, recipe: Recipe, ctx: Context, deadline: Deadline,
               timings: dict[str, float]) -> Image.Image:
    """The recipe's operations on ``frame``, each timed, the time limit checked between them. An
    operation's :class:`RecipeError` names the recipe and the operation (:class:`StepFailed`); what
    else an operation raises is not the image's fault and is left for the caller to classify (the
    pixels decoded, so a Pillow error here is a bug or the environment, not a broken file)."""
    for name, params in recipe.steps:
        t0 = time.perf_counter()
        try:
            frame = OPERATIONS[name].apply(frame, ctx, **params)
        except StepFailed:
            raise
        except RecipeError as exc:
            raise StepFailed(recipe.name, name, str(exc)) from exc
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t0, 6)
        deadline.check()
    return frame


def _process(source, recipes, dest, limits, features, started, deadline, gallery_image=None) -> ImageResult:
    decoded = _decode_once(source, recipes, limits, features is not None)
    decode_seconds = decoded.seconds
    deadline.check()
    result = ImageResult(decoded.source)
    if features is not None:
        t0 = time.perf_counter()
        result.features = features(feature_input(decoded.colour, decoded.icc), decoded.exif)
        result.features["seconds"] = round(time.perf_counter() - t0, 6)
        deadline.check()
    for recipe in recipes:
        t_recipe = time.perf_counter()
        ctx = decoded.context(gallery_image)
        timings: dict[str, float] = {"decode": round(decode_seconds, 6)}
        try:
            frame = _run_steps(decoded.for_spec(recipe.output), recipe, ctx, deadline, timings)
        except StepFailed as exc:  # the recipe's fault: its output fails, the image and other recipes go on
            result.failures[recipe.name] = {"reason": str(exc), "operation": exc.operation}
            continue
        t0 = time.perf_counter()
        meta = output_metadata(recipe.output, decoded.exif, decoded.icc, ctx.oriented)
        data, quality, met, encodes = encode_to_target(frame, recipe.output, meta, deadline)
        path = dest(recipe)
        path.write_bytes(data)
        timings["encode"] = round(time.perf_counter() - t0, 6)
        result.outputs[recipe.name] = {
            "path": path, "format": recipe.output.format, "width": frame.width, "height": frame.height,
            "bytes": len(data), "quality": quality, "encodes": encodes,
            **({"target_bytes": recipe.output.target_bytes, "target_met": met} if recipe.output.target_bytes else {}),
            "seconds": round(time.perf_counter() - t_recipe + decode_seconds, 6), "timings": timings,
            "version": recipe.version, "fingerprint": recipe.fingerprint,
            **({"models": ctx.facts} if ctx.facts else {}),  # e.g. which background-removal method ran
        }
    result.seconds = round(time.perf_counter() - started, 6)
    return result


def _early_background(recipes: list[Recipe], features: bool) -> tuple[int, int, int] | None:
    """The background every output is laid on, when transparency can be laid on it at decode time:
    no output keeps alpha, all share the background, and no step cares (features lay transparency
    on white themselves). Whether a step cares is its ``alpha_neutral`` fact (:mod:`.operations.base`)."""
    backgrounds = {r.output.background for r in recipes}
    if not recipes or len(backgrounds) != 1 or any(r.output.has_alpha for r in recipes):
        return None
    if not all(OPERATIONS[name].is_alpha_neutral(params) for r in recipes for name, params in r.steps):
        return None
    colour = parse_colour(backgrounds.pop(), "RGB")
    return None if features and colour != (255, 255, 255) else colour


def feature_input(decoded: Image.Image, icc: bytes | None) -> Image.Image:
    """What features are computed from: the decode shrunk by the largest integer factor that keeps
    ``FEATURE_SIDE`` pixels a side (an exact box filter, cheap), then in sRGB (converting this small
    copy costs a fraction of converting the decode)."""
    factor = max(decoded.size) // FEATURE_SIDE
    small = box_reduce(decoded, factor) if factor >= 2 else decoded
    return to_srgb(small, icc) if icc else small


@dataclass(frozen=True)
class Preview:
    data: bytes
    content_type: str
    width: int
    height: int
    timings: dict[str, float]


PREVIEW_JPEG = OutputSpec("jpeg", 85, False, False, None, 30, "strip", "srgb", "#ffffff")
PREVIEW_PNG = OutputSpec("png", 85, False, False, None, 30, "strip", "srgb", "#ffffff")


@dataclass(frozen=True)
class PreviewDecode:
    """An image decoded once for the editor's previews (:func:`decode_for_preview`): what
    :func:`preview_image` takes as ``src`` to run a chain without reading the file again."""

    decoded: _Decoded
    max_side: int

    @property
    def nbytes(self) -> int:
        """The pixels' bytes a cache of these holds (with the sRGB copy a chain makes of one with a profile)."""
        im = self.decoded.base
        return im.width * im.height * len(im.getbands()) * (2 if self.decoded.icc else 1)


def decode_for_preview(src: str | Path, max_side: int = 1024, *, limits: Limits = Limits()) -> PreviewDecode:
    """``src`` decoded for previews of any chain: the header checks, then one colour decode at most
    ``max_side`` pixels a side (a JPEG at the DCT scale just under it), as :func:`preview_image`
    decodes for a chain that needs the whole picture. A chain that could start from a smaller or
    luma-only decode (a resize, a grayscale first) runs the same operations on this one."""
    if max_side < 16:
        raise ValueError("max_side must be at least 16")
    with open_source(src) as source:
        decoded = _decode_once(source, [], limits, False, max_side)
        base = decoded.base.copy()  # closing the source may free the pixels decoded into it
    return PreviewDecode(replace(decoded, base=base, colour=base), max_side)


def preview_image(src: str | Path | PreviewDecode, recipe: Recipe, max_side: int = 1024, *,
                  limits: Limits = Limits(), gallery_image: Callable[[str], Image.Image] | None = None) -> Preview:
    """The editor's preview: ``recipe``'s operations on ``src`` decoded at most ``max_side`` pixels a
    side (at least ``PREVIEW_SLACK`` of it, for a JPEG's cheapest DCT scale), by the same decode and
    operations as :func:`process_image` (operations are scale-aware, so the preview is the output,
    smaller). JPEG, or PNG when the result has transparency. ``gallery_image`` as in
    :func:`process_image` (a picture named ``sha256:<hex>``). ``src`` may be the image already
    decoded by :func:`decode_for_preview` (its own ``max_side`` then): the chain runs on a copy of it."""
    if max_side < 16:
        raise ValueError("max_side must be at least 16")
    deadline = Deadline(limits.time_limit)
    if isinstance(src, PreviewDecode):
        return _preview(src.decoded, recipe, deadline, gallery_image, shared=True)
    with open_source(src) as source:
        return _preview(_decode_once(source, [recipe], limits, False, max_side), recipe, deadline, gallery_image)


def _preview(decoded: _Decoded, recipe: Recipe, deadline: Deadline,
             gallery_image: Callable[[str], Image.Image] | None, shared: bool = False) -> Preview:
    timings: dict[str, float] = {"decode": 0.0 if shared else round(decoded.seconds, 6)}
    frame = decoded.for_spec(recipe.output)
    frame = _run_steps(frame.copy() if shared else frame, recipe, decoded.context(gallery_image), deadline, timings)
    spec = PREVIEW_PNG if frame.mode in ALPHA_MODES else PREVIEW_JPEG
    t0 = time.perf_counter()
    data = encode(frame, spec, spec.quality)
    timings["encode"] = round(time.perf_counter() - t0, 6)
    return Preview(data, spec.content_type, frame.width, frame.height, timings)
