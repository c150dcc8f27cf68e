"""Image features recorded in the catalog: EXIF, perceptual hash, colours, exposure, blur, faces, labels.

``extract_features(im, exif)`` takes an image that is already decoded (usually a reduced-size
decode, e.g. a JPEG draft at 1/2..1/8 scale), in any Pillow mode, and the original file's EXIF
(``Image.getexif()``), and returns the ``features`` dict of the catalog document (SCHEMA.md). All
the pixel work is done on one small copy (longest side ``FEATURE_SIDE``), so features cost a few
milliseconds next to a decode; give it an image at least that large for comparable blur scores.

Labels come from a ``Labeler``: ``LocalLabeler`` (EfficientNet-Lite0, ImageNet-1k classes, through
onnxruntime, its weights shipped in this package: nothing is downloaded) or
``RekognitionLabeler`` (AWS Rekognition ``detect_labels`` through a boto3 client).
``labeler_from_settings`` picks one from ``GALLERY_LABELS`` (``none``, ``local``, ``rekognition``).
Models and the face cascade are loaded once per process (per thread for the cascade), not per image.

No Airflow import here: the caller builds the Rekognition client (from the ``aws_default``
connection) and passes a factory for it.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from datetime import datetime
from functools import lru_cache
from typing import Any, Callable, Iterable, Mapping

import numpy as np
from PIL import ExifTags, Image

from image_pipeline.process.features.labels import Labeler, labeler_for

log = logging.getLogger(__name__)

# Bump when what extract_features computes changes: processing then records features again.
FEATURES_VERSION = 2  # 2: the similar-images embedding

FEATURE_SIDE = 512  # longest side of the working copy every feature is computed on
EMBEDDING_SIDE = 448  # ... and of the copy the embedding is computed from (the network's input is 224)
COLOR_SIDE = 96  # longest side of the thumbnail quantised for dominant colours
MAX_COLORS = 5
DEFAULT_MAX_DISTANCE = 8  # phash Hamming distance (of 64 bits) still called a near-duplicate
FACE_CASCADE = "haarcascade_frontalface_alt.xml"  # fewer false positives on textures than _default
BACKGROUND = (255, 255, 255)  # transparent pixels are seen as on a white page
LABEL_SOURCE_NONE = "none"


# --------------------------------------------------------------------------------------------
# Faces

_cascades = threading.local()  # CascadeClassifier is not safe to share between threads


def face_boxes(gray: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Frontal faces in a uint8 grayscale array, by OpenCV's bundled Haar cascade, as (x, y, w, h)."""
    import cv2

    cascade = getattr(_cascades, "frontal", None)
    if cascade is None:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + FACE_CASCADE)
        if cascade.empty():
            raise RuntimeError(f"OpenCV face cascade {FACE_CASCADE} could not be loaded")
        _cascades.frontal = cascade
    found = cascade.detectMultiScale(cv2.equalizeHist(gray), scaleFactor=1.1, minNeighbors=5, minSize=(24, 24))
    return [tuple(int(v) for v in box) for box in found]  # type: ignore[misc]


def haar_face_count(gray: np.ndarray) -> int:
    """How many frontal faces :func:`face_boxes` finds."""
    return len(face_boxes(gray))


# --------------------------------------------------------------------------------------------
# Perceptual hash and near-duplicates


@lru_cache(maxsize=1)
def _dct_matrix(n: int = 32) -> np.ndarray:
    # Unnormalised DCT-II (scipy's default), so hashes match the imagehash package's phash.
    k = np.arange(n)[:, None]
    return 2.0 * np.cos(np.pi * k * (2 * np.arange(n)[None, :] + 1) / (2 * n))


