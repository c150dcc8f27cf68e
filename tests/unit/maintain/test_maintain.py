"""Maintenance: the trash purged past its retention, orphan objects found and removed (only once
older than the grace period), missing objects reported; a second run changes nothing."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import pytest

from image_pipeline import maintain
from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog
from image_pipeline.core.storage import LocalStore
from image_pipeline.process import process_batch
from image_pipeline.retrieve import ingest_folder

DAY = timedelta(days=1)


@pytest.fixture(params=["sqlite", "mongomock"])
def gallery(request, tmp_path, samples):
    store = LocalStore(tmp_path / "store")
    if request.param == "sqlite":
        catalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    else:
        import mongomock

        catalog = MongoCatalog(mongomock.MongoClient()["test"])
    ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
    process_batch(store, catalog, ["thumb", "half_gray"], [d["sha256"] for d in catalog.find(status="raw")])
    yield store, catalog
    catalog.close()


def everything(store):
    return sorted(store.list())


def age(store, key, seconds):
    """Make an object look ``seconds`` old."""
    then = time.time() - seconds
    os.utime(store.path(key), (then, then))


def test_a_consistent_gallery_checks_clean(gallery):
    store, catalog = gallery
    report = maintain.check(store, catalog)
    assert report.missing == [] and report.orphans == []
    assert report.records == len(catalog.find()) and report.objects == len(
        [k for k in everything(store) if k.split("/")[0] in maintain.IMAGE_ZONES])


def test_purge_removes_exactly_the_trashed_images_past_the_retention(gallery):
    store, catalog = gallery
    processed = [d for d in catalog.find(status="processed")]
    old, recent, kept = processed[0], processed[1], processed[2:]
    now = datetime.now(timezone.utc)
    catalog.trash_image(old["sha256"], "ann", at=(now - 10 * DAY).isoformat())
    catalog.trash_image(recent["sha256"], "ann", at=(now - 2 * DAY).isoformat())
    catalog.put_delivery("d1", {"status": "sent", "images": [old["sha256"]]})
    before = everything(store)
    gone = set(maintain.image_keys(old).values())
    assert len(gone) == 3  # the raw object and two outputs

    assert maintain.purge_trash(store, catalog, 7 * DAY) == [old["sha256"]]
    assert everything(store) == [k for k in before if k not in gone]
    assert catalog.get(old["sha256"]) is None and catalog.get(recent["sha256"])["trashed"]
    assert all(catalog.get(d["sha256"]) == d for d in kept)
    assert catalog.get_delivery("d1")["images"] == [old["sha256"]]  # the ledger stays
    assert maintain.purge_trash(store, catalog, 7 * DAY) == []  # a second run changes nothing
    assert maintain.check(store, catalog).missing == []


def test_an_orphan_is_found_and_removed_only_past_the_grace_period(gallery):
    store, catalog = gallery
    orphan, young = f"raw/ee/{'e' * 64}.jpg", f"processed/thumb/dd/{'d' * 64}.jpg"
    store.put_bytes(orphan, b"left by a killed task")
    store.put_bytes(young, b"being recorded right now")
    store.put_bytes("archives/" + "a" * 64 + ".zip", b"not an image object")
    age(store, orphan, 2 * 24 * 3600)
    age(store, "archives/" + "a" * 64 + ".zip", 2 * 24 * 3600)
    report = maintain.check(store, catalog, grace=timedelta(hours=24))
    assert [o["key"] for o in report.orphans] == [orphan] and report.young_unreferenced == 1
    assert maintain.remove_orphans(store, catalog, report.orphans) == [orphan]
    assert not store.exists(orphan) and store.exists(young) and store.exists("archives/" + "a" * 64 + ".zip")
    again = maintain.check(store, catalog, grace=timedelta(hours=24))
    assert again.orphans == [] and maintain.remove_orphans(store, catalog, again.orphans) == []


def test_an_orphan_recorded_since_the_check_is_kept(gallery):
    store, catalog = gallery
    doc = catalog.find(status="processed")[0]
    key = doc["outputs"]["thumb"]["key"]
    report = maintain.Report(orphans=[{"key": key, "modified": "2026-01-01T00:00:00+00:00"}])
    assert maintain.remove_orphans(store, catalog, report.orphans) == [] and store.exists(key)


def test_a_missing_object_is_reported(gallery):
    store, catalog = gallery
    doc = catalog.find(status="processed")[0]
    store.delete(doc["outputs"]["half_gray"]["key"])
    before = everything(store)
    report = maintain.check(store, catalog)
    assert report.missing == [{"sha256": doc["sha256"], "key": doc["outputs"]["half_gray"]["key"],
                               "what": "output:half_gray"}]
    assert everything(store) == before  # checking changes nothing


def test_the_check_reads_the_catalog_a_batch_at_a_time(tmp_path):
    """Memory stays flat in the size of the catalog: the check holds a batch of documents, never
    them all as ``find()`` does (traced in the same test: the ratio, not a size)."""
    import tracemalloc

    from support.synthetic import insert_docs

    docs = [{"sha256": f"{i:064x}", "raw_key": None, "outputs": {}, "description": "x" * 4_000}
            for i in range(10_000)]  # 40 MB of text, ten of the check's batches; no object to look for
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        insert_docs(catalog, docs)
        del docs

        def peak(run) -> int:
            tracemalloc.start()
            try:
                run()
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        all_at_once = peak(catalog.find)
        report = []
        checked = peak(lambda: report.append(maintain.check(store, catalog)))
    assert report[0].records == 10_000 and report[0].missing == []
    assert all_at_once > 40_000_000 and checked < all_at_once / 3, (checked, all_at_once)
