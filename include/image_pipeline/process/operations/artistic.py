"""Artistic effects through OpenCV: stylize, pencil sketch, edge-preserving smoothing (the learned ones,
background removal and style transfer, are in :mod:`.learned`)."""

from __future__ import annotations

from typing import Any, Callable

from PIL import Image

from image_pipeline.process.operations.base import (KEEPS_SIZE, NUM, Context, RecipeError, as_rgb, keep_alpha,
                                                    operation, param)

SIGMA_S = param(NUM, 60, min=0, max=200, step=1, title="Spatial sigma", description="How far smoothing reaches.")


def _sigma_r(default: float) -> Any:
    return param(NUM, default, min=0, max=1, step=0.01, title="Range sigma",
                 description="How different colours may be and still be smoothed together.")


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
    return keep_alpha(as_rgb(im), run)


@operation("stylize", geometry=KEEPS_SIZE, colour="needs", sigma_s=SIGMA_S, sigma_r=_sigma_r(0.45))
def stylize(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """OpenCV's watercolour-like stylization."""
    return cv_stylization(im, float(p["sigma_s"]), float(p["sigma_r"]))


def cv_stylization(im: Image.Image, sigma_s: float = 60, sigma_r: float = 0.45) -> Image.Image:
    import cv2

    return _cv_rgb(im, lambda bgr: cv2.stylization(bgr, sigma_s=sigma_s, sigma_r=sigma_r))


@operation("pencil_sketch", geometry=KEEPS_SIZE, colour="needs",
           color=param(bool, False, title="Colour", description="A coloured sketch."),
           sigma_s=SIGMA_S, sigma_r=_sigma_r(0.07),
           shade=param(NUM, 0.05, min=0, max=0.1, step=0.005, description="How dark the shading is."))
def pencil_sketch(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """OpenCV's pencil sketch, gray or coloured."""
    import cv2

    def sketch(bgr):
        gray, colour = cv2.pencilSketch(bgr, sigma_s=float(p["sigma_s"]), sigma_r=float(p["sigma_r"]),
                                        shade_factor=float(p["shade"]))
        return colour if p["color"] else gray
    return _cv_rgb(im, sketch)


@operation("edge_preserve", geometry=KEEPS_SIZE, colour="needs", title="Edge-preserving smoothing",
           mode=param(str, "recursive", choices=("recursive", "normalized", "detail"),
                      description="A smoothing filter, or detail enhancement."),
           sigma_s=SIGMA_S, sigma_r=_sigma_r(0.4))
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
