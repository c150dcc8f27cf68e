"""A WebP opener for Pillow that reads the header from the file's RIFF chunks.

Pillow's own opener reads the whole file and creates libwebp's animation decoder, which allocates
the canvas, just to learn the size, the mode and the ICC/EXIF/XMP chunks: about 4 ms an image on
the corpus, a few percent of a half-size recipe, paid again whenever the pixels are decoded by
another library (OpenCV, see :mod:`.decode`). This opener gets the same facts from the chunk headers
(seeking over the image data) and creates Pillow's decoder only when pixels are asked for.
Animated files, and anything it does not recognise, are left to Pillow's opener.
"""

from __future__ import annotations

import struct
from typing import IO, Any

from PIL import Image, WebPImagePlugin

ALPHA_FLAG, ANIMATION_FLAG = 0x10, 0x02
META_CHUNKS = {b"ICCP": "icc_profile", b"EXIF": "exif", b"XMP ": "xmp"}
MAX_META = 64 << 20  # a metadata chunk larger than this is not believed: Pillow's opener decides


def read_header(fp: IO[bytes]) -> dict[str, Any] | None:
    """``{"size", "alpha", "info"}`` of a still WebP from its chunks, or None (animated,
    malformed, or not WebP: Pillow's opener then decides)."""
    head = fp.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    size = None
    alpha = False
    info: dict[str, Any] = {}
    extended = False
    while len(chunk := fp.read(8)) == 8:
        fourcc, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        padded = length + (length & 1)
        if fourcc == b"VP8X":
            payload = fp.read(10)
            if len(payload) < 10 or payload[0] & ANIMATION_FLAG:
                return None
            extended, alpha = True, bool(payload[0] & ALPHA_FLAG)
            size = (int.from_bytes(payload[4:7], "little") + 1, int.from_bytes(payload[7:10], "little") + 1)
            fp.seek(padded - 10, 1)
        elif fourcc == b"VP8 ":
            payload = fp.read(10)
            if len(payload) < 10 or payload[3:6] != b"\x9d\x01\x2a":
                return None
            width, height = struct.unpack("<HH", payload[6:10])
            size = size or (width & 0x3FFF, height & 0x3FFF)
            fp.seek(padded - 10, 1)
        elif fourcc == b"VP8L":
            payload = fp.read(5)
            if len(payload) < 5 or payload[0] != 0x2F:
                return None
            bits = struct.unpack("<I", payload[1:5])[0]
            size = size or ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
            alpha = bool(bits >> 28 & 1)  # libwebp believes the lossless header over VP8X's flag
            fp.seek(padded - 5, 1)
        elif fourcc in META_CHUNKS and extended:
            if length > MAX_META:
                return None
            data = fp.read(length)
            if len(data) < length:
                return None
            info.setdefault(META_CHUNKS[fourcc], data)  # the first one, as libwebp's demuxer takes it
            fp.seek(padded - length, 1)
        elif fourcc == b"ALPH":
            alpha = True
            fp.seek(padded, 1)
        else:
            fp.seek(padded, 1)
        if not extended and size is not None:
            break  # a simple file: one image chunk and nothing else
    if size is None or size[0] < 1 or size[1] < 1:
        return None
    return {"size": size, "alpha": alpha, "info": info}


class HeaderWebPImageFile(WebPImagePlugin.WebPImageFile):
    """Pillow's WebP image, opened from its chunk headers; Pillow's decoder is created on first use."""

    _pillow_opened = False

    def _open(self) -> None:
        assert self.fp is not None
        start = self.fp.tell()
        header = read_header(self.fp)
        if header is None:
            self._open_with_pillow(start)
            return
        self._start = start
        self._size = header["size"]
        self.n_frames, self.is_animated = 1, False
        self.rawmode = "RGBA" if header["alpha"] else "RGBX"
        self._mode = "RGBA" if header["alpha"] else "RGB"
        # What Pillow's opener says of a still image (libwebp's defaults for a file without ANIM).
        self.info.update({"loop": 1, "background": (255, 255, 255, 255)}, **header["info"])

    def _open_with_pillow(self, start: int) -> None:
        assert self.fp is not None
        self.fp.seek(start)
        super()._open()
        self._pillow_opened = True

    def _ensure_decoder(self) -> None:
        if not self._pillow_opened:
            info = dict(self.info)
            self._open_with_pillow(self._start)
            self.info.update(info)

    def seek(self, frame: int) -> None:
        if frame != 0:
            self._ensure_decoder()
        super().seek(frame)

    def load(self):
        self._ensure_decoder()
        return super().load()


def register() -> None:
    """Make :class:`HeaderWebPImageFile` Pillow's WebP opener (idempotent)."""
    Image.register_open(HeaderWebPImageFile.format, HeaderWebPImageFile, WebPImagePlugin._accept)
