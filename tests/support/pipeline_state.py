"""The pipeline's stages run back to back on a store and a catalog, and what must come out the same
whatever faults or crashes happened on the way (the fault, crash-point and secrets tests compare it)."""

from __future__ import annotations

import hashlib

RECIPES = ["half_gray", "thumb"]


def run_pipeline(store, catalog, samples, *, batch_size: int = 3):
    """Retrieval (ingest of a folder), processing in batches and archiving, as the DAGs chain them."""
    from image_pipeline.core.selection import Selection
    from image_pipeline.deliver import ensure_archive
    from image_pipeline.process import plan_batches, process_batch
    from image_pipeline.process.recipes import get_recipe
    from image_pipeline.retrieve import ingest_folder

    ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
    for batch in plan_batches(catalog, RECIPES, batch_size):
        process_batch(store, catalog, RECIPES, batch)
    return ensure_archive(store, catalog, Selection(keyword="demo"), get_recipe("half_gray"))


def snapshot(store, catalog):
    """Every object's digest (archives and messages only by key: they carry their build and send times),
    and every image's status, outputs and provenance entries (a duplicated record shows there)."""
    objects = {key: "present" if key.startswith(("archives/", "outbox/")) else hashlib.sha256(store.get_bytes(key)).hexdigest()
               for key in store.list("")}
    images = {doc["sha256"]: (doc.get("status"), sorted(doc.get("outputs", {})), len(doc.get("sources", [])),
                              sorted(doc.get("keywords", [])), sorted(doc.get("run_ids", [])))
              for doc in catalog.find()}
    return objects, images


def dangling(store, catalog):
    """Store/catalog disagreements: records naming a missing object, processed objects no record names."""
    named = set()
    problems = []
    for doc in catalog.find():
        quarantine = doc.get("quarantine") or {}
        for key in [doc.get("raw_key"), quarantine.get("key"), *(o.get("key") for o in doc.get("outputs", {}).values())]:
            if key:
                named.add(key)
                if not store.exists(key):
                    problems.append(f"{doc['sha256'][:12]} names missing {key}")
    problems += [f"unrecorded {key}" for zone in ("raw/", "processed/") for key in store.list(zone) if key not in named]
    return problems
