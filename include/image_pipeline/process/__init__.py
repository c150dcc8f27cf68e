"""Processing: recipes (:mod:`.recipes`) of operations (:mod:`.operations`, by family) run by the
engine (:mod:`.engine`: one decode (:mod:`.decode`, planned by :mod:`.plan`), every recipe's encode
(:mod:`.encode`)); the gallery's batches (:mod:`.batches`); folder mode (:mod:`.folder`, the
``gallery`` command); image features and labellers (:mod:`.features`).

The names below are loaded on first use, so importing the package (DAG files do) stays light."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "image_pipeline.process.batches": ("COUNTS", "MAX_BATCHES", "ProcessingBatch", "auto_batch_size", "due",
                                       "plan_batches", "process_batch"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
