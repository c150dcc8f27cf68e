"""A new operation is one decorated function: what it declares where it is registered (how it changes
the size, what it does with colour) is all the decode's planning needs to decode it at the right scale,
and one that declares nothing is decoded at full scale, in colour."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from image_pipeline.process.decode import SourceImage
from image_pipeline.process.engine import process_image
from image_pipeline.process.operations import KEEPS_SIZE, OPERATIONS, Context, operation, reshapes
from image_pipeline.process.recipes import parse_recipe


@pytest.fixture
def decodes(monkeypatch):
    """The size of every decode the engine makes."""
    sizes = []
    real = SourceImage.decode

    def spy(source, *args, **kwargs):
        out = real(source, *args, **kwargs)
        sizes.append(out.size)
        return out

    monkeypatch.setattr(SourceImage, "decode", spy)
    return sizes


def smooth(size) -> Image.Image:
    """Colour that varies slowly: a reduced decode and a full one resampled agree on it to rounding."""
    r = Image.linear_gradient("L").resize(size)
    g = Image.radial_gradient("L").resize(size)
    return Image.merge("RGB", (r, g, r.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))


def source(tmp_path, size):
    path = tmp_path / "in.png"
    smooth(size).save(path)
    return path


def processed(tmp_path, src, steps) -> Image.Image:
    recipe = parse_recipe({"name": "t", "operations": steps, "output": {"format": "png"}})
    result = process_image(src, [recipe], lambda r: tmp_path / f"out.{r.ext}")
    with Image.open(result.outputs["t"]["path"]) as out:
        out.load()
        return out


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


def centre_square(im: Image.Image, ctx: Context) -> Image.Image:
    """The largest centred square (scale-aware: its side is the decode's shorter side)."""
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    return im.crop((left, top, left + side, top + side))


def test_a_crop_that_declares_its_size_is_decoded_small_enough_and_no_smaller(tmp_path, registry, decodes):
    operation("centre_square", geometry=reshapes(lambda size, params, orientation: (min(size),) * 2),
              colour="any")(centre_square)
    steps = ["centre_square", {"resize": {"longest": 400}}]
    recipe = parse_recipe({"name": "t", "operations": steps})
    # 400 of the square's 1600 pixels a side: a quarter, where the source's 2400 would say a sixth
    assert recipe.needed_scale((2400, 1600), 1) == 0.25
    src = source(tmp_path, (2400, 1600))

    out = processed(tmp_path, src, steps)

    assert decodes == [(600, 400)]  # the box reduce by 4, not 6 (400 pixels a side left for the square)
    with Image.open(src) as full:  # the same chain on a full-resolution decode
        reference = centre_square(full.convert("RGB"), Context()).resize((400, 400), Image.Resampling.LANCZOS)
    assert out.size == reference.size == (400, 400)
    assert mean_difference(out, reference) < 1.5


def test_the_same_crop_declared_as_keeping_the_size_would_be_decoded_too_small(tmp_path, registry, decodes):
    """What the declaration is for: planned on the source's size, the square comes out smaller than asked."""
    operation("centre_square", geometry=KEEPS_SIZE, colour="any")(centre_square)
    steps = ["centre_square", {"resize": {"longest": 400}}]
    assert parse_recipe({"name": "t", "operations": steps}).needed_scale((2400, 1600), 1) == 267 / 1600  # 400 x 267
    out = processed(tmp_path, source(tmp_path, (2400, 1600)), steps)
    (_, height), = decodes
    assert height < 400 and out.size == (height, height)  # not the 400 x 400 asked for


def test_an_enlargement_that_declares_its_size_is_decoded_at_its_share(tmp_path, registry, decodes):
    @operation("double", geometry=reshapes(lambda size, params, orientation: (2 * size[0], 2 * size[1])),
               colour="any")
    def double(im: Image.Image, ctx: Context) -> Image.Image:
        """Twice the size."""
        ctx.scale, ctx.scale_y = 2 * ctx.scale, 2 * ctx.scale_y
        return im.resize((2 * im.width, 2 * im.height), Image.Resampling.BICUBIC)

    steps = ["double", {"resize": {"longest": 800}}]
    assert parse_recipe({"name": "t", "operations": steps}).needed_scale((2400, 1800), 1) == pytest.approx(1 / 6)
    src = source(tmp_path, (2400, 1800))

    out = processed(tmp_path, src, steps)

    assert decodes == [(400, 300)]  # a sixth, not the third the source's size alone would ask for
    with Image.open(src) as full:
        reference = double(full.convert("RGB"), Context()).resize((800, 600), Image.Resampling.LANCZOS)
    assert out.size == reference.size == (800, 600)
    assert mean_difference(out, reference) < 1.5


def test_an_operation_that_declares_nothing_is_decoded_at_full_scale_in_colour(tmp_path, registry, decodes):
    @operation("mystery")
    def mystery(im: Image.Image, ctx: Context) -> Image.Image:
        """Anything at all."""
        return im

    steps = ["mystery", {"resize": {"longest": 400}}, "grayscale"]
    recipe = parse_recipe({"name": "t", "operations": steps})
    assert recipe.needed_scale((2400, 1600), 1) == 1.0
    assert not recipe.gray_first  # it may need colour
    assert not parse_recipe({"name": "t", "operations": ["mystery", "grayscale"]}).gray_first
    assert parse_recipe({"name": "t", "operations": ["flip", "grayscale"]}).gray_first  # declared: colour any
    assert not OPERATIONS["mystery"].is_alpha_neutral({})  # transparency kept until it has run
    assert OPERATIONS["mystery"].describe()["colour"] is True

    out = processed(tmp_path, source(tmp_path, (2400, 1600)), steps)

    assert decodes == [(2400, 1600)] and out.size == (400, 267)


def test_a_registration_with_an_unknown_fact_is_refused(registry):
    with pytest.raises(ValueError, match="colour is one of"):
        operation("odd", colour="sometimes")(lambda im, ctx: im)
    with pytest.raises(TypeError, match="geometry"):
        operation("odd", geometry="keeps")(lambda im, ctx: im)
    assert "odd" not in OPERATIONS


def test_every_registered_operation_declares_its_facts():
    """The library's own operations are planned from declarations, none from the cautious defaults
    (crop declares its size unknown on purpose: see geometry.py)."""
    undeclared = [name for name, op in OPERATIONS.items()
                  if op.geometry.kind == "unknown" and name != "crop"]
    assert undeclared == []
