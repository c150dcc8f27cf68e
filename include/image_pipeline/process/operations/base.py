"""The registry of image operations a recipe can list, thumbor-style: the engine decodes and
encodes; each operation is a small function from image to image, registered under its name with
the parameters it accepts.

Operations run on whatever scale the engine decoded at (``ctx.scale``: decoded pixels per original
pixel). Parameters given in original pixels (a crop box, a blur radius) are scaled by it, so a
recipe means the same thing whatever the decode scale. A ``resize`` tells the engine how small the
decode may be (:func:`needed_scale`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from PIL import Image, ImageChops, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class RecipeError(ValueError):
    """A recipe that cannot run: unknown operation, bad parameter."""


@dataclass
class Context:
    """What an operation may know besides the pixels."""

    scale: float = 1.0  # decoded pixels per original pixel, across
    scale_y: float = 1.0  # ... and down (a reduced decode rounds each side on its own)
    orientation: int = 1  # EXIF orientation of the source (1 = upright)
    oriented: bool = False  # auto_orient has run


@dataclass(frozen=True)
class Operation:
    name: str
    apply: Callable[..., Image.Image]  # (image, ctx, **params) -> image
    params: dict[str, tuple[type | tuple[type, ...], Any]] = field(default_factory=dict)  # name -> (types, default)
    colour: bool = False  # needs colour input (a grayscale-only decode cannot serve it)

    def check(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = set(params) - set(self.params)
        if unknown:
            raise RecipeError(f"{self.name}: unknown parameter(s) {', '.join(sorted(unknown))}")
        checked = {}
        for name, (types, default) in self.params.items():
            value = params.get(name, default)
            if value is not None and not isinstance(value, types) or isinstance(value, bool) and bool not in (
                    types if isinstance(types, tuple) else (types,)):
                raise RecipeError(f"{self.name}: parameter {name} has the wrong type ({value!r})")
            checked[name] = value
        return checked


OPERATIONS: dict[str, Operation] = {}
NUM = (int, float)


def operation(name: str, colour: bool = False, **params: tuple[Any, Any]):
    def register(fn: Callable[..., Image.Image]) -> Callable[..., Image.Image]:
        OPERATIONS[name] = Operation(name, fn, params, colour)
        return fn
    return register


def _rgb(im: Image.Image) -> Image.Image:
    """RGB or RGBA: what colour operations work on."""
    if im.mode in ("RGB", "RGBA"):
        return im
    return im.convert("RGBA" if im.mode in ALPHA_MODES else "RGB")


def _keep_alpha(im: Image.Image, fn: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Apply ``fn`` to the colour channels only; the alpha channel is carried over untouched."""
    if im.mode in ALPHA_MODES:
        alpha = im.getchannel("A")
        out = fn(im.convert("RGB" if im.mode != "LA" else "L"))
        out.putalpha(alpha)
        return out
    return fn(im)


# --- geometry ------------------------------------------------------------------------------------

T = Image.Transpose
ORIENTATION_TRANSPOSE = {
    2: T.FLIP_LEFT_RIGHT, 3: T.ROTATE_180, 4: T.FLIP_TOP_BOTTOM, 5: T.TRANSPOSE,
    6: T.ROTATE_270, 7: T.TRANSVERSE, 8: T.ROTATE_90,
}


@operation("auto_orient")
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


RESAMPLE = {"lanczos": Image.Resampling.LANCZOS, "bicubic": Image.Resampling.BICUBIC,
            "bilinear": Image.Resampling.BILINEAR, "box": Image.Resampling.BOX, "nearest": Image.Resampling.NEAREST}


@operation("resize", scale=(NUM, None), width=(int, None), height=(int, None), longest=(int, None),
           mode=(str, "fit"), upscale=(bool, False), focus=(str, "center"), filter=(str, "lanczos"))
