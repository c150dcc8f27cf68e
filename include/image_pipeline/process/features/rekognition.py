"""The Rekognition labeller: AWS Rekognition ``detect_labels`` through a boto3 client the caller builds."""

from __future__ import annotations

import io
import logging
from typing import Any

from PIL import Image

log = logging.getLogger(__name__)


class RekognitionLabeler:
    """Labels from AWS Rekognition ``detect_labels`` (the image is sent as JPEG bytes)."""

    source = "rekognition"
    # Errors about this one image: recorded as no labels. Anything else (throttling, credentials,
    # the network) propagates, so the task fails and Airflow retries it.
    IMAGE_ERRORS = {"InvalidImageFormatException", "ImageTooLargeException", "InvalidParameterException"}

    def __init__(self, client: Any, max_labels: int = 10, min_confidence: float = 70.0) -> None:
        self.client, self.max_labels, self.min_confidence = client, max_labels, min_confidence

    def labels(self, im: Image.Image) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        buf = io.BytesIO()
        im.convert("RGB").save(buf, "JPEG", quality=90)
        try:
            response = self.client.detect_labels(Image={"Bytes": buf.getvalue()}, MaxLabels=self.max_labels,
                                                 MinConfidence=self.min_confidence)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in self.IMAGE_ERRORS:
                log.warning("Rekognition refused the image: %s", exc)
                return []
            raise
        labels = [{"name": str(item["Name"]), "score": round(float(item["Confidence"]) / 100.0, 4)}
                  for item in response.get("Labels", []) if "Name" in item and "Confidence" in item]
        return sorted(labels, key=lambda label: -label["score"])
