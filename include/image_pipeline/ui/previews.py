"""The editor's decodes, kept while an image is being edited, so a preview costs the chain's
operations and the encode, not a decode of the original each time.

The editor asks for a preview of the same image at every change of its chain (debounced), and the
decode of the original was the larger part of each (a 12-megapixel JPEG at its 1/4 DCT scale: about
40 ms on an idle core, of 45-90 ms for a three-operation chain). :class:`PreviewDecodes` keeps the
engine's :func:`~image_pipeline.process.engine.decode_for_preview` of each image being edited, by
image and preview size: the least recently used go first once their pixels pass ``max_bytes``, and
any not used for ``idle_seconds`` go when the next preview is asked (its editing is over). An image
is content-addressed, so a kept decode never goes stale; people editing the same image share it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Hashable

MAX_BYTES = 128 * 1024 * 1024  # ~40 images at the editor's 1024 px, 2 at the API's largest 4096 px
IDLE_SECONDS = 600.0  # a decode not used this long is dropped: its editor was closed


class PreviewDecodes:
    """Decodes for previews, least recently used first out, bounded by their pixels' bytes and by
    time since their last use. Thread-safe (previews run in FastAPI's thread pool); two first
    previews of one image at once may both decode it, the second kept."""

    def __init__(self, max_bytes: int = MAX_BYTES, idle_seconds: float = IDLE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self.max_bytes, self.idle_seconds, self.clock = max_bytes, idle_seconds, clock
        self._entries: OrderedDict[Hashable, tuple[Any, int, float]] = OrderedDict()  # key: (decode, bytes, used)
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: Hashable, decode: Callable[[], Any]) -> Any:
        """The decode kept for ``key``, else ``decode()``'s (kept unless larger than the bound)."""
        now = self.clock()
        with self._lock:
            self._drop_idle(now)
            entry = self._entries.get(key)
            if entry is not None:
                self._entries[key] = (entry[0], entry[1], now)
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[0]
            self.misses += 1
        decoded = decode()
        size = decoded.nbytes
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            if size <= self.max_bytes:
                self._entries[key] = (decoded, size, self.clock())
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, (_, dropped, _) = self._entries.popitem(last=False)
                    self._bytes -= dropped
        return decoded

    def _drop_idle(self, now: float) -> None:
        while self._entries:
            key, (_, size, used) = next(iter(self._entries.items()))
            if now - used < self.idle_seconds:
                return
            del self._entries[key]
            self._bytes -= size

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)