def phash(im: Image.Image) -> str:
    """64-bit DCT perceptual hash as 16 hex digits (imagehash's algorithm: 32x32 luma, 8x8 low band)."""
    gray = im if im.mode == "L" else im.convert("L")
    pixels = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    dct = _dct_matrix()
    low = (dct @ pixels @ dct.T)[:8, :8]
    bits = (low > np.median(low)).flatten()
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    """Bits that differ between two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


class PhashIndex:
    """``(sha256, phash)`` candidates in order, their hashes held as one array of 64-bit integers: a
    lookup is one vectorised XOR and bit count over all of them (a million in milliseconds, where a
    loop over the pairs takes seconds). Candidates without a hash are left out."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()):
        kept = [(sha256, other) for sha256, other in pairs if other]
        self.sha256s = [sha256 for sha256, _ in kept]
        self.hashes = np.fromiter((int(other, 16) for _, other in kept), dtype=np.uint64, count=len(kept))
        self._added: list[int] = []

    def append(self, pair: tuple[str, str]) -> None:
        if pair[1]:
            self.sha256s.append(pair[0])
            self._added.append(int(pair[1], 16))

    def __len__(self) -> int:
        return len(self.sha256s)

    def __iter__(self):
        self._merge()
        return ((sha256, f"{int(value):016x}") for sha256, value in zip(self.sha256s, self.hashes, strict=True))

    def _merge(self) -> None:
        if self._added:
            self.hashes = np.concatenate([self.hashes, np.array(self._added, dtype=np.uint64)])
            self._added = []

    def nearest(self, phash_hex: str, max_distance: int = DEFAULT_MAX_DISTANCE) -> str | None:
        """The first candidate at the smallest distance, if within ``max_distance`` bits."""
        self._merge()
        if not len(self.hashes):
            return None
        distances = np.bitwise_count(self.hashes ^ np.uint64(int(phash_hex, 16)))
        first = int(np.argmin(distances))  # argmin: the first of the nearest, as the loop below
        return self.sha256s[first] if distances[first] <= max_distance else None


def near_duplicate_of(phash_hex: str, candidates: Iterable[tuple[str, str]],
                      max_distance: int = DEFAULT_MAX_DISTANCE) -> str | None:
    """The sha256 of the nearest candidate within ``max_distance`` bits, else None.

    ``candidates`` are ``(sha256, phash)`` pairs, e.g. the heads of the existing groups in catalog
    order, or a :class:`PhashIndex` of them (vectorised); on a tie the first one wins, so the result
    is stable. Candidates without a hash are skipped.
    """
    if isinstance(candidates, PhashIndex):
        return candidates.nearest(phash_hex, max_distance)
    best, best_distance = None, max_distance + 1
    for sha256, other in candidates:
        if not other:
            continue
        distance = hamming(phash_hex, other)
        if distance < best_distance:
            best, best_distance = sha256, distance
            if distance == 0:
                break
    return best


# --------------------------------------------------------------------------------------------
# EXIF

_BASE = ExifTags.Base


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", " ").strip()
    return value or None


def _number(value: Any) -> float | None:
    if isinstance(value, (tuple, list)):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):  # float()'s words for a value that is no number: left out
        return None
    return number if math.isfinite(number) else None


def _degrees(value: Any, ref: Any) -> float | None:
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):  # not three numbers (or no sequence): no coordinate
        return None
    degrees = d + m / 60.0 + s / 3600.0
    if not math.isfinite(degrees):
        return None
    if (_text(ref) or "").upper()[:1] in ("S", "W"):
        degrees = -degrees
    return round(degrees, 6)


def _taken_at(*values: Any) -> str | None:
    for value in values:
        text = _text(value)
        if not text:
            continue
        for pattern in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
            try:
                return datetime.strptime(text[:19], pattern).isoformat()
            except ValueError:  # strptime's word for a text not in this pattern: the next one is tried
                continue
    return None


