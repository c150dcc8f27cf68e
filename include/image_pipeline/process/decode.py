"""Decoding: the header checks (pixels, frames) before any pixel is read, the one decode at the
smallest scale the recipes allow (JPEG DCT scaling, else an integer reduce), the normalisation of odd
modes, and the conversion to sRGB."""

from __future__ import annotations

import io
import math
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageCms

from image_pipeline.core.errors import BadImage

if TYPE_CHECKING:
    from image_pipeline.process.engine import Limits


# What Pillow's plugins raise on malformed files; IndexError, KeyError and struct.error were found by
# fuzzing (a GIF whose frames cannot be counted raises IndexError: tests/unit/fuzz/crashers).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError, ZeroDivisionError,
                 IndexError, KeyError, struct.error)


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
