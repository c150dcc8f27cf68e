"""Encoding: an output spec (format, quality, metadata) to bytes, and the quality search that meets a
byte target."""

from __future__ import annotations

import io
import math
from typing import Any

from PIL import Image

from image_pipeline.process.limits import Deadline
from image_pipeline.process.operations import ALPHA_MODES, parse_colour
from image_pipeline.process.recipes import OutputSpec


def output_metadata(spec: OutputSpec, exif: Image.Exif, icc: bytes | None, oriented: bool) -> dict[str, Any]:
    """What of the source's metadata the output keeps (``metadata: keep``): its EXIF, orientation reset
    once the pixels are upright, and its colour profile when the output keeps it."""
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
        flat = Image.new("RGB" if im.mode in ("RGBA", "RGBa") else "L", im.size, parse_colour(spec.background, "RGB"
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


def encode_to_target(im: Image.Image, spec: OutputSpec, meta: dict[str, Any], deadline: Deadline | None = None,
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
