"""Labellers: the protocol, and the one ``GALLERY_LABELS`` chooses (``none``, ``local``, ``rekognition``),
built once per process."""

from __future__ import annotations

import logging
from typing import Any, Callable, Protocol, runtime_checkable

from PIL import Image

log = logging.getLogger(__name__)



# --------------------------------------------------------------------------------------------
# Labelers


@runtime_checkable
class Labeler(Protocol):
    """Names what an image shows. ``source`` is recorded as ``features.label_source``."""

    source: str

    def labels(self, im: Image.Image) -> list[dict[str, Any]]:
        """``[{"name": str, "score": float 0..1}, ...]``, best first. ``im`` is RGB."""
        ...


LABEL_CHOICES = ("none", "local", "rekognition")


def labeler_from_settings(settings: Any, rekognition_client_factory: Callable[[], Any] | None = None) -> Labeler | None:
    """The labeler ``settings.labels`` asks for, or None (features record ``label_source: none``).

    ``local`` without the optional extra installed gives None, with a warning: the pipeline keeps
    working and the catalog says no labeler ran. ``rekognition`` needs ``rekognition_client_factory``,
    a zero-argument callable returning a boto3 Rekognition client (built by the caller from the
    Airflow connection ``settings.aws_conn_id``). Call once per process and reuse the result.
    """
    choice = getattr(settings, "labels", "none") or "none"
    if choice not in LABEL_CHOICES:
        raise ValueError(f"labels must be one of {', '.join(LABEL_CHOICES)}, got {choice!r}")
    if choice == "local":
        from image_pipeline.process.features.local import LocalLabeler, local_labels_available

        if not local_labels_available():
            log.warning("GALLERY_LABELS=local but onnxruntime is not installed: no labels")
            return None
        return LocalLabeler()
    if choice == "rekognition":
        if rekognition_client_factory is None:
            raise ValueError("GALLERY_LABELS=rekognition needs a Rekognition client factory")
        from image_pipeline.process.features.rekognition import RekognitionLabeler

        return RekognitionLabeler(rekognition_client_factory())
    return None


_LABELERS: dict[str, Any] = {}


def labeler_for(settings: Any, factory: Callable[[], Any] | None) -> Labeler | None:
    """One labeler per process and choice: a model is loaded once, not once per batch."""
    if settings.labels not in _LABELERS:
        _LABELERS[settings.labels] = labeler_from_settings(settings, factory)
    return _LABELERS[settings.labels]
