"""Where things live in the object store: zones and content-addressed keys.

Raw and processed objects are named by the sha256 of the original image, so storing the same image
twice writes the same key; archives by a hash of what they contain; reports by their day.
"""

from __future__ import annotations

import hashlib
from datetime import date

RAW = "raw"
PROCESSED = "processed"
QUARANTINE = "quarantine"
ARCHIVES = "archives"
REPORTS = "reports"
OUTBOX = "outbox"
ZONES = (RAW, PROCESSED, QUARANTINE, ARCHIVES, REPORTS, OUTBOX)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_key(sha256: str, ext: str) -> str:
    return f"{RAW}/{sha256[:2]}/{sha256}.{ext}"


def processed_key(recipe: str, sha256: str, ext: str) -> str:
    return f"{PROCESSED}/{recipe}/{sha256[:2]}/{sha256}.{ext}"


def quarantine_key(sha256: str, ext: str) -> str:
    return f"{QUARANTINE}/{sha256[:2]}/{sha256}.{ext}"


def archive_key(content_id: str) -> str:
    return f"{ARCHIVES}/{content_id}.zip"


def report_prefix(day: date) -> str:
    return f"{REPORTS}/daily/dt={day.isoformat()}/"


def outbox_key(delivery_id: str) -> str:
    return f"{OUTBOX}/{delivery_id}.eml"
