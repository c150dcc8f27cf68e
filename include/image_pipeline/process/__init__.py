"""Processing: recipes (:mod:`.recipes`) of operations (:mod:`.operations`, by family) run by the
engine (:mod:`.engine`: one decode (:mod:`.decode`, planned by :mod:`.plan`), every recipe's encode
(:mod:`.encode`)); the gallery's batches (:mod:`.batches`); folder mode (:mod:`.folder`, the
``gallery`` command); image features and labellers (:mod:`.features`); the learned models
(:mod:`.models`, the extra ``ml``) and similar images (:mod:`.similar`).

The names below are loaded on first use, so importing the package (DAG files do) stays light."""

from __future__ import annotations

from image_pipeline.core.exports import lazy_exports

_EXPORTS = {
    "image_pipeline.process.batches": ("COUNTS", "MAX_BATCHES", "ProcessingBatch", "auto_batch_size", "due",
                                       "plan_batches", "process_batch"),
    "image_pipeline.process.similar": ("SimilarIndex", "index_for", "similar", "similar_to_picture"),
}
__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
