"""The engine, recipes and operations, on generated odd and broken files."""

from __future__ import annotations

import dataclasses
import io
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat

from image_pipeline.process.decode import SourceImage, dct_denominator
from image_pipeline.process.encode import encode as encode_output, encode_to_target
from image_pipeline.process.engine import process_image
from image_pipeline.process.limits import Limits
from image_pipeline.process.operations import OPERATIONS, RecipeError
from image_pipeline.core.errors import BadImage, InvalidRequest
from image_pipeline.core.probe import inspect_image
from image_pipeline.process.recipes import all_recipes, get_recipe, heif_available, parse_recipe


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient(size=(401, 301), mode="RGB") -> Image.Image:
    return Image.linear_gradient("L").resize(size).convert(mode)


def photo(size=(1200, 800)) -> Image.Image:
    """Something with colour and detail, so encoders and filters have work to do."""
    r = Image.linear_gradient("L").resize(size)
    g = Image.radial_gradient("L").resize(size)
    b = Image.effect_noise(size, 60)
    return Image.merge("RGB", (r, g, b))


def recipe(name="t", ops=(), **output):
    return parse_recipe({"name": name, "operations": list(ops), "output": output})


def run(tmp_path, src, *recipes, **kw):
    recipes = [get_recipe(r) if isinstance(r, str) else r for r in recipes]
    result = process_image(src, recipes, lambda r: tmp_path / f"out-{r.name}.{r.ext}", **kw)
    return result


def opened(result, name):
    im = Image.open(result.outputs[name]["path"])
    im.load()
    return im


def write(tmp_path, im, fmt, name=None, **kw) -> Path:
    path = tmp_path / (name or f"in.{fmt.lower()}")
    path.write_bytes(encode(im, fmt, **kw))
    return path


# --- inspection ---------------------------------------------------------------------------------

def test_inspect_reads_header_only():
    info = inspect_image(encode(gradient(), "JPEG"))
    assert (info.format, info.width, info.height, info.ext) == ("JPEG", 401, 301, "jpg")
    assert inspect_image(encode(gradient(mode="RGBA"), "PNG")).mode == "RGBA"


@pytest.mark.parametrize("data", [b"", b"hello world", b"\xff\xd8\xff\xe0 not a jpeg", b"<html></html>"])
def test_inspect_refuses_non_images(data):
    with pytest.raises(BadImage):
        inspect_image(data)


# --- the shipped recipes ----------------------------------------------------------------------------

def test_shipped_recipes():
    recipes = all_recipes()
    assert {"half_gray", "web", "thumb"} <= set(recipes)
    assert (recipes["web"].ext, recipes["thumb"].ext, recipes["half_gray"].ext) == ("webp", "jpg", "jpg")
    with pytest.raises(InvalidRequest, match="unknown recipe"):  # the request's fault, not a ValueError
        get_recipe("nonesuch")


def test_half_gray_jpeg(tmp_path):
    src = write(tmp_path, gradient((1201, 801)), "JPEG", quality=95)
    result = run(tmp_path, src, "half_gray")
    out = result.outputs["half_gray"]
    with opened(result, "half_gray") as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "L", (600, 400))
    assert (out["width"], out["height"], out["quality"]) == (600, 400, 85)
    assert out["bytes"] == Path(out["path"]).stat().st_size
    assert set(out["timings"]) >= {"decode", "auto_orient", "resize", "grayscale", "encode"}


def test_half_gray_fast_path_matches_full_decode(tmp_path):
    """The draft (DCT-scaled, luma-only) decode must look like the naive full decode and resize."""
    src = write(tmp_path, Image.radial_gradient("L").resize((1600, 1200)).convert("RGB"), "JPEG", quality=95)
    result = run(tmp_path, src, "half_gray")
    with Image.open(src) as im:
        naive = im.convert("L").resize((800, 600), Image.Resampling.LANCZOS)
    with opened(result, "half_gray") as fast:
        assert ImageStat.Stat(ImageChops.difference(fast, naive)).mean[0] < 2.0


