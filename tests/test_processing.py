"""Image inspection and the half_gray recipe."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from image_pipeline.processing import BadImage, get_recipe, half_gray, inspect_image


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient(size=(401, 301), mode="RGB") -> Image.Image:
    im = Image.linear_gradient("L").resize(size).convert(mode)
    return im


def test_inspect_reads_header_only():
    info = inspect_image(encode(gradient(), "JPEG"))
    assert (info.format, info.width, info.height, info.ext) == ("JPEG", 401, 301, "jpg")
    assert inspect_image(encode(gradient(mode="RGBA"), "PNG")).mode == "RGBA"


@pytest.mark.parametrize("data", [b"", b"hello world", b"\xff\xd8\xff\xe0 not a jpeg", b"<html></html>"])
def test_inspect_refuses_non_images(data):
    with pytest.raises(BadImage):
        inspect_image(data)


def test_half_gray_jpeg(tmp_path):
    src = tmp_path / "in.jpg"
    src.write_bytes(encode(gradient((1201, 801)), "JPEG", quality=95))
    facts = half_gray(src, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as out:
        assert (out.format, out.mode, out.size) == ("JPEG", "L", (600, 400))
    assert facts["width"] == 600 and facts["height"] == 400 and facts["bytes"] > 0 and facts["seconds"] >= 0


def test_half_gray_fast_path_matches_full_decode(tmp_path):
    """The draft (DCT-scaled) decode must look like the naive full decode, resize, grayscale."""
    src = tmp_path / "in.jpg"
    photo = Image.radial_gradient("L").resize((1600, 1200)).convert("RGB")
    src.write_bytes(encode(photo, "JPEG", quality=95))
    half_gray(src, tmp_path / "fast.jpg")
    with Image.open(src) as im:
        naive = im.convert("L").resize((800, 600), Image.Resampling.LANCZOS)
    with Image.open(tmp_path / "fast.jpg") as fast:
        assert ImageStat.Stat(ImageChops.difference(fast, naive)).mean[0] < 2.0


def test_half_gray_applies_exif_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    src = tmp_path / "in.jpg"
    src.write_bytes(encode(gradient((400, 200)), "JPEG", exif=exif.tobytes()))
    half_gray(src, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (100, 200)


@pytest.mark.parametrize("mode, colour, expected", [
    ("RGBA", (0, 0, 0, 0), 255),      # fully transparent black: white
    ("RGBA", (0, 0, 0, 128), 127),    # half-transparent black: mid gray
    ("RGBA", (255, 0, 0, 255), 76),   # opaque red: its luma
    ("LA", (0, 0), 255),
])
def test_half_gray_puts_transparency_on_white(tmp_path, mode, colour, expected):
    src = tmp_path / "in.png"
    src.write_bytes(encode(Image.new(mode, (65, 64), colour), "PNG"))
    half_gray(src, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as out:
        low, high = out.getextrema()
        assert out.size == (32, 32) and abs(low - expected) <= 2 and abs(high - expected) <= 2


def test_half_gray_palette_transparency(tmp_path):
    im = Image.new("P", (40, 40), 0)
    im.putpalette([0, 0, 0, 255, 255, 255])
    src = tmp_path / "in.gif"
    im.save(src, "GIF", transparency=0)  # the black index is transparent
    half_gray(src, tmp_path / "out.jpg")
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.getextrema()[0] > 250


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_half_gray_other_formats(tmp_path, fmt):
    src = tmp_path / f"in.{fmt.lower()}"
    src.write_bytes(encode(gradient((99, 51)), fmt))
    assert half_gray(src, tmp_path / "out.jpg")["width"] == 49


def test_tiny_images_stay_at_least_one_pixel(tmp_path):
    src = tmp_path / "in.png"
    src.write_bytes(encode(gradient((1, 1)), "PNG"))
    assert half_gray(src, tmp_path / "out.jpg")["width"] == 1


def test_truncated_image_is_a_bad_image(tmp_path):
    data = encode(gradient((800, 600)), "JPEG")
    src = tmp_path / "in.jpg"
    src.write_bytes(data[: len(data) // 2])
    inspect_image(src.read_bytes())  # the header alone looks fine...
    with pytest.raises(BadImage, match="cannot decode"):
        half_gray(src, tmp_path / "out.jpg")  # ...the pixels are not


def test_unknown_recipe():
    assert get_recipe("half_gray").version >= 1
    with pytest.raises(ValueError, match="unknown recipe"):
        get_recipe("sepia")