def resize(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Scale by a percentage, fit inside a box (``width``/``height``, or ``longest`` side), or fill a
    box and crop the overflow (``mode: fill``, cropped around ``focus``: center, entropy or face).
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
        im = crop_to(im, crop, p["focus"])
    return im


def crop_to(im: Image.Image, size: tuple[int, int], focus: str) -> Image.Image:
    """A ``size`` window of ``im``, placed around the chosen focus."""
    w, h = min(size[0], im.width), min(size[1], im.height)
    if focus == "entropy":
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

    from image_pipeline.features import face_boxes

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


@operation("crop", box=(list, None), width=(int, None), height=(int, None), aspect=(str, None), focus=(str, "center"))
def crop(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """A ``box`` [left, top, right, bottom] in original pixels, or a ``width`` x ``height`` window
    (output pixels), or the largest window of an ``aspect`` ratio such as ``"16:9"``, placed by
    ``focus``: center, entropy (most detail) or face (OpenCV's cascade, entropy when none is found)."""
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
    return crop_to(im, size, p["focus"])


@operation("rotate", angle=(NUM, 90), expand=(bool, True), fill=(str, "#ffffff"))
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
    fill = None if im.mode in ALPHA_MODES else _colour(p["fill"], im.mode)
    return im.rotate(angle, Image.Resampling.BICUBIC, expand=p["expand"], fillcolor=fill)


@operation("flip", direction=(str, "horizontal"))
def flip(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    if p["direction"] not in ("horizontal", "vertical"):
        raise RecipeError("flip: direction is horizontal or vertical")
    return im.transpose(T.FLIP_LEFT_RIGHT if p["direction"] == "horizontal" else T.FLIP_TOP_BOTTOM)


# --- colour and filters --------------------------------------------------------------------------

@operation("grayscale")
def grayscale(im: Image.Image, ctx: Context) -> Image.Image:
    if im.mode in ("L", "LA"):
        return im  # converting would only copy it
    return im.convert("LA" if im.mode in ALPHA_MODES else "L")


@operation("blur", radius=(NUM, 2))
def blur(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Gaussian blur; ``radius`` in original pixels."""
    return im.filter(ImageFilter.GaussianBlur(p["radius"] * ctx.scale))


@operation("sharpen")
def sharpen(im: Image.Image, ctx: Context) -> Image.Image:
    return _keep_alpha(im, lambda x: x.filter(ImageFilter.SHARPEN))


@operation("unsharp_mask", radius=(NUM, 2), percent=(int, 150), threshold=(int, 3))
def unsharp_mask(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    return _keep_alpha(im, lambda x: x.filter(ImageFilter.UnsharpMask(p["radius"], p["percent"], p["threshold"])))


@operation("edges", method=(str, "canny"), low=(int, 100), high=(int, 200))
def edges(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Edge detection: OpenCV's Canny (``method: canny``) or Pillow's FIND_EDGES kernel."""
    if p["method"] == "kernel":
        return im.convert("L").filter(ImageFilter.FIND_EDGES)
    import cv2
    import numpy as np

    return Image.fromarray(cv2.Canny(np.asarray(im.convert("L")), p["low"], p["high"]))


@operation("emboss")
def emboss(im: Image.Image, ctx: Context) -> Image.Image:
    return _keep_alpha(im, lambda x: x.filter(ImageFilter.EMBOSS))


@operation("contour")
def contour(im: Image.Image, ctx: Context) -> Image.Image:
    return _keep_alpha(im, lambda x: x.filter(ImageFilter.CONTOUR))


@operation("sepia", colour=False)
def sepia(im: Image.Image, ctx: Context) -> Image.Image:
    def tone(x: Image.Image) -> Image.Image:
        return ImageOps.colorize(x.convert("L"), black="#2e1f0f", white="#fff5e0", mid="#a8845c")
    return _keep_alpha(im, tone)


def _enhancer(cls):
    def apply(im: Image.Image, ctx: Context, factor: float) -> Image.Image:
        return _keep_alpha(im, lambda x: cls(x).enhance(factor))
    return apply


operation("brightness", factor=(NUM, 1.2))(_enhancer(ImageEnhance.Brightness))
operation("contrast", factor=(NUM, 1.2))(_enhancer(ImageEnhance.Contrast))
operation("saturation", colour=True, factor=(NUM, 1.2))(_enhancer(ImageEnhance.Color))


@operation("equalize")
def equalize(im: Image.Image, ctx: Context) -> Image.Image:
    """Histogram equalisation (of luma only for colour images, so hues stay)."""
    def eq(x: Image.Image) -> Image.Image:
        if x.mode == "L":
            return ImageOps.equalize(x)
        y, cb, cr = x.convert("YCbCr").split()
        return Image.merge("YCbCr", (ImageOps.equalize(y), cb, cr)).convert("RGB")
    return _keep_alpha(im, eq)


@operation("clahe", clip_limit=(NUM, 2.0), tile=(int, 8))
def clahe(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Contrast-limited adaptive histogram equalisation (OpenCV), on luma."""
    import cv2
    import numpy as np

    engine = cv2.createCLAHE(clipLimit=float(p["clip_limit"]), tileGridSize=(p["tile"], p["tile"]))

    def eq(x: Image.Image) -> Image.Image:
        if x.mode == "L":
            return Image.fromarray(engine.apply(np.asarray(x)))
        y, cb, cr = x.convert("YCbCr").split()
        return Image.merge("YCbCr", (Image.fromarray(engine.apply(np.asarray(y))), cb, cr)).convert("RGB")
    return _keep_alpha(im, eq)


def _cv_rgb(im: Image.Image, fn: Callable[[Any], Any]) -> Image.Image:
    """Run an OpenCV colour function (BGR arrays) on a Pillow image; alpha carried over."""
    import cv2
    import numpy as np

    def run(x: Image.Image) -> Image.Image:
        bgr = cv2.cvtColor(np.asarray(x.convert("RGB")), cv2.COLOR_RGB2BGR)
        out = fn(bgr)
        if out.ndim == 2:
            return Image.fromarray(out)
        return Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
    return _keep_alpha(_rgb(im), run)


@operation("stylize", colour=True, sigma_s=(NUM, 60), sigma_r=(NUM, 0.45))
def stylize(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """OpenCV's watercolour-like stylization."""
    import cv2

    return _cv_rgb(im, lambda bgr: cv2.stylization(bgr, sigma_s=float(p["sigma_s"]), sigma_r=float(p["sigma_r"])))


@operation("pencil_sketch", colour=True, color=(bool, False), sigma_s=(NUM, 60), sigma_r=(NUM, 0.07),
           shade=(NUM, 0.05))
def pencil_sketch(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    import cv2

    def sketch(bgr):
        gray, colour = cv2.pencilSketch(bgr, sigma_s=float(p["sigma_s"]), sigma_r=float(p["sigma_r"]),
                                        shade_factor=float(p["shade"]))
        return colour if p["color"] else gray
    return _cv_rgb(im, sketch)


@operation("edge_preserve", colour=True, mode=(str, "recursive"), sigma_s=(NUM, 60), sigma_r=(NUM, 0.4))
def edge_preserve(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """OpenCV's edge-preserving smoothing (recursive or normalised-convolution filter), or its
    detail enhancement (``mode: detail``)."""
    import cv2

    if p["mode"] == "detail":
        return _cv_rgb(im, lambda bgr: cv2.detailEnhance(bgr, sigma_s=float(p["sigma_s"]), sigma_r=float(p["sigma_r"])))
    flags = {"recursive": cv2.RECURS_FILTER, "normalized": cv2.NORMCONV_FILTER}.get(p["mode"])
    if flags is None:
        raise RecipeError("edge_preserve: mode is recursive, normalized or detail")
    return _cv_rgb(im, lambda bgr: cv2.edgePreservingFilter(bgr, flags=flags, sigma_s=float(p["sigma_s"]),
                                                            sigma_r=float(p["sigma_r"])))


@operation("remove_background", colour=True, iterations=(int, 5), margin=(NUM, 0.05))
def remove_background(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """OpenCV GrabCut seeded with the centre of the frame as the subject (the outer ``margin`` as
    sure background); the background becomes transparent (on formats without alpha, the output's
    background colour)."""
    import cv2
    import numpy as np

    rgb = im.convert("RGB")
    f = min(1.0, 512 / max(rgb.size))  # GrabCut is iterative and slow: segment a small copy
    small = rgb.resize((max(2, round(rgb.width * f)), max(2, round(rgb.height * f))), Image.Resampling.BILINEAR)
    bgr = cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2BGR)
    mx, my = max(1, round(small.width * p["margin"])), max(1, round(small.height * p["margin"]))
    rect = (mx, my, max(1, small.width - 2 * mx), max(1, small.height - 2 * my))
    mask = np.zeros(bgr.shape[:2], np.uint8)
    cv2.grabCut(bgr, mask, rect, np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64),
                p["iterations"], cv2.GC_INIT_WITH_RECT)
    alpha = Image.fromarray(np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8))
    alpha = alpha.resize(rgb.size, Image.Resampling.BILINEAR)
    if im.mode in ALPHA_MODES:
        alpha = ImageChops.multiply(alpha, im.getchannel("A"))
    rgb.putalpha(alpha)
    return rgb


def _colour(value: str, mode: str) -> Any:
    from PIL import ImageColor

    return ImageColor.getcolor(value, mode if mode in ("RGB", "RGBA", "L", "LA") else "RGB")


POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")


@operation("watermark", text=(str, None), image=(str, None), position=(str, "bottom-right"),
           opacity=(NUM, 0.5), size=(NUM, 0.05), margin=(NUM, 0.02), color=(str, "#ffffff"))
def watermark(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Text, or an image file, in a corner or the centre. ``size`` is the text height (or the
    mark's width) as a fraction of the image's shorter (or longer) side, so it looks the same at
    every output size; ``opacity`` from 0 to 1."""
    if p["position"] not in POSITIONS:
        raise RecipeError(f"watermark: position is one of {', '.join(POSITIONS)}")
    if (p["text"] is None) == (p["image"] is None):
        raise RecipeError("watermark: give text or image")
    base = im.convert("RGBA")
    if p["text"] is not None:
        height = max(8, round(min(base.size) * p["size"]))
        font = ImageFont.load_default(size=height)
        left, top, right, bottom = font.getbbox(p["text"])
        mark = Image.new("RGBA", (right - left + 2, bottom - top + 2), (0, 0, 0, 0))
        ImageDraw.Draw(mark).text((-left + 1, -top + 1), p["text"], font=font, fill=_colour(p["color"], "RGBA"))
    else:
        with Image.open(p["image"]) as opened:
            mark = opened.convert("RGBA")
        width = max(1, round(max(base.size) * p["size"]))
        mark = mark.resize((width, max(1, round(mark.height * width / mark.width))), Image.Resampling.LANCZOS)
    mark.putalpha(mark.getchannel("A").point(lambda a: round(a * p["opacity"])))
    m = round(min(base.size) * p["margin"])
    x = {"left": m, "right": base.width - mark.width - m}.get(p["position"].split("-")[-1],
                                                            (base.width - mark.width) // 2)
    y = {"top": m, "bottom": base.height - mark.height - m}.get(p["position"].split("-")[0],
                                                              (base.height - mark.height) // 2)
    base.alpha_composite(mark, (max(0, x), max(0, y)))
    return base if im.mode in ALPHA_MODES else base.convert("RGB" if im.mode != "L" else "L")


# --- planning ------------------------------------------------------------------------------------

def needed_scale(steps: list[tuple[str, dict[str, Any]]], size: tuple[int, int], orientation: int) -> float:
    """The smallest fraction of the original resolution that ``steps`` need: the first ``resize``'s
    own scale (operations before it are scale-aware), 1.0 when there is none."""
    w, h = size
    for name, params in steps:
        if name == "auto_orient" and orientation in (5, 6, 7, 8):
            w, h = h, w
        if name == "rotate" and params["angle"] % 180 == 90:
            w, h = h, w
        if name == "crop":
            return 1.0  # conservative: a window of unknown size may be enlarged afterwards
        if name == "resize":
            if params["scale"] is not None:
                return min(1.0, params["scale"] / 100)
            (tw, th), _ = resize_target((w, h), params)
            return min(1.0, max(tw / w, th / h))
    return 1.0


def gray_first(steps: list[tuple[str, dict[str, Any]]]) -> bool:
    """True when the recipe drops colour before anything that needs it: a grayscale decode serves."""
    for name, _ in steps:
        if name == "grayscale":
            return True
        if OPERATIONS[name].colour or name in ("sepia", "watermark"):
            return False
    return False
