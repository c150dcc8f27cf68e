"""Colour and filters: grayscale, blur, sharpen, edges, emboss, sepia, brightness, contrast,
saturation, equalize, CLAHE."""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from image_pipeline.process.operations.base import ALPHA_MODES, NUM, Context, _keep_alpha, operation


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
