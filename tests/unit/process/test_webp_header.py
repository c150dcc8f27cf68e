"""The WebP opener that reads headers from the RIFF chunks must tell what Pillow's own opener tells,
and give the same pixels."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageCms, WebPImagePlugin

from image_pipeline.process import webp
from image_pipeline.process.decode import DECODE_ERRORS


def gradient(mode: str, size=(67, 45)) -> Image.Image:
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    if mode == "RGBA":
        im = im.convert("RGBA")
        im.putalpha(Image.radial_gradient("L").resize(size))
    return im


def encoded(mode: str, **options) -> bytes:
    buffer = io.BytesIO()
    gradient(mode).save(buffer, "WEBP", **options)
    return buffer.getvalue()


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
EXIF = Image.Exif()
EXIF[0x0112] = 6
EXIF[0x010F] = "Camera maker"

VARIANTS = {
    "lossy": ("RGB", {"quality": 80}),
    "lossy alpha": ("RGBA", {"quality": 80}),
    "lossless": ("RGB", {"lossless": True}),
    "lossless alpha": ("RGBA", {"lossless": True}),
    "lossy icc exif xmp": ("RGB", {"quality": 80, "icc_profile": SRGB, "exif": EXIF.tobytes(),
                                   "xmp": b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"}),
    "lossless alpha icc": ("RGBA", {"lossless": True, "icc_profile": SRGB}),
}


def pillow_open(data: bytes) -> Image.Image:
    return WebPImagePlugin.WebPImageFile(io.BytesIO(data))


@pytest.mark.parametrize("variant", VARIANTS)
def test_header_and_pixels_match_pillow(variant):
    mode, options = VARIANTS[variant]
    data = encoded(mode, **options)
    with Image.open(io.BytesIO(data)) as ours, pillow_open(data) as theirs:
        assert isinstance(ours, webp.HeaderWebPImageFile)
        assert not ours._pillow_opened  # nothing decoded to open it
        assert (ours.format, ours.size, ours.mode, ours.n_frames, ours.is_animated) == \
               (theirs.format, theirs.size, theirs.mode, theirs.n_frames, theirs.is_animated)
        assert ours.info == theirs.info
        assert dict(ours.getexif()) == dict(theirs.getexif())
        assert ours.tobytes() == theirs.tobytes()
        assert ours.info == theirs.info


def test_animated_files_are_left_to_pillow():
    buffer = io.BytesIO()
    frames = [gradient("RGB"), gradient("RGB").transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(buffer.getvalue())) as im:
        assert im._pillow_opened and im.n_frames == 2 and im.is_animated
        im.seek(1)
        second = im.convert("RGB")
    assert second.size == (67, 45)


@pytest.mark.parametrize("cut", [20, 40, 0.5, 0.9])
def test_a_truncated_file_fails_as_with_pillow(cut):
    data = encoded("RGB", quality=80)
    data = data[:cut if isinstance(cut, int) else int(len(data) * cut)]
    with pytest.raises(DECODE_ERRORS):
        with Image.open(io.BytesIO(data)) as im:
            im.load()


def test_read_header_refuses_what_it_does_not_know():
    assert webp.read_header(io.BytesIO(b"RIFF\x00\x00\x00\x00WAVEfmt ")) is None
    assert webp.read_header(io.BytesIO(b"RIFF\x04\x00\x00\x00WEBP")) is None  # no image chunk
