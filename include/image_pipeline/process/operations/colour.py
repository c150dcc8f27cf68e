"""Colour and filters: grayscale, blur, sharpen, edges, emboss, sepia, brightness, contrast,
saturation, equalize, CLAHE."""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from image_pipeline.process.operations.base import ALPHA_MODES, KEEPS_SIZE, NUM, Context, keep_alpha, operation, param


@operation("grayscale", geometry=KEEPS_SIZE, colour="drops", alpha_neutral=True)
def grayscale(im: Image.Image, ctx: Context) -> Image.Image:
    """Drop the colour (luma only; transparency kept)."""
    if im.mode in ("L", "LA"):
        return im  # converting would only copy it
    return im.convert("LA" if im.mode in ALPHA_MODES else "L")


@operation("blur", geometry=KEEPS_SIZE, colour="any",
           radius=param(NUM, 2, min=0, max=50, step=0.5, description="Gaussian radius in original pixels."))
def blur(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Gaussian blur; ``radius`` in original pixels."""
    return im.filter(ImageFilter.GaussianBlur(p["radius"] * ctx.scale))


@operation("sharpen", geometry=KEEPS_SIZE, colour="any")
def sharpen(im: Image.Image, ctx: Context) -> Image.Image:
    """Pillow's sharpening kernel."""
    return keep_alpha(im, lambda x: x.filter(ImageFilter.SHARPEN))


@operation("unsharp_mask", geometry=KEEPS_SIZE, colour="any", title="Unsharp mask",
           radius=param(NUM, 2, min=0, max=20, step=0.5, description="Blur radius of the mask."),
           percent=param(int, 150, min=0, max=500, step=5, description="Strength in percent."),
           threshold=param(int, 3, min=0, max=255, description="Smallest difference that is sharpened."))
def unsharp_mask(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Sharpen by subtracting a blurred copy."""
    return keep_alpha(im, lambda x: x.filter(ImageFilter.UnsharpMask(p["radius"], p["percent"], p["threshold"])))


@operation("edges", geometry=KEEPS_SIZE, colour="any",
           method=param(str, "canny", choices=("canny", "kernel"), description="Canny or a kernel."),
           low=param(int, 100, min=0, max=1000, description="Canny's lower threshold."),
           high=param(int, 200, min=0, max=1000, description="Canny's upper threshold."))
def edges(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Edge detection: OpenCV's Canny (``method: canny``) or Pillow's FIND_EDGES kernel."""
    if p["method"] == "kernel":
        return im.convert("L").filter(ImageFilter.FIND_EDGES)
    import cv2
    import numpy as np

    return Image.fromarray(cv2.Canny(np.asarray(im.convert("L")), p["low"], p["high"]))


@operation("emboss", geometry=KEEPS_SIZE, colour="any")
def emboss(im: Image.Image, ctx: Context) -> Image.Image:
    """Pillow's emboss kernel."""
    return keep_alpha(im, lambda x: x.filter(ImageFilter.EMBOSS))


@operation("contour", geometry=KEEPS_SIZE, colour="any")
def contour(im: Image.Image, ctx: Context) -> Image.Image:
    """Pillow's contour kernel."""
    return keep_alpha(im, lambda x: x.filter(ImageFilter.CONTOUR))


@operation("sepia", geometry=KEEPS_SIZE, colour="makes")
def sepia(im: Image.Image, ctx: Context) -> Image.Image:
    """A brown-toned monochrome."""
    def tone(x: Image.Image) -> Image.Image:
        return ImageOps.colorize(x.convert("L"), black="#2e1f0f", white="#fff5e0", mid="#a8845c")
    return keep_alpha(im, tone)


def _enhancer(cls):
    def apply(im: Image.Image, ctx: Context, factor: float) -> Image.Image:
        return keep_alpha(im, lambda x: cls(x).enhance(factor))
    return apply


def _factor(what: str):
    return param(NUM, 1.2, min=0, max=3, step=0.05,
                 description=f"1 keeps the {what}; below lowers it, above raises it.")


operation("brightness", geometry=KEEPS_SIZE, colour="any",
          factor=_factor("brightness"), description="Lighten or darken.")(
    _enhancer(ImageEnhance.Brightness))
operation("contrast", geometry=KEEPS_SIZE, colour="any",
          factor=_factor("contrast"), description="More or less contrast.")(
    _enhancer(ImageEnhance.Contrast))
operation("saturation", geometry=KEEPS_SIZE, colour="needs",
          factor=_factor("saturation"), description="More or less colourful.")(
    _enhancer(ImageEnhance.Color))


@operation("equalize", geometry=KEEPS_SIZE, colour="any")
def equalize(im: Image.Image, ctx: Context) -> Image.Image:
    """Histogram equalisation (of luma only for colour images, so hues stay)."""
    def eq(x: Image.Image) -> Image.Image:
        if x.mode == "L":
            return ImageOps.equalize(x)
        y, cb, cr = x.convert("YCbCr").split()
        return Image.merge("YCbCr", (ImageOps.equalize(y), cb, cr)).convert("RGB")
    return keep_alpha(im, eq)


@operation("clahe", geometry=KEEPS_SIZE, colour="any", title="CLAHE",
           clip_limit=param(NUM, 2.0, min=0.5, max=40, step=0.5, description="Contrast limit per tile."),
           tile=param(int, 8, min=1, max=32, description="Tiles per side."))
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
    return keep_alpha(im, eq)
