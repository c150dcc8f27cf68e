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

Nothing here holds more than one image's pixels: callers stream files through it.
"""

from __future__ import annotations

import io
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from PIL import Image, ImageCms

from image_pipeline.features import FEATURE_SIDE  # features need no more than this a side
from image_pipeline.operations import ALPHA_MODES, Context, OPERATIONS, _colour
from image_pipeline.processing import BadImage
from image_pipeline.recipes import OutputSpec, Recipe

DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, ZeroDivisionError)


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 100_000_000  # refused from the header, before decoding (decompression bombs)
    max_frames: int = 1000  # animations and multi-page files with more frames are refused
    time_limit: float = 120.0  # seconds for one image, all recipes included


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
) -> ImageResult:
    """Decode ``src`` once and write every recipe's output to ``dest(recipe)``.

    ``features``, when given, is called once with the decoded image (at most ``FEATURE_SIDE``
    pixels a side is needed, so it costs the decode nothing) and the source's EXIF.
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
        return _process(Path(src), im, recipes, dest, limits, features, started, deadline)
    finally:
        im.close()


def _process(path, im, recipes, dest, limits, features, started, deadline) -> ImageResult:
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
        ctx = Context(scale=base.width / source["width"], scale_y=base.height / source["height"], orientation=orientation)
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
        }
    result.seconds = round(time.perf_counter() - started, 6)
    return result


OUTPUT_SRGB = OutputSpec("png", 85, False, False, None, 30, "strip", "srgb", "#ffffff")


def _check_header(im: Image.Image, limits: Limits) -> dict[str, Any]:
    width, height = im.size
    if width < 1 or height < 1:
        raise BadImage(f"empty image ({width}x{height})")
    if width * height > limits.max_pixels:
        raise BadImage(f"too many pixels: {width}x{height} is over the limit of {limits.max_pixels:,}")
    frames = getattr(im, "n_frames", 1)
    if frames > limits.max_frames:
        raise BadImage(f"too many frames: {frames} is over the limit of {limits.max_frames}")
    return {"format": im.format, "mode": im.mode, "width": width, "height": height, "frames": frames}


def _header_exif(im: Image.Image) -> Image.Exif:
    """The EXIF the header holds. For PNG only an eXIf chunk before the pixels counts: Pillow's
    own ``getexif`` would decode the whole image to look for one after them."""
    if im.format != "PNG":
        return im.getexif()
    exif = Image.Exif()
    if "exif" in im.info:
        exif.load(im.info["exif"])
    return exif


def _decode(path: Path, im: Image.Image, scale: float, gray: bool) -> Image.Image:
    """The first frame, decoded; JPEGs at the smallest DCT scale that still covers ``scale``.

    A plain 8-bit PNG that is wanted gray goes through OpenCV's decoder instead: libpng turns it
    gray while inflating, so the colour image is never held, and the shrink that follows is the
    usual exact one (about 1.4 times faster than Pillow's decode and convert).
    """
    if im.format in ("JPEG", "MPO") and scale < 1.0:
        want = (max(1, math.ceil(im.width * scale)), max(1, math.ceil(im.height * scale)))
        im.draft("L" if gray and im.mode in ("RGB", "L") else None, want)
    elif im.format in ("JPEG", "MPO") and gray and im.mode == "RGB":
        im.draft("L", im.size)  # full size, but luma only
    elif gray and im.format == "PNG" and im.mode in ("RGB", "L") and "transparency" not in im.info:
        import cv2

        pixels = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION)
        if pixels is None:
            raise BadImage("cannot decode image: OpenCV could not read the PNG")
        return Image.fromarray(pixels, "L")
    im.load()
    return im


def _normalise(im: Image.Image) -> Image.Image:
    """L, LA, RGB or RGBA, whatever the file held."""
    mode = im.mode
    if mode in ("L", "RGB") and "transparency" not in im.info or mode in ("LA", "RGBA"):
        return im
    if mode == "CMYK":
        icc = im.info.get("icc_profile")
        if icc:
            try:
                return ImageCms.profileToProfile(im, ImageCms.ImageCmsProfile(io.BytesIO(icc)), _SRGB,
                                                 outputMode="RGB")
            except (ImageCms.PyCMSError, OSError, ValueError):
                pass  # a broken profile: Pillow's plain conversion below
        return im.convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        import numpy as np

        arr = np.asarray(im)
        peak = 65535 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255
        return Image.fromarray((np.clip(arr, 0, peak) * (255 / peak)).round().astype("uint8"), "L")
    if mode in ("P", "PA") or "transparency" in im.info:
        has_alpha = mode == "PA" or "transparency" in im.info
        if mode == "P" and not has_alpha:
            return im.convert("RGB")
        return im.convert("RGBA")
    if mode == "1":
        return im.convert("L")
    if mode in ("RGBa", "La"):
        return im.convert("RGBA" if mode == "RGBa" else "LA")
    return im.convert("RGB")  # YCbCr, LAB, HSV...


