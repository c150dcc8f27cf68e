"""Decode planning: how small a decode every recipe's steps allow, and whether a grayscale
decode serves (the engine decodes once, at the largest scale any selected recipe needs)."""

from __future__ import annotations

from typing import Any

from image_pipeline.process.operations import OPERATIONS
from image_pipeline.process.operations.geometry import resize_target


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
