"""What one image may cost: the limits the decode checks from the header (pixels, frames) and the
time the engine allows it, all recipes included. At the bottom of the engine's modules: the decode,
the encode and the engine read it, it reads none of them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from image_pipeline.core.errors import BadImage


@dataclass(frozen=True)
class Limits:
    max_pixels: int = 100_000_000  # refused from the header, before decoding (decompression bombs)
    max_frames: int = 1000  # animations and multi-page files with more frames are refused
    time_limit: float = 120.0  # seconds for one image, all recipes included


class Deadline:
    """The moment one image's time limit runs out, checked between steps (a step is not interrupted)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.at = time.perf_counter() + seconds

    def check(self) -> None:
        if time.perf_counter() > self.at:
            raise BadImage(f"time limit exceeded ({self.seconds:g} s for one image)")