def _ifd(exif: Any, tag: int) -> Mapping[int, Any]:
    """The Exif or GPS sub-directory, or nothing when its pointer is garbage. Pillow seeks to the pointer
    as written: a negative one raises ValueError ("negative seek value"), one past 2**63 OverflowError;
    a pointer of the wrong type, a directory cut short or a tag's data past the end it handles itself
    (None, or the tag left out with a warning). Fuzzing Pillow 13's EXIF reader found nothing else."""
    try:
        ifd = exif.get_ifd(tag)
    except (ValueError, OverflowError):  # the sub-directory's pointer is garbage: that directory is left out
        return {}
    return ifd if isinstance(ifd, Mapping) else {}


def exif_summary(exif: Image.Exif | Mapping[int, Any] | None) -> dict[str, Any]:
    """Camera, lens, exposure, taken-at and GPS from EXIF; keys without a usable value are left out.
    Garbage is the image's own metadata and costs only itself: a sub-directory whose pointer is
    garbage is left out (:func:`_ifd`), a value that is not what its tag should hold is skipped, and the
    rest is kept. An EXIF block that is not TIFF at all never gets here: the decode reads it as empty
    (:meth:`image_pipeline.process.decode.SourceImage.exif`)."""
    if not exif:
        return {}
    base = dict(exif)
    sub = _ifd(exif, ExifTags.IFD.Exif) if hasattr(exif, "get_ifd") else {}
    gps = _ifd(exif, ExifTags.IFD.GPSInfo) if hasattr(exif, "get_ifd") else {}
    out: dict[str, Any] = {}

    make, model = _text(base.get(_BASE.Make)), _text(base.get(_BASE.Model))
    if model and make and model.lower().startswith(make.split()[0].lower()):
        out["camera"] = model  # "Canon" + "Canon EOS 5D", "NIKON CORPORATION" + "NIKON D750"
    elif make or model:
        out["camera"] = " ".join(part for part in (make, model) if part)
    lens = _text(sub.get(_BASE.LensModel))
    if lens:
        out["lens"] = lens
    exposure = _number(sub.get(_BASE.ExposureTime))
    if exposure is not None and exposure > 0:
        out["exposure_time"] = round(exposure, 6)
    f_number = _number(sub.get(_BASE.FNumber))
    if f_number is not None and f_number > 0:
        out["f_number"] = round(f_number, 2)
    iso = _number(sub.get(_BASE.ISOSpeedRatings))
    if iso is not None and iso > 0:
        out["iso"] = int(iso)
    focal = _number(sub.get(_BASE.FocalLength))
    if focal is not None and focal > 0:
        out["focal_length"] = round(focal, 2)
    taken = _taken_at(sub.get(_BASE.DateTimeOriginal), sub.get(_BASE.DateTimeDigitized), base.get(_BASE.DateTime))
    if taken:
        out["taken_at"] = taken
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef))
    if lat is not None and lon is not None and -90 <= lat <= 90 and -180 <= lon <= 180 and (lat, lon) != (0, 0):
        out["gps"] = {"lat": lat, "lon": lon}
    return out


# --------------------------------------------------------------------------------------------
# Pixels


