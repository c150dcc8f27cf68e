"""A progressive JPEG without its chroma scans must decode to the same luma, bit for bit, at every DCT
scale; files it cannot read safely are left as they are."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from image_pipeline.process import decode, jpeg

SCALES = [cv2.IMREAD_GRAYSCALE, cv2.IMREAD_REDUCED_GRAYSCALE_2, cv2.IMREAD_REDUCED_GRAYSCALE_4,
          cv2.IMREAD_REDUCED_GRAYSCALE_8]


def photo(size=(403, 301)) -> Image.Image:
    """Colour detail in every block: chroma scans that are not empty."""
    rng = np.random.default_rng(7)
    noise = rng.integers(0, 256, (size[1] // 8 + 1, size[0] // 8 + 1, 3), dtype=np.uint8)
    im = Image.fromarray(noise, "RGB").resize(size, Image.Resampling.BICUBIC)
    return Image.blend(im, Image.radial_gradient("L").resize(size).convert("RGB"), 0.4)


def encoded(im: Image.Image, **options) -> bytes:
    buffer = io.BytesIO()
    im.save(buffer, "JPEG", quality=90, **options)
    return buffer.getvalue()


def luma(data: bytes, flag: int) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), flag)


@pytest.mark.parametrize("options", [
    {"progressive": True},
    {"progressive": True, "subsampling": 0},  # 4:4:4
    {"progressive": True, "subsampling": 1, "optimize": True},
    {"progressive": True, "restart_marker_blocks": 3},  # restart markers inside the scans
])
def test_the_same_luma_from_fewer_bytes_at_every_scale(options):
    data = encoded(photo(), **options)
    kept = jpeg.luma_scans(data)
    assert kept is not None and len(kept) < 0.9 * len(data)
    assert kept.count(b"\xff\xda") < data.count(b"\xff\xda")
    for flag in SCALES:
        assert np.array_equal(luma(kept, flag), luma(data, flag))


@pytest.mark.parametrize("name, data", [
    ("baseline", encoded(photo())),
    ("gray", encoded(photo().convert("L"), progressive=True)),
    ("cmyk", encoded(photo().convert("CMYK"), progressive=True)),
    ("rgb components", encoded(photo(), progressive=True, keep_rgb=True)),
    ("truncated", encoded(photo(), progressive=True)[:5000]),
    ("not a jpeg", b"GIF89a" + bytes(100)),
    ("garbage after the start", b"\xff\xd8\x00\x01\x02"),
])
def test_files_it_cannot_read_safely_are_left_as_they_are(name, data):
    assert jpeg.luma_scans(data) is None


def test_an_adobe_rgb_file_is_left_as_it_is():
    data = encoded(photo(), progressive=True)
    adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"  # transform 0: RGB components
    assert jpeg.luma_scans(data[:2] + adobe + data[2:]) is None
    ycc = adobe[:-1] + b"\x01"
    assert jpeg.luma_scans(data[:2] + ycc + data[2:]) is not None


def test_the_engine_decodes_a_progressive_photo_without_its_chroma_scans(tmp_path, monkeypatch):
    path = tmp_path / "p.jpg"
    path.write_bytes(encoded(photo((1203, 805)), progressive=True))
    left_out = []
    real = jpeg.luma_scans
    monkeypatch.setattr(jpeg, "luma_scans", lambda data: left_out.append(len(data)) or real(data))
    with decode.open_source(path) as source:
        fast = source.decode(0.5, True)
    assert left_out and fast.mode == "L" and fast.size == (602, 403)
    with Image.open(path) as im:
        im.draft("L", (601, 402))
        assert np.array_equal(np.asarray(fast), np.asarray(im.convert("L")))  # Pillow's own DCT-scaled luma