@pytest.mark.parametrize("size", [(1600, 1203), (1601, 1200), (1601, 1203)])
def test_half_gray_odd_jpeg_decodes_at_half_scale(tmp_path, monkeypatch, size):
    """libjpeg rounds a scaled side up (1203 rows give 602 at 1/2): an odd side still decodes at half
    scale (the extra row cropped), not whole and then reduced, and looks like the naive way."""
    src = write(tmp_path, Image.radial_gradient("L").resize(size).convert("RGB"), "JPEG", quality=95)
    decodes = []
    real = SourceImage.decode

    def spy(source, scale, gray, *rest):
        out = real(source, scale, gray, *rest)
        decodes.append(out.size)
        return out

    monkeypatch.setattr(SourceImage, "decode", spy)
    result = run(tmp_path, src, "half_gray")
    assert decodes == [(-(-size[0] // 2), -(-size[1] // 2))]
    with Image.open(src) as im:
        naive = im.convert("L").resize((size[0] // 2, size[1] // 2), Image.Resampling.LANCZOS)
    with opened(result, "half_gray") as fast:
        assert fast.size == naive.size
        assert ImageStat.Stat(ImageChops.difference(fast, naive)).mean[0] < 2.0


def test_dct_denominator_covers_the_wanted_size():
    assert dct_denominator((1600, 1203), (800, 602)) == 2
    assert dct_denominator((1600, 1200), (800, 600)) == 2
    assert dct_denominator((1600, 1200), (801, 600)) == 1
    assert dct_denominator((4000, 3000), (320, 240)) == 8
    assert dct_denominator((4000, 3000), (1920, 1440)) == 2
    assert dct_denominator((5, 3), (1, 1)) == 8


@pytest.mark.parametrize("size", [(1601, 1201), (1600, 1200)])
def test_half_gray_png_fast_path_matches_pillow(tmp_path, size):
    """A plain PNG goes through OpenCV's reduced gray decode: it must match Pillow's way."""
    src = write(tmp_path, photo(size), "PNG")
    lossless = recipe("half_gray_png", ["auto_orient", {"resize": {"scale": 50}}, "grayscale"], format="png")
    result = run(tmp_path, src, lossless)
    with Image.open(src) as im:
        pillow = im.convert("L").reduce(2, box=(0, 0, size[0] // 2 * 2, size[1] // 2 * 2))
    with opened(result, "half_gray_png") as fast:
        assert fast.size == pillow.size == (size[0] // 2, size[1] // 2)
        assert ImageStat.Stat(ImageChops.difference(fast, pillow)).mean[0] < 1.0  # rounding only


def test_one_decode_at_the_smallest_scale_all_recipes_allow(tmp_path, monkeypatch):
    src = write(tmp_path, photo((4000, 3000)), "JPEG", quality=90)
    decodes = []
    real = SourceImage.decode

    def spy(source, scale, gray, *rest):
        out = real(source, scale, gray, *rest)
        decodes.append((out.size, out.mode))
        return out

    monkeypatch.setattr(SourceImage, "decode", spy)
    run(tmp_path, src, "thumb")
    run(tmp_path, src, "half_gray")
    result = run(tmp_path, src, "half_gray", "web", "thumb")
    # thumb alone: 1/8 scale; half_gray alone: 1/2 in luma only; all three: one decode at 1/2, colour.
    assert decodes == [((500, 375), "RGB"), ((2000, 1500), "L"), ((2000, 1500), "RGB")]
    sizes = {name: (o["width"], o["height"]) for name, o in result.outputs.items()}
    assert sizes == {"half_gray": (2000, 1500), "web": (1920, 1440), "thumb": (320, 240)}
    with opened(result, "web") as web, opened(result, "thumb") as thumb:
        assert (web.format, web.mode, thumb.format, thumb.mode) == ("WEBP", "RGB", "JPEG", "RGB")
        assert thumb.info.get("progressive") or thumb.info.get("progression")


def test_never_upscales_unless_asked(tmp_path):
    src = write(tmp_path, photo((800, 600)), "PNG")
    result = run(tmp_path, src, "web", recipe("big", [{"resize": {"longest": 1600, "upscale": True}}]))
    assert (result.outputs["web"]["width"], result.outputs["big"]["width"]) == (800, 1600)


def test_exif_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    src = write(tmp_path, gradient((400, 200)), "JPEG", exif=exif.tobytes())
    result = run(tmp_path, src, "half_gray", "thumb")
    assert (result.outputs["half_gray"]["width"], result.outputs["half_gray"]["height"]) == (100, 200)
    with opened(result, "half_gray") as im:
        assert im.size == (100, 200) and 0x0112 not in im.getexif()  # metadata stripped by default
        # The gradient ran from a dark top; turned clockwise, the dark side is on the right.
        assert im.getpixel((5, 100)) > im.getpixel((95, 100)) + 100


@pytest.mark.parametrize("mode, colour, expected", [
    ("RGBA", (0, 0, 0, 0), 255),      # fully transparent black: white
    ("RGBA", (0, 0, 0, 128), 127),    # half-transparent black: mid gray
    ("RGBA", (255, 0, 0, 255), 76),   # opaque red: its luma
    ("LA", (0, 0), 255),
])
def test_transparency_goes_on_white_for_jpeg(tmp_path, mode, colour, expected):
    src = write(tmp_path, Image.new(mode, (65, 64), colour), "PNG")
    result = run(tmp_path, src, "half_gray")
    with opened(result, "half_gray") as out:
        low, high = out.getextrema()
        assert out.size == (32, 32) and abs(low - expected) <= 2 and abs(high - expected) <= 2


def test_alpha_is_kept_by_formats_that_have_it(tmp_path):
    im = Image.new("RGBA", (200, 100), (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (100, 0, 200, 100))
    src = write(tmp_path, im, "PNG")
    result = run(tmp_path, src, "web", recipe("png", [{"resize": {"scale": 50}}], format="png"))
    for name in ("web", "png"):
        with opened(result, name) as out:
            assert out.mode == "RGBA"
            assert out.getpixel((10, 10))[3] == 255 and out.getpixel((out.width - 5, 10))[3] == 0


def test_palette_transparency(tmp_path):
    im = Image.new("P", (40, 40), 0)
    im.putpalette([0, 0, 0, 255, 255, 255])
    src = tmp_path / "in.gif"
    im.save(src, "GIF", transparency=0)  # the black index is transparent
    with opened(run(tmp_path, src, "half_gray"), "half_gray") as out:
        assert out.getextrema()[0] > 250


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "WEBP", "TIFF", "BMP"])
def test_other_input_formats(tmp_path, fmt):
    src = write(tmp_path, gradient((99, 51)), fmt)
    assert run(tmp_path, src, "half_gray").outputs["half_gray"]["width"] == 49


def test_cmyk_jpeg(tmp_path):
    src = write(tmp_path, Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG")  # pure red in CMYK
    result = run(tmp_path, src, "thumb")
    with opened(result, "thumb") as out:
        r, g, b = out.convert("RGB").getpixel((150, 100))
        assert out.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_sixteen_bit_png(tmp_path):
    im = Image.linear_gradient("L").resize((256, 64)).point(lambda v: v * 257, "I").convert("I;16")
    src = tmp_path / "in.png"
    im.save(src)
    with Image.open(src) as check:
        assert check.mode in ("I;16", "I")
    result = run(tmp_path, src, "thumb")
    with opened(result, "thumb") as out:
        low, high = out.convert("L").getextrema()
        assert low < 10 and high > 245  # scaled to 8 bits, not clipped to white


def test_multi_frame_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (64, 64), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100)
    result = run(tmp_path, src, "thumb")
    assert result.source["frames"] == 3
    with opened(result, "thumb") as out:
        r, g, b = out.convert("RGB").getpixel((32, 32))
        assert r > 200 and b < 60


def test_png_and_webp_through_opencv_keep_alpha_and_drop_an_opaque_one(tmp_path):
    """OpenCV decodes plain PNG and WebP: 16-bit RGBA keeps its high byte and its transparency (laid on
    white for JPEG, kept by WebP); an alpha that is opaque everywhere is dropped."""
    import cv2
    import numpy as np

    bgra = np.zeros((64, 66, 4), np.uint16)
    bgra[:, :, 2] = 65535  # red
    bgra[:, :, 3] = 65535
    bgra[:, 33:, 3] = 0  # the right half transparent
    src = tmp_path / "in16.png"
    cv2.imwrite(str(src), bgra)
    assert Image.open(src).mode == "RGBA"
    result = run(tmp_path, src, "half_gray", "thumb")
    with opened(result, "half_gray") as out:
        assert out.size == (33, 32) and abs(out.getpixel((5, 16)) - 76) <= 2 and out.getpixel((30, 16)) >= 253
    with opened(result, "thumb") as out:
        assert out.mode == "RGB" and out.getpixel((5, 16))[0] > 240 and min(out.getpixel((60, 16))) >= 250
    with opened(run(tmp_path, src, "web"), "web") as out:
        assert out.mode == "RGBA" and out.getpixel((5, 16))[3] == 255 and out.getpixel((60, 16))[3] == 0
    opaque = write(tmp_path, Image.new("RGBA", (64, 64), (0, 0, 255, 255)), "PNG", name="opaque.png")
    webp = write(tmp_path, Image.new("RGBA", (64, 64), (0, 0, 255, 255)), "WEBP", name="opaque.webp", lossless=True)
    for path in (opaque, webp):
        with opened(run(tmp_path, path, "web"), "web") as out:
            assert out.mode == "RGB" and out.getpixel((10, 10))[2] > 240


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_png_decoders_agree_with_and_without_pyvips(tmp_path, monkeypatch, mode):
    """libspng (pyvips) and OpenCV's libpng, its fallback, give the same outputs: colour, luma, and
    transparency premultiplied before the box filter (a half-transparent edge inside a 2x2 box)."""
    from image_pipeline.process import decode

    im = photo((401, 301)).convert(mode)
    if mode == "RGBA":
        alpha = Image.linear_gradient("L").resize((401, 301))
        alpha.paste(0, (0, 0, 101, 301))  # transparent on the left, a gradient elsewhere
        im.putalpha(alpha)
    src = write(tmp_path, im, "PNG")
    assert decode._spng_pixels(src) is not None  # pyvips is a dependency: the first run uses libspng
    recipes = ("half_gray", "thumb", recipe("png_half", [{"resize": {"scale": 50}}], format="png"),
               recipe("gray_q100", [{"resize": {"scale": 50}}, "grayscale"], quality=100))
    outputs = {}
    for decoder in ("libspng", "libpng"):
        if decoder == "libpng":
            monkeypatch.setattr(decode, "_spng_pixels", lambda path: None)
        result = process_image(src, [get_recipe(r) if isinstance(r, str) else r for r in recipes],
                               lambda r, prefix=decoder: tmp_path / f"{prefix}-{r.name}.{r.ext}")
        outputs[decoder] = {name: opened(result, name) for name in result.outputs}
    for name, out in outputs["libspng"].items():
        other = outputs["libpng"][name]
        assert (out.mode, out.size) == (other.mode, other.size)
        assert ImageStat.Stat(ImageChops.difference(out, other)).mean[0] < 1.0, name
    with Image.open(src) as original:  # against Pillow: laid on white at full size, then luma, then reduced
        white = Image.new("RGB", original.size, (255, 255, 255))
        white.paste(original, mask=original.getchannel("A") if mode == "RGBA" else None)
        expected = white.convert("L").reduce(2)
    for decoder in outputs:
        assert ImageStat.Stat(ImageChops.difference(outputs[decoder]["gray_q100"], expected)).mean[0] < 1.0, decoder


def test_gray_recipes_with_features_get_luma_and_the_features_colour(tmp_path):
    from image_pipeline.process.features import extract_features

    im = Image.new("RGB", (1200, 800), (200, 30, 30))
    for fmt in ("JPEG", "PNG", "WEBP"):
        src = write(tmp_path, im, fmt)
        result = run(tmp_path, src, "half_gray", features=lambda im, exif: extract_features(im, exif))
        with opened(result, "half_gray") as out:
            assert out.mode == "L" and out.size == (600, 400) and abs(out.getpixel((10, 10)) - 81) <= 3
        red = result.features["dominant_colors"][0]
        assert int(red[1:3], 16) > 180 and int(red[3:5], 16) < 60, fmt


def test_tiny_images_stay_at_least_one_pixel(tmp_path):
    src = write(tmp_path, gradient((1, 1)), "PNG")
    assert run(tmp_path, src, "half_gray").outputs["half_gray"]["width"] == 1


# --- broken and hostile input -----------------------------------------------------------------------

def test_truncated_image_is_a_bad_image(tmp_path):
    data = encode(gradient((800, 600)), "JPEG")
    src = tmp_path / "in.jpg"
    src.write_bytes(data[: len(data) // 2])
    inspect_image(src.read_bytes())  # the header alone looks fine...
    with pytest.raises(BadImage, match="cannot decode"):
        run(tmp_path, src, "half_gray")  # ...the pixels are not


@pytest.mark.parametrize("data", [b"", b"plain text", b"\x89PNG\r\n\x1a\n garbage"])
def test_not_an_image(tmp_path, data):
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    with pytest.raises(BadImage):
        run(tmp_path, src, "half_gray")


def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch):
    src = write(tmp_path, gradient((2000, 2000)), "PNG")
    monkeypatch.setattr(SourceImage, "decode", lambda *a: pytest.fail("decoded a refused image"))
    with pytest.raises(BadImage, match="too many pixels"):
        run(tmp_path, src, "half_gray", limits=Limits(max_pixels=1_000_000))


def test_frame_limit(tmp_path):
    frames = [Image.new("L", (8, 8), i * 20) for i in range(5)]
    src = tmp_path / "anim.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:])
    with pytest.raises(BadImage, match="too many frames"):
        run(tmp_path, src, "half_gray", limits=Limits(max_frames=4))


def test_time_limit(tmp_path, monkeypatch):
    src = write(tmp_path, gradient((64, 64)), "PNG")
    slow = OPERATIONS["grayscale"]
    monkeypatch.setitem(OPERATIONS, "grayscale", dataclasses.replace(
        slow, apply=lambda im, ctx: (time.sleep(0.3), im.convert("L"))[1]))
    with pytest.raises(BadImage, match="time limit"):
        run(tmp_path, src, "half_gray", limits=Limits(time_limit=0.2))


# --- output options ---------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt, pil", [("jpeg", "JPEG"), ("png", "PNG"), ("webp", "WEBP"), ("avif", "AVIF")]
                         + ([("heif", "HEIF")] if heif_available() else []))
def test_output_formats(tmp_path, fmt, pil):
    if fmt == "heif":
        import pillow_heif

        pillow_heif.register_heif_opener()
    src = write(tmp_path, photo((300, 200)), "PNG")
    result = run(tmp_path, src, recipe("o", [{"resize": {"width": 150}}], format=fmt))
    with opened(result, "o") as out:
        assert out.format == pil and out.size == (150, 100)


def test_target_size_is_met_with_few_encodes(tmp_path):
    src = write(tmp_path, photo((1600, 1200)), "PNG")
    plain = run(tmp_path, src, recipe("plain", quality=92)).outputs["plain"]
    target = plain["bytes"] // 3
    out = run(tmp_path, src, recipe("small", quality=92, target_bytes=target, min_quality=5)).outputs["small"]
    assert out["bytes"] <= target and out["target_met"] and out["quality"] < 92
    assert out["encodes"] <= 6
    # The quality found is the highest that fits: one step up does not.
    im = Image.open(src).convert("RGB")
    spec = recipe("x", quality=out["quality"] + 1, format="jpeg").output
    assert len(encode_output(im, spec, out["quality"] + 1)) > target


def test_unreachable_target_reports_the_nearest(tmp_path):
    src = write(tmp_path, photo((800, 600)), "PNG")
    out = run(tmp_path, src, recipe("tiny", target_bytes=100, min_quality=20)).outputs["tiny"]
    assert out["target_met"] is False and out["quality"] == 20 and out["bytes"] > 100


def test_metadata_strip_or_keep(tmp_path):
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0112] = 6
    src = write(tmp_path, gradient((200, 100)), "JPEG", exif=exif.tobytes())
    result = run(tmp_path, src, recipe("strip", ["auto_orient"]), recipe("keep", ["auto_orient"], metadata="keep"))
    with opened(result, "strip") as stripped, opened(result, "keep") as kept:
        assert 0x010F not in stripped.getexif()
        assert kept.getexif()[0x010F] == "TestCam" and kept.getexif()[0x0112] == 1  # upright now


def test_colour_profile_converted_to_srgb_or_kept(tmp_path):
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))  # any non-sRGB profile will do
    adobe_like = ImageCms.createProfile("sRGB")
    icc = ImageCms.ImageCmsProfile(adobe_like).tobytes()
    assert lab  # profile creation works here
    src = write(tmp_path, photo((100, 100)), "JPEG", icc_profile=icc)
    result = run(tmp_path, src, recipe("keep", metadata="keep", color_profile="keep"),
                 recipe("srgb", metadata="keep"))
    with opened(result, "keep") as kept, opened(result, "srgb") as converted:
        assert kept.info.get("icc_profile") == icc
        assert "icc_profile" not in converted.info


# --- recipes and operations ---------------------------------------------------------------------------

@pytest.mark.parametrize("spec, message", [
    ({"name": "bad name"}, "identifier"),
    ({"name": "x", "version": 0}, "version"),
    ({"name": "x", "operations": ["explode"]}, "unknown operation"),
    ({"name": "x", "operations": [{"resize": {"scale": "half"}}]}, "wrong type"),
    ({"name": "x", "operations": [{"resize": {"sideways": 1}}]}, "unknown parameter"),
    ({"name": "x", "output": {"format": "gif"}}, "format"),
    ({"name": "x", "output": {"quality": 101}}, "quality"),
    ({"name": "x", "output": {"format": "png", "target_bytes": 1000}}, "lossy"),
    ({"name": "x", "colour": True}, "unknown key"),
])
def test_bad_recipes_are_refused(spec, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(spec)


def test_fingerprint_follows_the_definition():
    a = recipe("a", [{"resize": {"scale": 50}}])
    assert a.fingerprint == recipe("a", [{"resize": {"scale": 50}}]).fingerprint
    assert a.fingerprint != recipe("a", [{"resize": {"scale": 40}}]).fingerprint
    assert a.fingerprint != recipe("a", [{"resize": {"scale": 50}}], quality=70).fingerprint


OPERATION_PARAMS = {
    "resize": {"width": 120, "height": 120, "mode": "fill", "focus": "entropy"},
    "crop": {"aspect": "1:1", "focus": "face"},
    "rotate": {"angle": 30},
    "watermark": {"text": "(c) test"},
    "blur": {"radius": 3},
    "style_transfer": {"style": "style-02"},
}


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_operation_runs_on_every_mode(tmp_path, name):
    params = OPERATION_PARAMS.get(name, {})
    for mode in ("RGB", "RGBA", "L"):
        src = write(tmp_path, photo((240, 160)).convert(mode), "PNG", name=f"in-{mode}.png")
        result = run(tmp_path, src, recipe("op", [{name: params}], format="png"))
        out = result.outputs["op"]
        assert out["width"] > 0 and out["height"] > 0 and name in out["timings"]
        with opened(result, "op") as im:
            assert im.mode in ("L", "LA", "RGB", "RGBA")


def test_crop_box_is_in_original_pixels_whatever_the_decode_scale(tmp_path):
    src = write(tmp_path, photo((1600, 1200)), "JPEG", quality=95)
    r = recipe("c", [{"resize": {"scale": 25}}, {"crop": {"box": [0, 0, 200, 100]}}])
    out = run(tmp_path, src, r).outputs["c"]
    assert (out["width"], out["height"]) == (50, 25)  # a quarter of the box, like the rest of the image
    r = recipe("c", [{"crop": {"box": [400, 0, 1200, 600]}}, {"resize": {"scale": 25}}])
    out = run(tmp_path, src, r).outputs["c"]
    assert (out["width"], out["height"]) == (200, 150)


def test_fill_crop_gives_the_exact_box(tmp_path):
    src = write(tmp_path, photo((1000, 400)), "JPEG")
    for focus in ("center", "entropy", "face", "subject"):
        r = recipe("sq", [{"resize": {"width": 200, "height": 200, "mode": "fill", "focus": focus}}])
        out = run(tmp_path, src, r).outputs["sq"]
        assert (out["width"], out["height"]) == (200, 200)


def test_entropy_crop_finds_the_detail(tmp_path):
    im = Image.new("L", (900, 300), 128)
    im.paste(Image.effect_noise((200, 300), 100), (650, 0))  # all the detail on the right
    src = write(tmp_path, im.convert("RGB"), "PNG")
    r = recipe("e", [{"crop": {"aspect": "1:1", "focus": "entropy"}}], format="png")
    with opened(run(tmp_path, src, r), "e") as out:
        assert out.size == (300, 300)
        assert ImageStat.Stat(out.convert("L").crop((200, 0, 300, 300))).stddev[0] > 20


def test_grayscale_then_sepia_and_filters_change_pixels(tmp_path):
    src = write(tmp_path, photo((200, 200)), "PNG")
    base = run(tmp_path, src, recipe("base", format="png"))
    for name in ("sepia", "edges", "emboss", "equalize", "clahe", "stylize", "pencil_sketch", "blur"):
        result = run(tmp_path, src, recipe(name, [name], format="png"))
        with opened(base, "base") as a, opened(result, name) as b:
            assert sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) > 1, name


def test_background_removal_makes_the_border_transparent(tmp_path):
    im = Image.new("RGB", (200, 200), (30, 120, 200))
    im.paste((250, 200, 20), (60, 60, 140, 140))
    src = write(tmp_path, im, "PNG")
    with opened(run(tmp_path, src, recipe("cut", ["remove_background"], format="png")), "cut") as out:
        assert out.mode == "RGBA" and out.getpixel((5, 5))[3] == 0 and out.getpixel((100, 100))[3] == 255


def test_encode_to_target_keeps_quality_when_it_fits():
    im = photo((100, 100))
    spec = recipe("x", quality=80, target_bytes=10_000_000).output
    data, quality, met, encodes = encode_to_target(im, spec, {})
    assert (quality, met, encodes) == (80, True, 1)