def _fit(size: tuple[int, int], side: int) -> tuple[int, int]:
    w, h = size
    scale = side / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def working_copy(im: Image.Image, side: int = FEATURE_SIDE) -> Image.Image:
    """A new RGB image, longest side at most ``side``, from any mode (alpha composited on white)."""
    if im.mode.startswith("I;16"):
        im = im.convert("I")  # Pillow cannot resize I;16; I keeps the 16-bit values
    elif im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif im.mode in ("1", "La", "RGBa", "PA"):
        im = im.convert({"1": "L", "La": "LA", "RGBa": "RGBA", "PA": "RGBA"}[im.mode])
    if max(im.size) > side:
        small = im.resize(_fit(im.size, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    else:
        small = im.copy()
    if small.mode in ("I", "F"):
        values = np.asarray(small, dtype=np.float64)
        top = float(values.max()) if values.size else 0.0
        if top > 255:
            # 16-bit data (or wider): scale its range down to 8 bits rather than clip to white.
            values = values / 257.0 if top <= 65535 and values.min() >= 0 else \
                (values - values.min()) * (255.0 / max(top - values.min(), 1e-9))
        small = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")
    if small.mode in ("RGBA", "LA"):
        rgba = small.convert("RGBA")
        page = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(page, rgba).convert("RGB")
    return small if small.mode == "RGB" else small.convert("RGB")


def dominant_colors(im: Image.Image, count: int = MAX_COLORS) -> list[str]:
    """Up to ``count`` colours as ``#rrggbb``, most frequent first (median-cut on a thumbnail)."""
    thumb = im.convert("RGB")
    if max(thumb.size) > COLOR_SIDE:
        thumb = thumb.resize(_fit(thumb.size, COLOR_SIDE), Image.Resampling.BILINEAR, reducing_gap=2.0)
    quantized = thumb.quantize(colors=count, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    colors: list[str] = []
    for _, index in sorted(quantized.getcolors(count) or [], key=lambda c: -c[0]):
        hex_color = "#{:02x}{:02x}{:02x}".format(*palette[3 * index:3 * index + 3])
        if hex_color not in colors:
            colors.append(hex_color)
    return colors


def blur_score(gray: np.ndarray, side: int = FEATURE_SIDE) -> float:
    """Variance of the Laplacian at a fixed size (longest side ``side``): low means blurry."""
    import cv2

    h, w = gray.shape
    if max(h, w) != side:
        tw, th = _fit((w, h), side)
        gray = cv2.resize(gray, (tw, th), interpolation=cv2.INTER_AREA if max(h, w) > side else cv2.INTER_LINEAR)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def extract_features(im: Image.Image, exif: Image.Exif | Mapping[int, Any] | None, *,
                     labeler: Labeler | None = None,
                     face_detector: Callable[[np.ndarray], int] | None = None) -> dict[str, Any]:
    """The catalog's ``features`` for one decoded image (see the module docstring).

    ``face_detector`` takes a uint8 grayscale array and returns a face count (default: the Haar
    cascade). A labeler's exceptions propagate (a transient AWS error should fail and retry the task).
    """
    started = time.perf_counter()
    work = working_copy(im)
    gray_image = work.convert("L")
    gray = np.asarray(gray_image)
    labels = labeler.labels(work) if labeler is not None else []
    features: dict[str, Any] = {
        "exif": exif_summary(exif),
        "phash": phash(gray_image),
        "dominant_colors": dominant_colors(work),
        "brightness": round(float(gray.mean()), 2),
        "contrast": round(float(gray.std()), 2),
        "blur": round(blur_score(gray), 2),
        "labels": labels,
        "label_source": labeler.source if labeler is not None else LABEL_SOURCE_NONE,
    }
    if face_detector is None:  # the Haar cascade: its boxes too, as fractions of the image (x, y, w, h)
        h, w = gray.shape
        boxes = face_boxes(gray)
        features["faces"] = len(boxes)
        features["face_boxes"] = [[round(x / w, 4), round(y / h, 4), round(bw / w, 4), round(bh / h, 4)]
                                  for x, y, bw, bh in boxes]
    else:
        features["faces"] = int(face_detector(gray))
    features["seconds"] = round(time.perf_counter() - started, 4)
    return features


def feature_extraction(settings: Any, rekognition_client_factory: Callable[[], Any] | None = None) -> dict[str, Any]:
    """What processing needs to record features as ``settings`` ask: keyword arguments for
    :func:`image_pipeline.process.process_batch` (empty when features are off)."""
    if not settings.features:
        return {}
    from image_pipeline.process.models.embedding import embedding_features

    labeler = labeler_for(settings, rekognition_client_factory)

    def features(im: Image.Image, exif: Image.Exif) -> dict[str, Any]:
        # The embedding is a separate hook on the same decode (on a small RGB copy of any mode).
        return {**extract_features(im, exif, labeler=labeler),
                **embedding_features(working_copy(im, EMBEDDING_SIDE), settings.embeddings)}
    return {"features": features,
            "features_version": FEATURES_VERSION, "near_duplicate": near_duplicate_of}
