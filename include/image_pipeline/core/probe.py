"""Image identification from the header, without decoding the pixels (retrieval and processing both
probe what they are given). The error that sends an image to quarantine is
:class:`~image_pipeline.core.errors.BadImage`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from image_pipeline.core.errors import BadImage

# Formats Pillow reads that we accept as images, with the extension we store them under.
FORMAT_EXTENSIONS = {
    "JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif",
    "MPO": "jpg",
}


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
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's words for a bad header (in memory: no errno)
        raise BadImage(f"unreadable image header: {exc}") from None
    except Image.DecompressionBombError as exc:
        raise BadImage(f"too many pixels: {exc}") from None
    if fmt not in FORMAT_EXTENSIONS:
        raise BadImage(f"unsupported image format: {fmt}")
    return ImageInfo(fmt, size[0], size[1], mode)
