"""A still WebP's header, read from its RIFF chunks by the decode (not by Pillow's opener, and without
touching Pillow's registry), must tell what Pillow's own opener tells, and the decode give the same
pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, WebPImagePlugin

from image_pipeline.core.errors import BadImage
from image_pipeline.process import decode, webp
from image_pipeline.process.decode import DECODE_ERRORS, open_source
from image_pipeline.process.limits import Limits


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
XMP_ORIENTED = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:Description tiff:Orientation=\"8\"/></x:xmpmeta>"

VARIANTS = {
    "lossy": ("RGB", {"quality": 80}),
    "lossy alpha": ("RGBA", {"quality": 80}),
    "lossless": ("RGB", {"lossless": True}),
    "lossless alpha": ("RGBA", {"lossless": True}),
    "lossy icc exif xmp": ("RGB", {"quality": 80, "icc_profile": SRGB, "exif": EXIF.tobytes(),
                                   "xmp": b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"}),
    "lossless alpha icc": ("RGBA", {"lossless": True, "icc_profile": SRGB}),
    "orientation in xmp only": ("RGB", {"quality": 80, "xmp": XMP_ORIENTED}),
}


@pytest.fixture
def no_pillow_opener(monkeypatch):
    """Pillow's opener may not be used by the decode (its cost is what the header reading saves)."""
    monkeypatch.setattr(decode.Image, "open", lambda *a, **k: pytest.fail("Pillow's opener was used"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_header_and_pixels_match_pillow(tmp_path, variant, no_pillow_opener):
    mode, options = VARIANTS[variant]
    path = tmp_path / "a.webp"
    path.write_bytes(encoded(mode, **options))
    with WebPImagePlugin.WebPImageFile(str(path)) as theirs:
        expected = {"format": theirs.format, "mode": theirs.mode, "width": theirs.width, "height": theirs.height,
                    "frames": theirs.n_frames}
        their_exif, their_info = dict(theirs.getexif()), dict(theirs.info)
        their_pixels = np.asarray(theirs.convert(mode))
    with open_source(path) as source:
        assert source.check(Limits()) == expected
        assert dict(source.exif()) == their_exif
        assert source.icc == their_info.get("icc_profile")
        assert source.info == \
               {k: their_info[k] for k in ("icc_profile", "exif", "xmp") if k in their_info}
        pixels = source.decode(1.0, False)
    assert np.array_equal(np.asarray(pixels), their_pixels)


def test_pillow_registry_is_left_alone():
    assert Image.OPEN["WEBP"][0] is WebPImagePlugin.WebPImageFile


def test_animated_files_are_left_to_pillow(tmp_path):
    frames = [gradient("RGB"), gradient("RGB").transpose(Image.Transpose.FLIP_TOP_BOTTOM)]
    path = tmp_path / "anim.webp"
    frames[0].save(path, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with open_source(path) as source:
        assert source.check(Limits())["frames"] == 2
        assert source.decode(1.0, False).size == (67, 45)
    with pytest.raises(BadImage, match="too many frames"), open_source(path) as source:
        source.check(Limits(max_frames=1))


@pytest.mark.parametrize("cut", [20, 40, 0.5, 0.9])
def test_a_truncated_file_fails_as_with_pillow(tmp_path, cut):
    data = encoded("RGB", quality=80)
    path = tmp_path / "cut.webp"
    path.write_bytes(data[:cut if isinstance(cut, int) else int(len(data) * cut)])
    with pytest.raises((BadImage, *DECODE_ERRORS)):
        with open_source(path) as source:
            source.decode(1.0, False)


def test_read_header_refuses_what_it_does_not_know():
    assert webp.read_header(io.BytesIO(b"RIFF\x00\x00\x00\x00WAVEfmt ")) is None
    assert webp.read_header(io.BytesIO(b"RIFF\x04\x00\x00\x00WEBP")) is None  # no image chunk
    assert webp.read_header(io.BytesIO(b"RIFF\x10\x00\x00\x00WEBPVP8X\x02\x00\x00\x00\x00\x00")) is None  # too short