def _reduce(im: Image.Image, original: tuple[int, int], scale: float) -> Image.Image:
    """Shrink by the largest integer factor that keeps ``scale`` of the original's resolution (a
    box filter: exact and cheap), premultiplying alpha so transparent pixels do not bleed."""
    current = im.width / original[0]
    factor = math.floor(current / scale) if scale > 0 else 1
    if factor >= 2:
        premultiplied = im.mode in ("RGBA", "LA")
        if premultiplied:
            im = im.convert("RGBa" if im.mode == "RGBA" else "La")
        im = im.reduce(factor)
        if premultiplied:
            im = im.convert("RGBA" if im.mode == "RGBa" else "LA")
    return im


_SRGB = ImageCms.createProfile("sRGB")


def to_srgb(im: Image.Image, icc: bytes) -> Image.Image:
    """``im`` converted from its embedded profile to sRGB (unchanged when that cannot be done)."""
    if im.mode not in ("RGB", "RGBA"):
        return im
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(profile) or "").lower():
            return im
        return ImageCms.profileToProfile(im, profile, _SRGB, outputMode=im.mode)
    except (ImageCms.PyCMSError, OSError, ValueError):
        return im


def _metadata(spec: OutputSpec, exif: Image.Exif, icc: bytes | None, oriented: bool) -> dict[str, Any]:
    if spec.metadata != "keep":
        return {}
    meta: dict[str, Any] = {}
    if len(exif):
        if oriented and 0x0112 in exif:
            exif[0x0112] = 1  # the pixels are upright now
        meta["exif"] = exif.tobytes()
    if icc and spec.color_profile == "keep":
        meta["icc_profile"] = icc
    return meta


def encode(im: Image.Image, spec: OutputSpec, quality: int, meta: dict[str, Any] | None = None) -> bytes:
    """``im`` encoded as the spec says, at ``quality``."""
    fmt = spec.pil_format
    if im.mode in ALPHA_MODES and not spec.has_alpha:
        flat = Image.new("RGB" if im.mode in ("RGBA", "RGBa") else "L", im.size, _colour(spec.background, "RGB"
                         if im.mode in ("RGBA", "RGBa") else "L"))
        flat.paste(im, mask=im.getchannel("A"))
        im = flat
    if fmt in ("WEBP", "AVIF", "HEIF") and im.mode not in ("RGB", "RGBA"):
        im = im.convert("RGBA" if im.mode in ALPHA_MODES else "RGB")
    options: dict[str, Any] = dict(meta or {})
    if fmt == "JPEG":
        options.update(quality=quality, progressive=spec.progressive, optimize=spec.progressive)
    elif fmt == "WEBP":
        options.update(quality=quality, lossless=spec.lossless, method=4)
    elif fmt == "AVIF":
        options.update(quality=quality, speed=8)
    elif fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
        options.update(quality=quality)
    elif fmt == "PNG":
        options.update(compress_level=6)
    buffer = io.BytesIO()
    im.save(buffer, fmt, **options)
    return buffer.getvalue()


def encode_to_target(im: Image.Image, spec: OutputSpec, meta: dict[str, Any], deadline: _Deadline | None = None,
                     ) -> tuple[bytes, int, bool, int]:
    """(bytes, quality, target met, encodes): the recipe's quality, or with ``target_bytes`` the
    highest quality whose output fits, found by interpolating log-size between the qualities
    tried (usually 3-5 encodes). When even ``min_quality`` is too big, that output is returned
    with ``met`` false: the nearest the recipe allows."""
    target = spec.target_bytes
    data = encode(im, spec, spec.quality, meta)
    if target is None or len(data) <= target:
        return data, spec.quality, True, 1
    encodes = 1
    fail_q, fail_size = spec.quality, len(data)
    if deadline:
        deadline.check()
    best = encode(im, spec, spec.min_quality, meta)
    encodes += 1
    if len(best) > target:
        return best, spec.min_quality, False, encodes
    fit_q, fit_size, fit_data = spec.min_quality, len(best), best
    while fail_q - fit_q > 1:
        if deadline:
            deadline.check()
        # log(size) is close to linear in quality between two tried points: aim at the target.
        span = math.log(fail_size) - math.log(fit_size)
        guess = fit_q + (fail_q - fit_q) * (math.log(target) - math.log(fit_size)) / span if span > 0 else fit_q + 1
        q = min(fail_q - 1, max(fit_q + 1, math.floor(guess)))
        data = encode(im, spec, q, meta)
        encodes += 1
        if len(data) <= target:
            fit_q, fit_size, fit_data = q, len(data), data
        else:
            fail_q, fail_size = q, len(data)
    return fit_data, fit_q, True, encodes
