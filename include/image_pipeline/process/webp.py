"""A still WebP's header from its RIFF chunks: size, alpha, and the ICC/EXIF/XMP chunks.

What Pillow's opener tells (:class:`~image_pipeline.process.decode.SourceImage` uses it in its
place), without reading the whole file or creating libwebp's animation decoder, which allocates the
canvas: the chunk headers are read and the image data is seeked over. Animated files, and anything
this does not recognise, are left to Pillow's opener (None).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import IO, Any

ALPHA_FLAG, ANIMATION_FLAG = 0x10, 0x02
META_CHUNKS = {b"ICCP": "icc_profile", b"EXIF": "exif", b"XMP ": "xmp"}
IMAGE_HEADERS = {b"VP8X": 10, b"VP8 ": 10, b"VP8L": 5}  # the bytes each image chunk's own header takes
MAX_META = 64 << 20  # a metadata chunk larger than this is not believed: Pillow's opener decides


@dataclass(frozen=True)
class Header:
    size: tuple[int, int]
    alpha: bool
    info: dict[str, Any] = field(default_factory=dict)  # icc_profile, exif, xmp: as Pillow's ``info`` names them


def read_header(fp: IO[bytes]) -> Header | None:
    """The header of a still WebP from its chunks, or None (animated, malformed, or not WebP:
    Pillow's opener then decides)."""
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
        if length < IMAGE_HEADERS.get(fourcc, 0):
            return None  # shorter than its own header: malformed
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
    return Header(size, alpha, info)
