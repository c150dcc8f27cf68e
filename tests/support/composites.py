"""Subjects with a known mask pasted on real photos: ground truth for background removal and subject crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

FRAME = (768, 512)  # every composite's size (a photo's usual 3:2)


def silhouette(height: int, seed: int = 0) -> tuple[Image.Image, Image.Image]:
    """A textured figure (head, body, arms, legs) ``height`` px tall: (RGB texture, L mask 0/255)."""
    width = height * 6 // 10
    mask = Image.new("L", (width, height), 0)
    d = ImageDraw.Draw(mask)
    u = height / 20
    d.ellipse([width / 2 - 2 * u, 0, width / 2 + 2 * u, 4.2 * u], fill=255)  # head
    d.rounded_rectangle([width / 2 - 3.6 * u, 4.5 * u, width / 2 + 3.6 * u, 12 * u], radius=u, fill=255)  # body
    d.polygon([(width / 2 - 3.6 * u, 5 * u), (width / 2 - 3.6 * u, 7 * u), (1 * u, 11.5 * u), (0, 10.5 * u)], fill=255)
    d.polygon([(width / 2 + 3.6 * u, 5 * u), (width / 2 + 3.6 * u, 7 * u), (width - 1 * u, 11.5 * u),
               (width, 10.5 * u)], fill=255)  # arms
    d.rectangle([width / 2 - 3.2 * u, 12 * u, width / 2 - 0.6 * u, height], fill=255)  # legs
    d.rectangle([width / 2 + 0.6 * u, 12 * u, width / 2 + 3.2 * u, height], fill=255)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = rng.integers(60, 230, size=3)
    stripes = (np.sin((xx + 0.6 * yy) / max(2.0, u / 2)) * 45)[..., None]  # a patterned garment
    noise = rng.normal(0, 14, (height, width, 3))
    texture = np.clip(base[None, None, :] + stripes * np.array([1.0, -0.6, 0.4]) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(texture), mask


# (centre x, bottom y) as fractions of the frame, and the figure's height as a fraction of the frame's
PLACEMENTS = [(0.5, 0.95, 0.8), (0.3, 0.9, 0.6), (0.72, 0.98, 0.5), (0.22, 0.97, 0.7)]


def composite(photo: Path, placement: tuple[float, float, float], seed: int = 0) -> tuple[Image.Image, np.ndarray]:
    """``photo`` (filled into ``FRAME``) with a figure pasted at ``placement``: (RGB image, bool true mask)."""
    with Image.open(photo) as opened:
        opened.draft("RGB", (FRAME[0] * 2, FRAME[1] * 2))
        from PIL import ImageOps

        back = ImageOps.fit(opened.convert("RGB"), FRAME, Image.Resampling.LANCZOS)
    cx, bottom, frac = placement
    texture, mask = silhouette(round(FRAME[1] * frac), seed)
    x, y = round(cx * FRAME[0] - texture.width / 2), round(bottom * FRAME[1] - texture.height)
    soft = mask.filter(ImageFilter.GaussianBlur(0.8))  # an antialiased edge, as a real photo has
    back.paste(texture, (x, y), soft)
    truth = Image.new("L", FRAME, 0)
    truth.paste(mask, (x, y))
    return back, np.asarray(truth) > 127


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union of two boolean masks."""
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0
