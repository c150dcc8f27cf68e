"""Processing: recipes (:mod:`.recipes`) of operations (:mod:`.operations`, by family) run by the
engine (:mod:`.engine`: one decode (:mod:`.decode`, planned by :mod:`.plan`), every recipe's encode
(:mod:`.encode`)); the gallery's batches (:mod:`.batches`); folder mode (:mod:`.folder`, the
``gallery`` command); image features and labellers (:mod:`.features`); the learned models
(:mod:`.models`, through onnxruntime) and similar images (:mod:`.similar`).

The names below are imported from their modules (plain imports, which editors and type checkers
follow); no module here imports a heavy library at its top, so importing the package (DAG files do)
stays light (tests/dags/test_dag_integrity.py)."""

from __future__ import annotations

from image_pipeline.process.batches import (
    COUNTS, MAX_BATCHES, ProcessingBatch, auto_batch_size, due, plan_batches, process_batch,
)

__all__ = [
    "COUNTS", "MAX_BATCHES", "ProcessingBatch", "auto_batch_size", "due", "plan_batches", "process_batch",
]
