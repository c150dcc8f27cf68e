"""Geometry: orientation, resize, crop (by box, aspect, entropy or faces), rotate, flip."""

from __future__ import annotations

import math
from typing import Any

from PIL import Image, ImageFilter

from image_pipeline.process.operations.base import (ALPHA_MODES, KEEPS_SIZE, NUM, UNKNOWN_SIZE, Context, RecipeError,
                                                    operation, param, parse_colour, reshapes, resizes)


T = Image.Transpose
ORIENTATION_TRANSPOSE = {
    2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
    6: T.ROTATE_270, 7: T.TRANSVERSE, 8: T.ROTATE_90,
}


def _oriented(size: tuple[int, int], params: dict[str, Any], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


@operation("auto_orient", geometry=reshapes(_oriented), colour="any", alpha_neutral=True)
def auto_orient(im: Image.Image, ctx: Context) -> Image.Image:
    """Turn the pixels upright by the source's EXIF orientation (the output's tag is then 1)."""
    ctx.oriented = True
    if ctx.orientation in (5, 6, 7, 8):
        ctx.scale, ctx.scale_y = ctx.scale_y, ctx.scale
    transpose = ORIENTATION_TRANSPOSE.get(ctx.orientation)
    return im.transpose(transpose) if transpose is not None else im


def resize_target(size: tuple[int, int], p: dict[str, Any]) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """(size to resample to, crop box size after it or None) for an image of ``size``."""
    w, h = size
    if p["scale"] is not None:
        f = p["scale"] / 100
        return (max(1, round(w * f)), max(1, round(h * f))), None
    box_w = p["width"] or p["longest"] or 0
    box_h = p["height"] or p["longest"] or 0
    if p["mode"] == "fill":
        if not (box_w and box_h):
            raise RecipeError("resize: mode fill needs width and height")
        f = max(box_w / w, box_h / h)
    else:  # fit inside the box; a missing side does not constrain
        f = min(box_w / w if box_w else math.inf, box_h / h if box_h else math.inf)
    if f > 1 and not p["upscale"]:
        f = 1.0
    target = (max(1, round(w * f)), max(1, round(h * f)))
    if p["mode"] == "fill":
        return target, (min(box_w, target[0]), min(box_h, target[1]))
    return target, None


def shrink(im: Image.Image, target: tuple[int, int], resample=Image.Resampling.LANCZOS) -> Image.Image:
    """``im`` at exactly ``target``, with the cheapest exact filter for the ratio.

    An exact 2:1 shrink is a 2x2 box average (``reduce``), the right anti-aliasing filter for that
    ratio and far cheaper than a general one; a draft decode of an odd size comes out one pixel
    larger than the target, and that pixel is cropped, not resampled. Alpha is premultiplied while
    resampling so transparent pixels do not bleed their colour into the edges.
    """
    width, height = target
    if im.size == target:
        return im
    if im.width >= 2 * width and im.height >= 2 * height and im.width - 2 * width <= 1 and im.height - 2 * height <= 1:
        return im.reduce(2, box=(0, 0, 2 * width, 2 * height))
    if 0 <= im.width - width <= 1 and 0 <= im.height - height <= 1:
        return im.crop((0, 0, width, height))
    premultiplied = im.mode in ("RGBA", "LA")
    if premultiplied:
        im = im.convert("RGBa" if im.mode == "RGBA" else "La")
    out = im.resize(target, resample, reducing_gap=3.0)
    return out.convert("RGBA" if out.mode == "RGBa" else "LA") if premultiplied else out


def resize_need(size: tuple[int, int], p: dict[str, Any]) -> float:
    """The fraction of its input's resolution a resize needs: its scale, or its target's."""
    if p["scale"] is not None:
        return p["scale"] / 100
    (tw, th), _ = resize_target(size, p)
    return max(tw / size[0], th / size[1])


RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
            "bilinear": Image.Resampling.BILINEAR, "box": Image.Resampling.BOX, "nearest": Image.Resampling.NEAREST}


FOCUSES = ("center", "entropy", "face", "subject")
FOCUS = param(str, "center", choices=FOCUSES,
              description="Where the window goes: the centre, the most detail, the faces, or the salient subject.")


