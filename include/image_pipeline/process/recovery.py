"""Recovery: trying again what processing could not do (the way back of each failure class in
:mod:`image_pipeline.core.errors`).

- :func:`retry_images`: chosen images tried again: a quarantine lifted, failed outputs and
  unexpected attempts forgotten (the gallery's Retry, gallery_process's ``retry`` field, the CLI's
  ``gallery retry``). A file quarantined at retrieval (it did not read as an image) is read again
  first: it is brought back only when it now reads.
- :func:`upgrade_retries`: images an older release quarantined as ``unexpected`` (or quarantined while
  processing before failures were classified: their quarantine has no ``kind``) are tried once more
  by the release that runs now, by themselves, when a processing run is planned.

Both only change the catalog (and store a raw copy of a file that now reads); the next planning finds
the images due and processes them as any other.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Protocol

from image_pipeline import RELEASE
from image_pipeline.core import keys
from image_pipeline.core.catalog.roles import Images, Problems
from image_pipeline.core.errors import BadImage
from image_pipeline.core.probe import inspect_image
from image_pipeline.core.storage import ObjectNotFound, ObjectStore

log = logging.getLogger(__name__)


class RetryCatalog(Images, Problems, Protocol):
    """What a retry reads (the image's problem, before it is lifted) and changes."""


def retry_images(store: ObjectStore, catalog: RetryCatalog, sha256s: Iterable[str], by: str) -> dict[str, Any]:
    """Try these images again; ``{"retried": [...], "unchanged": [...]}`` (no problem to retry, not in
    the catalog, or a retrieval quarantine whose file still does not read)."""
    retried, unchanged = [], []
    for sha256 in dict.fromkeys(sha256s):
        doc = catalog.get(sha256)
        raw = None
        if doc is not None and doc.get("quarantine") and not doc.get("raw_key"):
            raw = _reread(store, doc)
        _, changed = catalog.retry_image(sha256, by, raw=raw) if doc is not None else (None, False)
        (retried if changed else unchanged).append(sha256)
    if retried:
        log.info("tried again by %s: %s", by, ", ".join(retried))
    return {"retried": retried, "unchanged": unchanged}


def failed_recipes(docs: Iterable[dict[str, Any]], known: Iterable[str]) -> list[str]:
    """The recipes whose outputs failed for these images and that still exist (``known``): a retry
    runs them too, or the failed outputs it forgets would never be made again."""
    known = set(known)
    return sorted({recipe for doc in docs for recipe in doc.get("failures") or {}} & known)


def _reread(store: ObjectStore, doc: dict[str, Any]) -> dict[str, Any] | None:
    """A retrieval quarantine's file read again: its raw object and fields when it now reads as an
    image (a newer release may read what an older one refused), else None."""
    key = (doc.get("quarantine") or {}).get("key")
    if not key:
        return None
    try:
        data = store.get_bytes(key)
    except ObjectNotFound:
        return None  # nothing left to read: the quarantine stays
    try:
        info = inspect_image(data)
    except BadImage:
        return None  # still not an image
    raw_key = keys.raw_key(doc["sha256"], info.ext)
    store.put_if_absent(raw_key, data, f"image/{info.format.lower()}")
    return {"raw_key": raw_key, "format": info.format, "width": info.width, "height": info.height}


def retried_by_this_release(quarantine: dict[str, Any]) -> bool:
    """Whether a processing quarantine is one this release tries once more: decided by another
    release as unexpected, or made before quarantines recorded their kind."""
    if quarantine.get("stage") != "process":
        return False
    kind = quarantine.get("kind")
    return (kind is None or kind == "unexpected") and quarantine.get("release") != RELEASE


def upgrade_retries(catalog: Problems) -> list[str]:
    """Lift the quarantines :func:`retried_by_this_release` selects (the trash left out); their sha256."""
    chosen = [d["sha256"] for d in catalog.problems()
              if d.get("quarantine") and retried_by_this_release(d["quarantine"])]
    for sha256 in chosen:
        catalog.retry_image(sha256, f"release {RELEASE}")
    if chosen:
        log.info("release %s tries %d images quarantined by an older one again", RELEASE, len(chosen))
    return chosen
