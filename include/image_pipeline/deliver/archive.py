"""Delivery's archive: a ZIP of a selection of processed images, with a manifest.

The archive is written one image at a time to a temporary file (never whole in memory; images
already compressed are STORED, ZIP64 throughout) and put into the archives zone under a name
derived from what it holds (a hash of its manifest), so a retry or a re-run finds it there.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from image_pipeline.core import keys
from image_pipeline.core.catalog.roles import Images
from image_pipeline.core.selection import Selection
from image_pipeline.deliver.request import check_deliverable, describe
from image_pipeline.core.storage import ObjectStore

log = logging.getLogger(__name__)

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed entry timestamps keep the archive's bytes reproducible
ARCHIVE_LAYOUT = 3  # bump when the archive's layout changes: archives get new names
MANIFEST_FIELDS = ["file", "sha256", "source_url", "page_url", "keywords", "width", "height", "bytes",
                   "labels", "licence", "licence_url", "creator", "original_format"]
# Formats that are compressed already: deflating them again costs time and saves nothing.
STORED_EXTENSIONS = {"jpg", "jpeg", "png", "webp", "gif", "avif", "heic", "zip"}


@dataclass(frozen=True)
class Archive:
    key: str
    content_id: str
    images: int
    bytes: int
    rows: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)


def select_images(catalog: Images, selection: Selection, recipe: str) -> list[dict[str, Any]]:
    """The selection's images that have the recipe's output, the trash left out."""
    if selection.images is None:
        return [d for d in catalog.find(**selection.find_filters(), has_output=recipe) if not d.get("trashed")]
    chosen = [catalog.get(sha) for sha in sorted(selection.sha256s(catalog))]  # chosen one by one
    return [d for d in chosen if d is not None and recipe in (d.get("outputs") or {}) and not d.get("trashed")]


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_stem(uri: str, limit: int = 60) -> str:
    """A file-name stem from a source URL: ASCII letters, digits, ``._-`` only; never empty."""
    name = unquote(urlparse(uri).path.rsplit("/", 1)[-1]) if uri else ""
    name = name.rsplit(".", 1)[0] if "." in name else name
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    name = _UNSAFE.sub("-", name).strip("-._")[:limit].strip("-._")
    return name or "image"


def _labels(doc: dict[str, Any]) -> str:
    return ";".join(label["name"] for label in (doc.get("features") or {}).get("labels") or [] if label.get("name"))


def manifest_rows(docs: list[dict[str, Any]], recipe: Any) -> list[dict[str, Any]]:
    """One row per image, with the unique, sanitised name it has inside the archive (``recipe``: the
    recipe object, with its ``name`` and ``ext``)."""
    ext, recipe = recipe.ext, recipe.name
    rows, used = [], set()
    for doc in docs:
        out, source = doc["outputs"][recipe], (doc.get("sources") or [{}])[0]
        name = f"images/{safe_stem(source.get('uri', ''))}-{doc['sha256'][:10]}.{ext}"
        counter = 1
        while name.lower() in used:  # names are compared as a case-insensitive file system would
            counter += 1
            name = f"images/{safe_stem(source.get('uri', ''))}-{doc['sha256'][:10]}-{counter}.{ext}"
        used.add(name.lower())
        rows.append({
            "file": name, "sha256": doc["sha256"], "source_url": source.get("uri", ""),
            "page_url": source.get("page_url", ""), "keywords": ";".join(doc.get("keywords", [])),
            "width": out["width"], "height": out["height"], "bytes": out["bytes"], "labels": _labels(doc),
            "licence": source.get("licence", ""), "licence_url": source.get("licence_url", ""),
            "creator": source.get("creator", ""), "original_format": doc.get("format", ""),
        })
    return rows


def content_id(selection: Selection, recipe: Any, docs: list[dict[str, Any]],
               rows: list[dict[str, Any]] | None = None) -> str:
    """A hash of everything the archive holds: its layout, README, manifest and image versions."""
    rows = rows if rows is not None else manifest_rows(docs, recipe)
    name = recipe.name
    versions = [(d["sha256"], d["outputs"][name]["version"], d["outputs"][name].get("fingerprint")) for d in docs]
    blob = json.dumps([ARCHIVE_LAYOUT, describe(selection, name), name, versions, rows], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _entry(name: str, compress_type: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, ZIP_EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = compress_type
    return info


def write_archive(store: ObjectStore, docs: list[dict[str, Any]], selection: Selection, spec: Any, dest: Path,
                  rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Write the ZIP to ``dest`` one image at a time, streaming each through a temporary file;
    returns the manifest rows. ``spec`` is the recipe (its name, version, description and ext)."""
    rows = rows if rows is not None else manifest_rows(docs, spec)
    with zipfile.ZipFile(dest, "w", allowZip64=True) as zf, tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "entry"
        for doc, row in zip(docs, rows, strict=True):
            store.download(doc["outputs"][spec.name]["key"], local)
            ext = row["file"].rsplit(".", 1)[-1].lower()
            method = zipfile.ZIP_STORED if ext in STORED_EXTENSIONS else zipfile.ZIP_DEFLATED
            with open(local, "rb") as src, zf.open(_entry(row["file"], method), "w", force_zip64=True) as dst:
                while block := src.read(1024 * 1024):
                    dst.write(block)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        zf.writestr(_entry("manifest.csv", zipfile.ZIP_DEFLATED), text.getvalue())
        zf.writestr(_entry("manifest.json", zipfile.ZIP_DEFLATED), json.dumps(rows, indent=2))
        readme = (
            f"Image Pipeline archive\n\nSelection: {describe(selection, spec.name)}\n"
            f"Recipe: {spec.name} v{spec.version} ({spec.description})\nImages: {len(rows)}\n\n"
            "images/         the processed images, named <source file name>-<first hash digits>\n"
            "manifest.csv    one row per image: file, sha256, source and page URL, keywords, width,\n"
            "manifest.json   height, bytes, labels, licence (as the source gave it) and its URL, creator,\n"
            "                original format\n\n"
            "Check each image's licence at its source before re-using it.\n"
        )
        zf.writestr(_entry("README.txt", zipfile.ZIP_DEFLATED), readme)
    return rows


def ensure_archive(store: ObjectStore, catalog: Images, selection: Selection, recipe: Any) -> Archive | None:
    """The selection's archive in the archives zone, built only if it is not there yet.

    On S3 the upload is a multipart upload for large archives (boto3's managed transfer); the
    object appears only when it completes, so a killed task leaves nothing half-written."""
    check_deliverable(selection)
    docs = select_images(catalog, selection, recipe.name)
    if not docs:
        return None
    rows = manifest_rows(docs, recipe)
    cid = content_id(selection, recipe, docs, rows)
    key = keys.archive_key(cid)
    if not store.exists(key):
        with tempfile.TemporaryDirectory(prefix="image-pipeline-zip-") as tmp:
            path = Path(tmp) / "archive.zip"
            write_archive(store, docs, selection, recipe, path, rows)
            store.put_file(key, path, "application/zip")
    return Archive(key=key, content_id=cid, images=len(docs), bytes=store.size(key), rows=rows)
