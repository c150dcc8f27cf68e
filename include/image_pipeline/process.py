"""Gallery processing: which images need a recipe, in batches, and running a batch.

A batch streams one image at a time through a temporary folder (download, process, upload, forget),
so memory stays flat whatever the batch size. Outputs are written under content-addressed keys and
recorded with the recipe version, so a retried batch redoes only what is missing and a re-run of
the DAG finds nothing pending.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections import Counter
from pathlib import Path

from image_pipeline import keys
from image_pipeline.catalog import Catalog, utcnow_iso
from image_pipeline.processing import BadImage, get_recipe
from image_pipeline.storage import ObjectStore

log = logging.getLogger(__name__)

MAX_BATCHES = 1024  # Airflow's [core] max_map_length default


def plan_batches(catalog: Catalog, recipe: str, batch_size: int, max_batches: int = MAX_BATCHES) -> list[list[str]]:
    """Pending images for ``recipe`` split into batches; grows the batch size past ``max_batches``."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    pending = catalog.pending(recipe, get_recipe(recipe).version)
    size = max(batch_size, math.ceil(len(pending) / max_batches))
    return [pending[i:i + size] for i in range(0, len(pending), size)]


def process_batch(store: ObjectStore, catalog: Catalog, recipe: str, sha256s: list[str]) -> dict[str, int]:
    """Run ``recipe`` on each image; quarantine the ones that cannot be decoded. Returns counts."""
    spec = get_recipe(recipe)
    counts: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="image-pipeline-proc-") as tmp:
        src, out = Path(tmp) / "src", Path(tmp) / f"out.{spec.ext}"
        for sha256 in sha256s:
            doc = catalog.get(sha256)
            if doc is None or doc["status"] == "quarantined":
                counts["skipped"] += 1
                continue
            done = doc["outputs"].get(recipe)
            if done and done["version"] == spec.version and store.exists(done["key"]):
                counts["skipped"] += 1  # a retry of a batch that got this far already
                continue
            store.download(doc["raw_key"], src)
            try:
                result = spec.render(src, out)
            except BadImage as exc:
                qkey = keys.quarantine_key(sha256, doc["raw_key"].rsplit(".", 1)[-1])
                store.put_file(qkey, src)
                catalog.record_quarantine(sha256, str(exc), "process", qkey, utcnow_iso())
                log.warning("quarantined %s: %s", sha256, exc)
                counts["quarantined"] += 1
                continue
            out_key = keys.processed_key(recipe, sha256, spec.ext)
            store.put_file(out_key, out, spec.content_type)
            catalog.record_output(
                sha256, recipe, {"key": out_key, "version": spec.version, "processed_at": utcnow_iso(), **result}
            )
            counts["processed"] += 1
    log.info("batch of %d: %s", len(sha256s), dict(counts))
    return {k: counts.get(k, 0) for k in ("processed", "quarantined", "skipped")}
