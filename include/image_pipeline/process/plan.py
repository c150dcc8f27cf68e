"""Decode planning: how small a decode every recipe's steps allow, and whether a grayscale
decode serves (the engine decodes once, at the largest scale any selected recipe needs). Both read
what each operation declares where it is registered (:mod:`.operations.base`: its ``geometry`` and
``colour``); an operation that declares nothing gets a full-scale decode, in colour."""

from __future__ import annotations

from typing import Any

from image_pipeline.process.operations import OPERATIONS


def needed_scale(steps: list[tuple[str, dict[str, Any]]], size: tuple[int, int], orientation: int) -> float:
    """The smallest fraction of the original resolution that ``steps`` need: the first resize's own
    need, on the size the steps before it make (they are scale-aware); 1.0 when there is none, or
    when a step before it cannot tell what size it makes."""
    for name, params in steps:
        geometry = OPERATIONS[name].geometry
        if geometry.kind == "resizes":
            return min(1.0, geometry.rule(size, params))
        if geometry.kind == "reshapes":
            size = geometry.rule(size, params, orientation)
        elif geometry.kind != "keeps":
            return 1.0
    return 1.0


def gray_first(steps: list[tuple[str, dict[str, Any]]]) -> bool:
    """True when the recipe drops colour before anything that needs or makes it: a grayscale decode serves."""
    for name, _ in steps:
        colour = OPERATIONS[name].colour
        if colour == "drops":
            return True
        if colour != "any":
            return False
    return False
