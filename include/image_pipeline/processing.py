"""Image inspection and the processing recipes (Pillow).

The seed-000 recipe, ``half_gray`` (half width and height, grayscale, JPEG), takes the fast path
by design: for JPEG input ``Image.draft`` asks libjpeg to decode straight to grayscale at half scale
(DCT scaling), so full-size colour pixels are never materialised.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Callable
from pathlib import Path

from PIL import Image, UnidentifiedImageError

# Formats Pillow reads that we accept as images, with the extension we store them under.
FORMAT_EXTENSIONS = {
    "JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif",
    "MPO": "jpg",
}


class BadImage(ValueError):
    """The bytes are not an image this pipeline can read; the message is the quarantine reason."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    mode: str

    @property
    def ext(self) -> str:
        return FORMAT_EXTENSIONS[self.format]


def inspect_image(data: bytes) -> ImageInfo:
    """Identify an image from its header, without decoding its pixels."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, size, mode = im.format, im.size, im.mode
    except UnidentifiedImageError:
        raise BadImage("not an image (unrecognised content)") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise BadImage(f"unreadable image header: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise BadImage(f"too many pixels: {exc}") from None
    if fmt not in FORMAT_EXTENSIONS:
        raise BadImage(f"unsupported image format: {fmt}")
    return ImageInfo(fmt, size[0], size[1], mode)


@dataclass(frozen=True)
class Recipe:
    """A named, versioned processing definition; bump ``version`` to reprocess its outputs."""

    name: str
    version: int
    ext: str
    content_type: str
    description: str
    render: Callable[[Path, Path], dict[str, int | float]]  # (source file, output file) -> facts


def _shrink_to(frame: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Exactly ``target`` from a full-size or draft-reduced frame, with the cheapest exact filter.

    A 2:1 shrink is a 2x2 box average (``reduce``), which is both the right anti-aliasing filter
    for that ratio and far cheaper than a general resampling filter. A draft decode of an odd size
    comes out one pixel larger than ``target``: that pixel is cropped, not resampled.
    """
    width, height = target
    if frame.width >= 2 * width and frame.height >= 2 * height and frame.size != target:
        frame = frame.reduce(2, box=(0, 0, 2 * width, 2 * height))
    if frame.size == target:
        return frame
    if frame.width - width <= 1 and frame.height - height <= 1:
        return frame.crop((0, 0, width, height))
    return frame.resize(target, Image.Resampling.LANCZOS, reducing_gap=2.0)


def _gray_on_white(im: Image.Image, target: tuple[int, int]) -> Image.Image:
    """Grayscale at ``target`` size; transparent images are put on white (JPEG has no alpha).

    Alpha is composited after the shrink, on one channel at a quarter of the pixels: shrinking
    luma+alpha premultiplies, so edges come out as if the full-size image had been composited.
    """
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        if im.mode in ("P", "PA") or "transparency" in im.info:
            im = im.convert("RGBA")  # palette or colour-key transparency becomes an alpha channel
        luma_alpha = _shrink_to(im.convert("LA"), target)
        frame = Image.new("L", luma_alpha.size, 255)
        frame.paste(luma_alpha.getchannel("L"), mask=luma_alpha.getchannel("A"))
        return frame
    return _shrink_to(im.convert("L"), target)


T = Image.Transpose
_ORIENTATION_TRANSPOSE = {
    2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
    6: T.ROTATE_270, 7: T.TRANSVERSE, 8: T.ROTATE_90,
}


def half_gray(src: str | Path, dest: str | Path, quality: int = 85) -> dict[str, int | float]:
    """Write the half-size grayscale JPEG of ``src`` to ``dest``; returns its dimensions and timing."""
    started = time.perf_counter()
    try:
        with Image.open(src) as im:
            target = (max(1, im.width // 2), max(1, im.height // 2))
            if im.format == "JPEG":
                im.draft("L", target)  # decode at reduced scale, straight to luma
            orientation = im.getexif().get(0x0112, 1)
            frame = _gray_on_white(im, target)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise BadImage(f"cannot decode image: {exc}") from None
    if orientation in _ORIENTATION_TRANSPOSE:
        # Keep the picture upright: the output carries no EXIF, so apply its rotation to the pixels.
        frame = frame.transpose(_ORIENTATION_TRANSPOSE[orientation])
    frame.save(dest, "JPEG", quality=quality)
    return {
        "width": frame.width,
        "height": frame.height,
        "bytes": Path(dest).stat().st_size,
        "seconds": round(time.perf_counter() - started, 6),
    }


HALF_GRAY = Recipe("half_gray", 1, "jpg", "image/jpeg", "half width and height, grayscale, JPEG q85", half_gray)
RECIPES = {HALF_GRAY.name: HALF_GRAY}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; known: {', '.join(sorted(RECIPES))}") from None
