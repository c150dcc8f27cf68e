"""The local labeller: ImageNet-1k labels from EfficientNet-Lite0 on the CPU through onnxruntime (the
network of :mod:`image_pipeline.process.models.embedding`, its weights in the package; nothing is
downloaded), loaded once per process."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


LOCAL_MODEL = "efficientnet-lite0"


def local_labels_available() -> bool:
    """True when the network's runtime (onnxruntime, a base dependency) is installed."""
    from image_pipeline.process import models

    return models.available("embedding")


class LocalLabeler:
    """ImageNet-1k labels from EfficientNet-Lite0 on the CPU (~15-25 ms an image, one core)."""

    source = LOCAL_MODEL
    input_side = 224

    def __init__(self, top_k: int = 5, min_score: float = 0.05) -> None:
        # The network is the embedding's: one session per process, GALLERY_MODEL_THREADS threads.
        self.top_k, self.min_score = top_k, min_score

    def load(self) -> "LocalLabeler":
        """Load the network now (it is loaded on first use otherwise); ImportError without onnxruntime."""
        from image_pipeline.process.models import embedding

        embedding.session()
        return self

    def labels(self, im: Image.Image) -> list[dict[str, Any]]:
        """The image's labels; :class:`~image_pipeline.core.errors.Unavailable` when the network cannot
        be loaded or run (the environment's fault: the batch's task is retried)."""
        from image_pipeline.process.models import embedding

        side = self.input_side
        # The usual evaluation crop: shorter side to 224, centre 224 x 224.
        scale = side / min(im.size)
        w, h = max(side, round(im.width * scale)), max(side, round(im.height * scale))
        resized = im.convert("RGB").resize((w, h), Image.Resampling.BILINEAR)
        left, top = (w - side) // 2, (h - side) // 2
        crop = resized.crop((left, top, left + side, top + side))
        logits = embedding.infer(embedding.pixels(crop), "logits")[0].astype(np.float64)
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        names = embedding.label_names()
        best = np.argsort(-probs, kind="stable")[: self.top_k]
        return [{"name": names[int(i)], "score": round(float(probs[i]), 4)}
                for i in best if float(probs[i]) >= self.min_score]
