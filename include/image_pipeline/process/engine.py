"""The image engine: one decode, every recipe's output.

For each image the engine

1. reads the header only and refuses what breaks the limits (pixels, frames) before decoding;
2. decodes once, at the smallest scale every selected recipe allows: JPEGs through libjpeg's DCT
   scaling (``Image.draft``: 1/2, 1/4 or 1/8 of the pixels are ever produced, and only luma when
   every recipe starts by going gray), other formats by an integer box ``reduce`` right after the
   decode; odd modes (CMYK, 16-bit, palette with transparency, colour-keyed) are normalised to
   L, LA, RGB or RGBA; multi-frame files give their first frame;
3. runs each recipe's operations on that decode, timing each one, and encodes its output (with a
   quality search when the recipe sets a byte target), checking the per-image time limit between
   steps.

Nothing here holds more than one image's pixels: callers stream files through it. The decode is
:mod:`.decode`, the encode :mod:`.encode`, the decode's scale :mod:`.plan` (through the recipes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from PIL import Image

from image_pipeline.core.errors import BadImage
from image_pipeline.process.decode import (DECODE_ERRORS, _check_header, _decode, _header_exif, _normalise, _reduce,
                                           to_srgb)
from image_pipeline.process.encode import _metadata, encode, encode_to_target  # noqa: F401 - encode: the engine's API too
from image_pipeline.process.features import FEATURE_SIDE  # features need no more than this a side
from image_pipeline.process.operations import ALPHA_MODES, OPERATIONS, Context
from image_pipeline.process.recipes import OutputSpec, Recipe


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 100_000_000  # refused from the header, before decoding (decompression bombs)
    max_frames: int = 1000  # animations and multi-page files with more frames are refused
    time_limit: float = 120.0  # seconds for one image, all recipes included

    @classmethod
    def from_settings(cls, cfg: Any) -> "Limits":
        """From :class:`~image_pipeline.settings.Settings` (``GALLERY_DOWNLOAD_MAX_PIXELS``, ``GALLERY_MAX_FRAMES``,
        ``GALLERY_IMAGE_TIME_LIMIT``)."""
        return cls(max_pixels=cfg.download_max_pixels, max_frames=cfg.max_frames,
                   time_limit=float(cfg.image_time_limit))


@dataclass
class ImageResult:
    source: dict[str, Any]  # format, mode, width, height, frames of the original
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # recipe -> facts (and "path")
    features: dict[str, Any] | None = None
    seconds: float = 0.0


class _Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.perf_counter() + seconds

    def check(self) -> None:
        if time.perf_counter() > self.at:
            raise BadImage(f"time limit exceeded ({self.seconds:g} s for one image)")


def process_image(
    src: str | Path, recipes: Iterable[Recipe], dest: Callable[[Recipe], Path], *,
    limits: Limits = Limits(), features: Callable[[Image.Image, Image.Exif], dict[str, Any]] | None = None,
    gallery_image: Callable[[str], Image.Image] | None = None,
) -> ImageResult:
    """Decode ``src`` once and write every recipe's output to ``dest(recipe)``.

    ``features``, when given, is called once with the decoded image (at most ``FEATURE_SIDE``
    pixels a side is needed, so it costs the decode nothing) and the source's EXIF. ``gallery_image``
    gives a gallery image's pixels by sha256 (recipes may name one, e.g. as a style picture).
    Raises :class:`BadImage` (the quarantine reason) for anything that cannot be processed.
    """
    started = time.perf_counter()
    deadline = _Deadline(limits.time_limit)
    recipes = list(recipes)
    try:
        im = Image.open(src)
    except DECODE_ERRORS as exc:
        raise BadImage(f"not a readable image: {exc}") from None
    try:  # closed only at the end: closing a Pillow image frees the pixels decoded into it
        return _process(Path(src), im, recipes, dest, limits, features, started, deadline, gallery_image)
    finally:
        im.close()


def _process(path, im, recipes, dest, limits, features, started, deadline, gallery_image=None) -> ImageResult:
    try:
        source = _check_header(im, limits)
        exif = _header_exif(im)
        orientation = exif.get(0x0112, 1)
        orientation = orientation if isinstance(orientation, int) else 1
        # A CMYK profile is used up converting to RGB; any other is applied per recipe.
        icc = None if im.mode == "CMYK" else im.info.get("icc_profile")
        scale = max([r.needed_scale(im.size, orientation) for r in recipes]
                    + ([min(1.0, FEATURE_SIDE / max(im.size))] if features else []), default=1.0)
        gray = bool(recipes) and all(r.gray_first for r in recipes) and features is None
        t0 = time.perf_counter()
        base = _reduce(_normalise(_decode(path, im, scale, gray)), (source["width"], source["height"]), scale)
        if gray and base.mode not in ("L", "LA"):  # after the reduce: fewer pixels to convert
            base = base.convert("LA" if base.mode in ALPHA_MODES else "L")
        decode_seconds = time.perf_counter() - t0
    except BadImage:
        raise
    except DECODE_ERRORS as exc:
        raise BadImage(f"cannot decode image: {exc}") from None
    deadline.check()
    result = ImageResult(source)
    srgb: dict[str, Image.Image] = {}

    def base_for(spec: OutputSpec) -> Image.Image:
        if spec.color_profile == "keep" or not icc:
            return base
        if "img" not in srgb:  # converted once, shared by every recipe that wants sRGB
            srgb["img"] = to_srgb(base, icc)
        return srgb["img"]

    if features is not None:
        t0 = time.perf_counter()
        result.features = features(base_for(OUTPUT_SRGB), exif)  # features shrink their own copy
        result.features["seconds"] = round(time.perf_counter() - t0, 6)
        deadline.check()
    for recipe in recipes:
        t_recipe = time.perf_counter()
        ctx = Context(scale=base.width / source["width"], scale_y=base.height / source["height"],
                      orientation=orientation, gallery_image=gallery_image)
        timings: dict[str, float] = {"decode": round(decode_seconds, 6)}
        frame = base_for(recipe.output)
        for name, params in recipe.steps:
            t0 = time.perf_counter()
            try:
                frame = OPERATIONS[name].apply(frame, ctx, **params)
            except DECODE_ERRORS as exc:
                raise BadImage(f"{recipe.name}: {name} failed: {exc}") from None
            timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t0, 6)
            deadline.check()
        t0 = time.perf_counter()
        meta = _metadata(recipe.output, exif, icc, ctx.oriented)
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


OUTPUT_SRGB = OutputSpec("png", 85, False, False, None, 30, "strip", "srgb", "#ffffff")

