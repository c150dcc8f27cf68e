"""Keeping the object store and the catalog in step.

Every image object lives under a zone of :data:`IMAGE_ZONES` and is named by the image's sha256
(``raw/ab/<sha>.jpg``, ``processed/<recipe>/ab/<sha>.webp``, ``quarantine/ab/<sha>.png``); the
record of that sha256 names it (``raw_key``, each output's ``key``, ``quarantine.key``). So:

- a *missing* object is one a record names that the store does not hold;
- an *orphan* is an image object no record names: left by a task killed between writing an object
  and its record (the pipeline writes the object first), or by a purge killed halfway.

Safe while other DAGs run: an object counts as an orphan only when older than a grace period (a
task writing it a second ago has not recorded it yet), the catalog is read *after* the store is
listed (a record written meanwhile is seen), and each orphan's record is read again just before the
object is removed. A missing object is confirmed with the store before it is reported. Everything
is idempotent: a second run finds nothing more to do.

The purge removes an image trashed longer ago than the retention: its raw object, every output,
its quarantined copy, then its record (objects first: a purge killed halfway leaves a trashed
record whose remaining objects the next run removes). The delivery ledger is left alone.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from image_pipeline.core import keys
from image_pipeline.core.catalog.roles import Curation, Images
from image_pipeline.core.storage import ObjectStore

log = logging.getLogger(__name__)

IMAGE_ZONES = (keys.RAW, keys.PROCESSED, keys.QUARANTINE)
DEFAULT_GRACE = timedelta(hours=24)


@dataclass
class Report:
    """What :func:`check` found: ``missing`` objects ({sha256, key, what}), ``orphans`` ({key,
    modified}, older than the grace period), and how many records and objects it looked at."""

    missing: list[dict[str, str]] = field(default_factory=list)
    orphans: list[dict[str, str]] = field(default_factory=list)
    records: int = 0
    objects: int = 0
    young_unreferenced: int = 0  # unnamed objects within the grace period: perhaps being written

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def image_keys(doc: dict[str, Any]) -> dict[str, str]:
    """The objects a record names, by what they are (``raw``, ``output:<recipe>``, ``quarantine``)."""
    named = {}
    if doc.get("raw_key"):
        named["raw"] = doc["raw_key"]
    for recipe, output in (doc.get("outputs") or {}).items():
        if isinstance(output, dict) and output.get("key"):
            named[f"output:{recipe}"] = output["key"]
    if (doc.get("quarantine") or {}).get("key"):
        named["quarantine"] = doc["quarantine"]["key"]
    return named


def _sha256_of(key: str) -> str:
    """The image a zone's key is named after (its file name's stem)."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def _now(now: datetime | None) -> datetime:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc)


def check(store: ObjectStore, catalog: Images, *, grace: timedelta = DEFAULT_GRACE,
          now: datetime | None = None) -> Report:
    """Every record's objects exist, and no image object is unnamed: the report (nothing changed)."""
    now = _now(now)
    listed = {key: modified for zone in IMAGE_ZONES for key, modified in store.list_modified(zone + "/")}
    report = Report(objects=len(listed))
    named: set[str] = set()
    for doc in catalog.iter_images():  # read after the listing: a record written meanwhile is seen
        report.records += 1
        for what, key in image_keys(doc).items():
            named.add(key)
            if key not in listed and not store.exists(key):  # written after the listing: not missing
                report.missing.append({"sha256": doc["sha256"], "key": key, "what": what})
    for key, modified in listed.items():
        if key in named:
            continue
        if now - modified >= grace:
            report.orphans.append({"key": key, "modified": modified.isoformat(timespec="seconds")})
        else:
            report.young_unreferenced += 1
    for entry in report.missing:
        log.warning("missing object: %s (%s of %s)", entry["key"], entry["what"], entry["sha256"])
    return report


def remove_orphans(store: ObjectStore, catalog: Images, orphans: list[dict[str, str]]) -> list[str]:
    """Remove the orphans a :func:`check` found, each after reading its image's record again (a
    record written since the check that names it keeps it); the keys removed."""
    removed = []
    for entry in orphans:
        key = entry["key"]
        doc = catalog.get(_sha256_of(key))
        if doc is not None and key in image_keys(doc).values():
            continue
        store.delete(key)
        removed.append(key)
        log.info("removed orphan object %s (modified %s)", key, entry.get("modified"))
    return removed


def purge_trash(store: ObjectStore, catalog: Curation, retention: timedelta, *,
                now: datetime | None = None) -> list[str]:
    """Remove every image trashed before ``now - retention``: its objects, then its record; the
    sha256s purged. Delivery ledger entries that name it stay."""
    cutoff = (_now(now) - retention).isoformat(timespec="microseconds")
    purged = []
    for doc in catalog.trashed_before(cutoff):
        for key in image_keys(doc).values():
            store.delete(key)
        catalog.delete_image(doc["sha256"])
        purged.append(doc["sha256"])
        log.info("purged %s (trashed %s by %s)", doc["sha256"], doc["trashed"]["at"], doc["trashed"].get("by"))
    return purged
