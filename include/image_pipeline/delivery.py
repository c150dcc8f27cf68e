"""Delivery: a ZIP of a selection of processed images, with a manifest, sent by email once.

The archive's key is derived from what it contains (recipe, image hashes, output versions) and its
bytes are reproducible (fixed timestamps, sorted entries), so a retry or a re-run finds the archive
already there. The delivery ledger in the catalog is keyed by (archive, recipient): a delivery that
was sent is never sent again.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from image_pipeline import keys
from image_pipeline.catalog import Catalog, utcnow_iso
from image_pipeline.mail import Mailer, compose, validate_address
from image_pipeline.recipes import get_recipe
from image_pipeline.storage import ObjectStore

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed entry timestamps keep the archive's bytes reproducible
MANIFEST_FIELDS = ["file", "sha256", "source_uri", "keywords", "width", "height", "bytes", "original_format"]


@dataclass(frozen=True)
class Selection:
    """Which processed images to deliver: those of a recipe, filtered by keyword and/or run."""

    recipe: str = "half_gray"
    keyword: str | None = None
    run_id: str | None = None

    def __post_init__(self) -> None:
        get_recipe(self.recipe)
        if not (self.keyword or self.run_id):
            raise ValueError("a selection needs a keyword or a retrieval run id")

    def describe(self) -> str:
        parts = [f"recipe {self.recipe}"]
        if self.keyword:
            parts.append(f"keyword {self.keyword!r}")
        if self.run_id:
            parts.append(f"run {self.run_id}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Archive:
    key: str
    content_id: str
    images: int
    bytes: int


def select_images(catalog: Catalog, selection: Selection) -> list[dict[str, Any]]:
    return catalog.find(keyword=selection.keyword, run_id=selection.run_id, has_output=selection.recipe)


def content_id(selection: Selection, docs: list[dict[str, Any]]) -> str:
    outputs = sorted((d["sha256"], d["outputs"][selection.recipe]["version"]) for d in docs)
    return hashlib.sha256(json.dumps([selection.recipe, outputs]).encode()).hexdigest()


def _entry(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, ZIP_EPOCH)
    info.external_attr = 0o644 << 16
    return info


def _manifest_row(doc: dict[str, Any], recipe: str, file: str) -> dict[str, Any]:
    out = doc["outputs"][recipe]
    return {
        "file": file, "sha256": doc["sha256"], "source_uri": doc["sources"][0]["uri"],
        "keywords": ";".join(doc["keywords"]), "width": out["width"], "height": out["height"],
        "bytes": out["bytes"], "original_format": doc["format"],
    }


def write_archive(store: ObjectStore, docs: list[dict[str, Any]], selection: Selection, dest: Path) -> list[dict[str, Any]]:
    """Write the ZIP to ``dest``, one image at a time; returns the manifest rows."""
    spec = get_recipe(selection.recipe)
    rows = []
    with zipfile.ZipFile(dest, "w", allowZip64=True) as zf, tempfile.TemporaryDirectory() as tmp:
        for doc in docs:
            out = doc["outputs"][selection.recipe]
            # Names come from content hashes: safe in any file system and unique by construction.
            name = f"images/{doc['sha256'][:16]}.{spec.ext}"
            local = Path(tmp) / "entry"
            store.download(out["key"], local)
            # JPEG is already compressed: store it, deflating would cost time and save nothing.
            with open(local, "rb") as src, zf.open(_entry(name), "w", force_zip64=True) as dst:
                while block := src.read(1024 * 1024):
                    dst.write(block)
            rows.append(_manifest_row(doc, selection.recipe, name))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        deflate = {"compress_type": zipfile.ZIP_DEFLATED}
        zf.writestr(_entry("manifest.csv"), text.getvalue(), **deflate)
        zf.writestr(_entry("manifest.json"), json.dumps(rows, indent=2), **deflate)
        readme = (
            f"Image Pipeline archive\n\nSelection: {selection.describe()}\n"
            f"Recipe: {spec.name} v{spec.version} ({spec.description})\nImages: {len(rows)}\n"
            "manifest.csv and manifest.json list every image with its source.\n"
        )
        zf.writestr(_entry("README.txt"), readme, **deflate)
    return rows


def ensure_archive(store: ObjectStore, catalog: Catalog, selection: Selection) -> Archive | None:
    """The selection's archive in the archives zone, built only if it is not there yet."""
    docs = select_images(catalog, selection)
    if not docs:
        return None
    cid = content_id(selection, docs)
    key = keys.archive_key(cid)
    if not store.exists(key):
        with tempfile.TemporaryDirectory(prefix="image-pipeline-zip-") as tmp:
            path = Path(tmp) / "archive.zip"
            write_archive(store, docs, selection, path)
            store.put_file(key, path, "application/zip")
    return Archive(key=key, content_id=cid, images=len(docs), bytes=store.size(key))


def delivery_id(archive: Archive, recipient: str) -> str:
    return hashlib.sha256(f"{archive.content_id}|{recipient.lower()}".encode()).hexdigest()


def deliver(
    store: ObjectStore, catalog: Catalog, mailer: Mailer, selection: Selection, *, recipient: str,
    sender: str, attach_max_bytes: int, link_expiry_seconds: int,
) -> dict[str, Any]:
    """Archive the selection and email it once; returns the delivery ledger entry."""
    recipient = validate_address(recipient)
    archive = ensure_archive(store, catalog, selection)
    if archive is None:
        return {"status": "empty", "selection": asdict(selection), "recipient": recipient}
    did = delivery_id(archive, recipient)
    entry = catalog.get_delivery(did)
    if entry and entry["status"] == "sent":
        return entry  # exactly once: a retry or a re-run after a send does not send again
    attach = archive.bytes <= attach_max_bytes
    link = None if attach else store.link(archive.key, link_expiry_seconds)
    body = (
        f"Hello,\n\nyour images are ready: {archive.images} images ({selection.describe()}).\n\n"
        + ("The ZIP archive is attached.\n" if attach else f"Download the ZIP archive ({archive.bytes} bytes):\n{link}\n")
        + "\nIts manifest.csv lists every image with its source.\n\n-- Image Pipeline\n"
    )
    msg = compose(
        sender=sender, recipient=recipient, subject=f"Your images: {archive.images} ({selection.describe()})",
        body=body, delivery_id=did,
        attachment=(f"images-{archive.content_id[:12]}.zip", store.get_bytes(archive.key)) if attach else None,
    )
    location = mailer.send(msg)
    entry = {
        "status": "sent", "recipient": recipient, "selection": asdict(selection), "archive_key": archive.key,
        "archive_bytes": archive.bytes, "images": archive.images, "attached": attach,
        "link": link, "location": location, "sent_at": utcnow_iso(),
    }
    catalog.put_delivery(did, entry)
    return {**entry, "id": did}
