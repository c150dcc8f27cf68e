"""Watermarks: text or an image, laid on a corner or the centre."""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageDraw, ImageFont

from image_pipeline.process.operations.base import (ALPHA_MODES, KEEPS_SIZE, NUM, Context, RecipeError, operation,
                                                    param, parse_colour)
from image_pipeline.process.pictures import open_picture

POSITIONS = ("top-left", "top-right", "bottom-left", "bottom-right", "center")


def _check_watermark(p: dict[str, Any]) -> None:
    if (p["text"] is None) == (p["image"] is None):
        raise RecipeError("watermark: give text or image")


@operation("watermark", geometry=KEEPS_SIZE, colour="makes", files=("image",), validate=_check_watermark,
           text=param(str, None, description="The text to lay on (or an image)."),
           image=param(str, None, title="Image file",
                       description="The mark, instead of a text: a file in the recipes' folders, or "
                                   "sha256:<hex> of the gallery."),
           position=param(str, "bottom-right", choices=POSITIONS, description="Where the mark goes."),
           opacity=param(NUM, 0.5, min=0, max=1, step=0.05, description="0 invisible, 1 opaque."),
           size=param(NUM, 0.05, min=0.01, max=0.5, step=0.01,
                      description="Text height (mark width) as a fraction of the shorter (longer) side."),
           margin=param(NUM, 0.02, min=0, max=0.2, step=0.01, description="Distance from the edges, as a fraction."),
           color=param(str, "#ffffff", kind="color", description="The text's colour."))
def watermark(im: Image.Image, ctx: Context, **p: Any) -> Image.Image:
    """Text, or a picture (a file in the recipes' folders or ``sha256:<hex>`` of the gallery; its
    transparency kept), in a corner or the centre. ``size`` is the text height (or the mark's width)
    as a fraction of the image's shorter (or longer) side, so it looks the same at every output
    size; ``opacity`` from 0 to 1."""
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
        ImageDraw.Draw(mark).text((-left + 1, -top + 1), p["text"], font=font, fill=parse_colour(p["color"], "RGBA"))
    else:
        mark = open_picture(p["image"], ctx, "RGBA")
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
