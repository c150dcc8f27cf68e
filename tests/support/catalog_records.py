"""The catalog contract tests' backends and records (tests/unit/core/catalog/): SQLite always, MongoDB
through mongomock, and a real MongoDB server when MONGO_URI is set (its parameter marked
``mongo_server``, deselected otherwise); an image's retrieval fields, a recipe's output and a failed
output as the pipeline records them."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any, Callable

import pytest

from image_pipeline.core.catalog import Catalog, MongoCatalog, SqliteCatalog

# The real server's parameter is marked: tests/conftest.py deselects it unless MONGO_URI is set.
BACKENDS = ["sqlite", "mongomock", pytest.param("mongo_server", marks=pytest.mark.mongo_server)]


def open_backend(kind: str, tmp_path: Path, finalize: Callable[[Callable[[], Any]], Any]) -> Catalog:
    """A new, empty catalog of that kind (``tmp_path / "catalog.sqlite3"`` for SQLite); ``finalize``
    registers what drops a real server's database afterwards."""
    if kind == "sqlite":
        return SqliteCatalog(tmp_path / "catalog.sqlite3")
    if kind == "mongomock":
        import mongomock

        return MongoCatalog(mongomock.MongoClient()["test"])
    import pymongo

    client = pymongo.MongoClient(os.environ["MONGO_URI"])
    name = f"image_pipeline_test_{uuid.uuid4().hex[:8]}"
    finalize(lambda: client.drop_database(name))
    return MongoCatalog(client[name])


def record(catalog, sha, **kw):
    sha, fields = image(sha, **kw)
    return catalog.record_image(sha, **fields)


def image(sha="a" * 64, keyword="cats", run_id="run1", seen_at="2026-11-01T10:00:00.000000+00:00", **kw):
    fields = dict(raw_key=f"raw/{sha[:2]}/{sha}.jpg", format="JPEG", width=100, height=80, bytes=1234,
                  source="folder", uri=f"file:///in/{sha[:4]}.jpg", keyword=keyword, run_id=run_id, seen_at=seen_at)
    fields.update(kw)
    return sha, fields


def output(version=1, at="2026-11-01T11:00:00.000000+00:00"):
    return {"key": "processed/half_gray/x.jpg", "version": version, "width": 50, "height": 40,
            "bytes": 500, "seconds": 0.01, "processed_at": at}


def failure(version=1, fingerprint="f1", at="2026-11-01T11:00:00.000000+00:00"):
    return {"reason": "mark: watermark: missing picture", "kind": "recipe", "operation": "watermark",
            "version": version, "fingerprint": fingerprint, "at": at}
