"""A trashed image whose content a later retrieval finds again stays in the trash and is not new."""

from __future__ import annotations

from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.storage import LocalStore
from image_pipeline.retrieve import ingest_folder


def test_a_trashed_image_found_again_is_not_re_added(tmp_path, samples):
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        first = ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
        assert first.counts["new"] >= 6
        trashed = catalog.find(status="raw")[0]
        catalog.trash_image(trashed["sha256"], "ann")
        before = catalog.get(trashed["sha256"])
        again = ingest_folder(store, catalog, samples, keyword="again", run_id="r2")
        assert again.counts["new"] == 0 and again.counts["duplicate"] == first.counts["new"]
        assert catalog.get(trashed["sha256"]) == before  # still trashed, the crawl not recorded on it
        assert trashed["sha256"] not in {d["sha256"] for d in catalog.list_images()[0]}
        assert "again" in catalog.get(catalog.list_images()[0][0]["sha256"])["keywords"]
