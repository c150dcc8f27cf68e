"""Image embeddings for "similar images": EfficientNet-Lite0's pooled features (1280 values, the layer
under its ImageNet classifier), L2-normalised, kept in the catalog as float16 base64 (3.4 kB an image).
The network is the labeller's (:mod:`image_pipeline.process.features.local`): one copy per process.
About 40 ms an image on one core at its 224 x 224 input."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
from PIL import Image

from image_pipeline.process import models

MODEL = "efficientnet-lite0"
DIM = 1280
INPUT_SIDE = 224


def embed(im: Image.Image) -> np.ndarray:
    """The unit-length embedding (float32, ``DIM`` values) of ``im`` (RGB; the features pass their working
    copy, which has any mode's alpha laid on white): the whole picture squashed to the network's input
    (not a centre crop, so crops and borders move it little). ImportError without the extra;
    :class:`~image_pipeline.core.errors.Unavailable` when the network cannot be loaded or run."""
    import torch

    from image_pipeline.process.features.local import _local_model, _model_lock

    with _model_lock:
        model, _ = _local_model(models.threads())
    small = im.convert("RGB").resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.BILINEAR)
    pixels = (np.asarray(small, dtype=np.float32) / 255.0 - 0.5) / 0.5  # the labeller's scaling
    batch = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]
    with models.runtime(MODEL, "running", models.TORCH_RUN_FAILURES), torch.inference_mode():
        pooled = model.extract_features(batch).mean(dim=(2, 3))[0].numpy().astype(np.float32)
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


def encode(vector: np.ndarray) -> str:
    """A vector as the catalog stores it: float16, little-endian, base64."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    """The float32 vector of :func:`encode`'s text."""
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


def embedding_features(im: Image.Image, enabled: bool = True) -> dict[str, Any]:
    """What the catalog's ``features`` record about ``im``'s embedding: ``embedding`` (model, dim,
    ``f16`` base64) when the model is installed and ``enabled`` (``GALLERY_EMBEDDINGS``), else
    ``embedding: None`` and ``embedding_source`` saying why (``absent``: no extra ``ml``; ``off``)."""
    if not enabled:
        return {"embedding": None, "embedding_source": "off"}
    if not models.available("embedding"):
        return {"embedding": None, "embedding_source": "absent"}
    return {"embedding": {"model": MODEL, "dim": DIM, "f16": encode(embed(im))}, "embedding_source": MODEL}
