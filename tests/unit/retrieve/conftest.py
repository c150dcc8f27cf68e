"""What the retrieval tests share: a store and catalog in the test's folder."""

from __future__ import annotations

import pytest

from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.storage import LocalStore


@pytest.fixture
def gallery(tmp_path):
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        yield store, catalog