@operation("resize", geometry=resizes(resize_need), colour="any",
           alpha_neutral=lambda p: p["focus"] == "center",  # the other focuses look at the pixels
           scale=param(NUM, None, min=1, max=200, step=1, title="Scale (%)",
                       description="A percentage of the original size (instead of a box)."),
           width=param(int, None, min=1, max=10000, description="Output width in pixels."),
           height=param(int, None, min=1, max=10000, description="Output height in pixels."),
           longest=param(int, None, min=1, max=10000, title="Longest side",
                         description="The longest side in pixels (instead of width and height)."),
           mode=param(str, "fit", choices=("fit", "fill"),
                      description="fit: inside the box; fill: cover the box and crop the overflow."),
           upscale=param(bool, False, description="Let it enlarge smaller images."),
           focus=FOCUS,
           filter=param(str, "lanczos", choices=("lanczos", "bicubic", "bilinear", "box", "nearest"),
                        description="The resampling filter."))
def resize(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Scale by a percentage, fit inside a box (``width``/``height``, or ``longest`` side), or fill a
    box and crop the overflow (``mode: fill``, cropped around ``focus``: center, entropy, face or subject).
    Never upscales unless ``upscale`` is true. Sizes are of the output; a scale is of the original."""
    if p["scale"] is not None:
        # A percentage of the original, whatever the decode scale (rounded down, as the seed's w // 2).
        f = p["scale"] / 100 if p["scale"] <= 100 or p["upscale"] else 1.0
        target = (max(1, math.floor(im.width / ctx.scale * f + 1e-6)),
                  max(1, math.floor(im.height / ctx.scale_y * f + 1e-6)))
        crop = None
    else:
        target, crop = resize_target(im.size, p)
    before = im.size
    im = shrink(im, target, RESAMPLE[p["filter"]])
    ctx.scale *= im.width / before[0]
    ctx.scale_y *= im.height / before[1]
    if crop is not None and crop != im.size:
        im = crop_to(im, crop, p["focus"], ctx)
    return im


def crop_to(im: Image.Image, size: tuple[int, int], focus: str, ctx: Context | None = None) -> Image.Image:
    """A ``size`` window of ``im``, placed around the chosen focus (``subject``: the salient subject's
    mask, :func:`~.learned.subject_origin`; entropy without the model)."""
    if focus not in FOCUSES:
        raise RecipeError(f"focus is one of {', '.join(FOCUSES)}")
    w, h = min(size[0], im.width), min(size[1], im.height)
    origin = None
    if focus == "subject":
        from image_pipeline.process.operations.learned import subject_origin

        origin = subject_origin(im, w, h, ctx)
    if origin is not None:
        left, top = origin
    elif focus in ("entropy", "subject"):
        left, top = _entropy_origin(im, w, h)
    elif focus == "face":
        left, top = _face_origin(im, w, h)
    else:
        left, top = (im.width - w) // 2, (im.height - h) // 2
    return im.crop((left, top, left + w, top + h))


def _entropy_origin(im: Image.Image, w: int, h: int) -> tuple[int, int]:
    """Where the window keeps the most detail: slide along the axis with room, on a small copy,
    scoring each position by the entropy of the edges inside it."""
    small_side = 128
    f = min(1.0, small_side / max(im.size))
    small = im.convert("L").resize((max(1, round(im.width * f)), max(1, round(im.height * f))))
    edges = small.filter(ImageFilter.FIND_EDGES)
    sw, sh = max(1, round(w * f)), max(1, round(h * f))
    best, best_xy = -1.0, (0, 0)
    step = 2
    for x in range(0, max(1, small.width - sw + 1), step):
        for y in range(0, max(1, small.height - sh + 1), step):
            score = edges.crop((x, y, x + sw, y + sh)).entropy()
            if score > best:
                best, best_xy = score, (x, y)
    left = min(im.width - w, round(best_xy[0] / f))
    top = min(im.height - h, round(best_xy[1] / f))
    return max(0, left), max(0, top)


def detect_faces(im: Image.Image, max_side: int = 640) -> list[tuple[int, int, int, int]]:
    """Frontal faces (the features' Haar cascade) as (x, y, w, h) boxes in ``im``'s pixels,
    looked for on a copy at most ``max_side`` pixels a side."""
    import numpy as np

    from image_pipeline.process.features import face_boxes

    f = min(1.0, max_side / max(im.size))
    small = im.convert("L")
    if f < 1.0:
        small = small.resize((max(1, round(im.width * f)), max(1, round(im.height * f))), Image.Resampling.BILINEAR)
    return [tuple(round(v / f) for v in box) for box in face_boxes(np.asarray(small))]  # type: ignore[misc]


def _face_origin(im: Image.Image, w: int, h: int) -> tuple[int, int]:
    faces = detect_faces(im)
    if not faces:
        return _entropy_origin(im, w, h)
    left = min(x for x, _, _, _ in faces)
    right = max(x + fw for x, _, fw, _ in faces)
    top = min(y for _, y, _, _ in faces)
    bottom = max(y + fh for _, y, _, fh in faces)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    x = int(min(max(0, cx - w / 2), im.width - w))
    y = int(min(max(0, cy - h / 2), im.height - h))
    return x, y


# A width x height window is in output pixels, not scaled with the decode, and a resize after a crop
# may enlarge it: a crop is planned at full scale.
@operation("crop", geometry=UNKNOWN_SIZE, colour="any",
           box=param(list, None, kind="box", title="Box",
                     description="[left, top, right, bottom] in original pixels (drawn on the image)."),
           width=param(int, None, min=1, max=10000, description="A window this wide (output pixels)."),
           height=param(int, None, min=1, max=10000, description="A window this high (output pixels)."),
           aspect=param(str, None, description='The largest window of this ratio, e.g. "16:9".'),
           focus=FOCUS)
def crop(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """A ``box`` [left, top, right, bottom] in original pixels, or a ``width`` x ``height`` window
    (output pixels), or the largest window of an ``aspect`` ratio such as ``"16:9"``, placed by
    ``focus``: center, entropy (most detail), face (OpenCV's cascade, entropy when none is found) or
    subject (the salient subject's mask, U²-Net-p; entropy without it)."""
    if p["box"] is not None:
        if len(p["box"]) != 4:
            raise RecipeError("crop: box is [left, top, right, bottom]")
        left, right = (round(v * ctx.scale) for v in p["box"][0::2])
        top, bottom = (round(v * ctx.scale_y) for v in p["box"][1::2])
        box = (max(0, left), max(0, top), min(im.width, right), min(im.height, bottom))
        if box[2] <= box[0] or box[3] <= box[1]:
            raise RecipeError(f"crop: box {p['box']} is outside the image")
        return im.crop(box)
    if p["aspect"] is not None:
        a, b = (float(v) for v in p["aspect"].split(":"))
        if im.width / im.height > a / b:
            size = (max(1, round(im.height * a / b)), im.height)
        else:
            size = (im.width, max(1, round(im.width * b / a)))
    elif p["width"] and p["height"]:
        size = (p["width"], p["height"])
    else:
        raise RecipeError("crop: give box, aspect, or width and height")
    return crop_to(im, size, p["focus"], ctx)


def _turned(size: tuple[int, int], params: dict[str, Any], orientation: int) -> tuple[int, int]:
    """A quarter turn swaps the sides; another angle is planned on the input's size (a turn that grows
    the canvas only makes the decode larger than needed, never too small)."""
    return (size[1], size[0]) if params["angle"] % 180 == 90 else size


@operation("rotate", geometry=reshapes(_turned), colour="any",
           angle=param(NUM, 90, min=-360, max=360, step=1, description="Degrees, counter-clockwise."),
           expand=param(bool, True, description="Grow the canvas to hold the whole turned image."),
           fill=param(str, "#ffffff", kind="color", description="The colour of the corners a turn uncovers."))
def rotate(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Counter-clockwise by ``angle`` degrees; quarter turns are exact transposes."""
    quarter = {90: T.ROTATE_90, 180: T.ROTATE_180, 270: T.ROTATE_270}
    angle = p["angle"] % 360
    if angle == 0:
        return im
    if angle in quarter:
        if angle != 180:
            ctx.scale, ctx.scale_y = ctx.scale_y, ctx.scale
        return im.transpose(quarter[angle])
    fill = None if im.mode in ALPHA_MODES else parse_colour(p["fill"], im.mode)
    return im.rotate(angle, Image.Resampling.BICUBIC, expand=p["expand"], fillcolor=fill)


@operation("flip", geometry=KEEPS_SIZE, colour="any", alpha_neutral=True,
           direction=param(str, "horizontal", choices=("horizontal", "vertical"),
                           description="Mirror left-right or top-bottom."))
def flip(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Mirror the image."""
    if p["direction"] not in ("horizontal", "vertical"):
        raise RecipeError("flip: direction is horizontal or vertical")
    return im.transpose(T.FLIP_LEFT_RIGHT if p["direction"] == "horizontal" else T.FLIP_TOP_BOTTOM)

