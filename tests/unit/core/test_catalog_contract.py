"""One contract for every catalog: SQLite always, MongoDB through mongomock, and a real MongoDB
server when MONGO_URI is set (its parameter marked ``mongo_server``, deselected otherwise)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog, new_image_doc
from image_pipeline.core.catalog.sqlite import SCHEMA_VERSION
from image_pipeline.core.errors import InvalidRequest

# The real server's parameter is marked: tests/conftest.py deselects it unless MONGO_URI is set.
BACKENDS = ["sqlite", "mongomock", pytest.param("mongo_server", marks=pytest.mark.mongo_server)]


@pytest.fixture(params=BACKENDS)
def catalog(request, tmp_path):
    if request.param == "sqlite":
        cat = SqliteCatalog(tmp_path / "catalog.sqlite3")
    elif request.param == "mongomock":
        import mongomock

        cat = MongoCatalog(mongomock.MongoClient()["test"])
    else:
        import pymongo

        client = pymongo.MongoClient(os.environ["MONGO_URI"])
        name = f"image_pipeline_test_{uuid.uuid4().hex[:8]}"
        cat = MongoCatalog(client[name])
        request.addfinalizer(lambda: client.drop_database(name))
    yield cat
    cat.close()


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


def test_iter_images_gives_every_document_by_sha256_in_batches(catalog):
    shas = [c * 64 for c in "dbeac"]
    for sha in shas:
        record(catalog, sha)
    catalog.record_output("e" * 64, "half_gray", output())
    streamed = catalog.iter_images(batch_size=2)
    first = next(streamed)  # a generator: nothing read beyond the first batch yet
    assert first["sha256"] == "a" * 64
    assert [first, *streamed] == catalog.find() and [d["sha256"] for d in catalog.find()] == sorted(shas)


def test_new_image_is_recorded_once(catalog):
    sha, fields = image()
    assert catalog.record_image(sha, **fields) is True
    assert catalog.record_image(sha, **fields) is False
    assert catalog.get(sha) == new_image_doc(sha, **fields)
    assert len(catalog.find()) == 1


def test_seeing_an_image_again_merges_keyword_run_and_source(catalog):
    sha, fields = image()
    catalog.record_image(sha, **fields)
    _, again = image(keyword="kittens", run_id="run2", uri="http://x/1.jpg", source="urls",
                     seen_at="2026-11-02T10:00:00.000000+00:00")
    catalog.record_image(sha, **again)
    catalog.record_image(sha, **{**again, "seen_at": "2026-11-01T12:00:00.000000+00:00"})  # older: ignored
    doc = catalog.get(sha)
    assert doc["keywords"] == ["cats", "kittens"]
    assert doc["run_ids"] == ["run1", "run2"]
    assert [s["source"] for s in doc["sources"]] == ["folder", "urls"]
    assert doc["retrieved_at"] == fields["seen_at"]
    assert doc["last_seen_at"] == "2026-11-02T10:00:00.000000+00:00"


def test_pending_follows_outputs_and_recipe_versions(catalog):
    for sha in ("a" * 64, "b" * 64, "c" * 64):
        record(catalog, sha)
    assert catalog.pending("half_gray", 1) == ["a" * 64, "b" * 64, "c" * 64]
    catalog.record_output("a" * 64, "half_gray", output(version=1))
    catalog.record_quarantine("b" * 64, "cannot decode", "process", "quarantine/b", "2026-11-01T11:00:00.000000+00:00")
    assert catalog.pending("half_gray", 1) == ["c" * 64]
    assert catalog.pending("half_gray", 2) == ["a" * 64, "c" * 64]  # a new version reprocesses
    assert catalog.get("a" * 64)["status"] == "processed"
    assert catalog.get("b" * 64)["quarantine"]["reason"] == "cannot decode"


def test_quarantine_can_create_the_record(catalog):
    sha, fields = image("d" * 64, format="unknown")
    base = new_image_doc(sha, **fields)
    catalog.record_quarantine(sha, "not an image", "retrieve", "quarantine/d", "2026-11-01T10:00:00.000000+00:00", base=base)
    catalog.record_quarantine(sha, "not an image", "retrieve", "quarantine/d", "2026-11-01T10:00:00.000000+00:00", base=base)
    catalog.record_quarantine(sha, "other", "process", "quarantine/d", "2026-11-09T10:00:00.000000+00:00")
    doc = catalog.get(sha)
    assert doc["status"] == "quarantined" and doc["keywords"] == ["cats"]
    assert doc["quarantine"] == {"reason": "not an image", "stage": "retrieve", "key": "quarantine/d",
                                 "at": "2026-11-01T10:00:00.000000+00:00", "kind": "image"}
    assert len(catalog.find()) == 1


def test_updates_of_unknown_images_fail(catalog):
    with pytest.raises(KeyError):
        catalog.record_output("e" * 64, "half_gray", output())
    with pytest.raises(KeyError):
        catalog.record_quarantine("e" * 64, "r", "process", "k", "2026-11-01T10:00:00.000000+00:00")


def test_find_filters(catalog):
    record(catalog, "a" * 64, keyword="cats", run_id="r1", seen_at="2026-11-01T10:00:00.000000+00:00")
    record(catalog, "b" * 64, keyword="dogs", run_id="r1", seen_at="2026-11-02T10:00:00.000000+00:00")
    record(catalog, "c" * 64, keyword="cats", run_id="r2", seen_at="2026-11-03T10:00:00.000000+00:00")
    catalog.record_output("c" * 64, "half_gray", output(at="2026-11-03T11:00:00.000000+00:00"))

    def shas(**kw):
        return [d["sha256"][0] for d in catalog.find(**kw)]

    assert shas(keyword="cats") == ["a", "c"]
    assert shas(run_id="r1") == ["a", "b"]
    assert shas(keyword="cats", run_id="r1") == ["a"]
    assert shas(status="processed") == ["c"]
    assert shas(has_output="half_gray") == ["c"]
    assert shas(between=("retrieved_at", "2026-11-02T00:00:00", "2026-11-03T00:00:00")) == ["b"]
    assert shas(between=("outputs.half_gray.processed_at", "2026-11-03T00:00:00", "2026-11-04T00:00:00")) == ["c"]
    assert shas(keyword="birds") == []
    with pytest.raises(ValueError):
        catalog.find(between=("retrieved_at') OR 1=1 --", "a", "b"))


def test_processing_is_recorded_in_one_write_and_found_by_label(catalog):
    record(catalog, "a" * 64, seen_at="2026-11-02T10:00:00.000000+00:00")
    record(catalog, "b" * 64, seen_at="2026-11-01T10:00:00.000000+00:00")
    features = {"version": 1, "phash": "00ff00ff00ff00ff", "labels": [{"name": "tabby cat", "score": 0.8}]}
    catalog.record_processing("a" * 64, {"half_gray": output(), "thumb": output()}, features, duplicate_of=None)
    doc = catalog.get("a" * 64)
    assert doc["status"] == "processed" and set(doc["outputs"]) == {"half_gray", "thumb"}
    assert doc["features"] == features and doc["duplicate_of"] is None
    assert [d["sha256"] for d in catalog.find(label="tabby cat")] == ["a" * 64]
    assert catalog.find(label="tabby") == []
    # A later recipe adds to the outputs; features stay unless given again.
    catalog.record_processing("a" * 64, {"web": output(version=2)})
    doc = catalog.get("a" * 64)
    assert set(doc["outputs"]) == {"half_gray", "thumb", "web"} and doc["features"] == features
    assert catalog.pending_features(1) == ["b" * 64] and catalog.pending_features(2) == ["a" * 64, "b" * 64]
    assert catalog.pending("web", 2) == ["b" * 64] and catalog.pending("web", 3) == ["a" * 64, "b" * 64]
    catalog.record_processing("b" * 64, {}, {"version": 1, "phash": "00ff00ff00ff00fe"}, duplicate_of="a" * 64)
    assert catalog.get("b" * 64)["status"] == "raw" and catalog.get("b" * 64)["duplicate_of"] == "a" * 64
    # Oldest retrieval first: b was retrieved before a.
    assert catalog.phashes() == [("b" * 64, "00ff00ff00ff00fe"), ("a" * 64, "00ff00ff00ff00ff")]
    with pytest.raises(KeyError):
        catalog.record_processing("e" * 64, {}, {"version": 1})


def test_delivery_ledger_upserts(catalog):
    assert catalog.get_delivery("d1") is None
    catalog.put_delivery("d1", {"status": "sending", "recipient": "a@example.com"})
    catalog.put_delivery("d1", {"status": "sent", "recipient": "a@example.com"})
    assert catalog.get_delivery("d1") == {"id": "d1", "status": "sent", "recipient": "a@example.com"}
    assert [d["id"] for d in catalog.deliveries()] == ["d1"]


def test_sqlite_parallel_writers_lose_no_update(tmp_path):
    """Mapped tasks write the catalog at once: read-modify-write must serialise."""
    path = tmp_path / "catalog.sqlite3"
    SqliteCatalog(path).close()
    sha, fields = image()

    def writer(n):
        with SqliteCatalog(path) as cat:
            for i in range(20):
                cat.record_image(sha, **{**fields, "keyword": f"k{n}-{i}"})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with SqliteCatalog(path) as cat:
        assert len(cat.get(sha)["keywords"]) == 80


def test_the_same_run_seeing_an_image_again_changes_nothing(catalog):
    sha, fields = image()
    catalog.record_image(sha, **fields)
    before = catalog.get(sha)
    catalog.record_image(sha, **{**fields, "seen_at": "2026-11-05T10:00:00.000000+00:00"})
    assert catalog.get(sha) == before


def test_touched_streams_images_retrieved_processed_or_quarantined_in_a_window(catalog):
    day2 = ("2026-11-02T00:00:00.000000+00:00", "2026-11-03T00:00:00.000000+00:00")
    record(catalog, "a" * 64, seen_at="2026-11-02T10:00:00.000000+00:00")  # retrieved in the window
    record(catalog, "b" * 64, seen_at="2026-11-01T23:00:00.000000+00:00")  # processed in it
    catalog.record_output("b" * 64, "half_gray", output(at="2026-11-02T00:30:00.000000+00:00"))
    record(catalog, "c" * 64, seen_at="2026-11-01T22:00:00.000000+00:00")  # quarantined in it
    catalog.record_quarantine("c" * 64, "cannot decode", "process", "q", "2026-11-02T01:00:00.000000+00:00")
    record(catalog, "d" * 64, seen_at="2026-11-01T10:00:00.000000+00:00")  # processed the day before
    catalog.record_output("d" * 64, "half_gray", output(at="2026-11-01T11:00:00.000000+00:00"))
    record(catalog, "e" * 64, seen_at="2026-11-03T00:00:00.000000+00:00")  # the window's end is open
    record(catalog, "f" * 64, seen_at="2026-11-01T10:00:00.000000+00:00")  # another recipe in it
    catalog.record_output("f" * 64, "thumb", output(at="2026-11-02T11:00:00.000000+00:00"))
    touched = [d["sha256"] for d in catalog.touched(*day2, recipes=["half_gray", "thumb"], batch_size=2)]
    assert touched == ["a" * 64, "b" * 64, "c" * 64, "f" * 64]
    assert [d["sha256"] for d in catalog.touched(*day2)] == ["a" * 64, "c" * 64]  # outputs only when named
    assert catalog.get("b" * 64) == next(d for d in catalog.touched(*day2, recipes=["half_gray"]) if d["sha256"] == "b" * 64)


def test_metrics_documents_are_upserted_by_day(catalog):
    assert catalog.get_metrics("2026-11-02") is None and catalog.metrics() == []
    catalog.put_metrics("2026-11-02", {"retrieved": 3, "by_format": {"JPEG": 3}})
    catalog.put_metrics("2026-11-01", {"retrieved": 1})
    catalog.put_metrics("2026-11-02", {"retrieved": 5, "by_format": {"PNG": 5}})  # a re-run replaces it
    assert catalog.get_metrics("2026-11-02") == {"day": "2026-11-02", "retrieved": 5, "by_format": {"PNG": 5}}
    assert [m["day"] for m in catalog.metrics()] == ["2026-11-01", "2026-11-02"]
    assert catalog.metrics()[0] == {"day": "2026-11-01", "retrieved": 1}


def test_touched_json_holds_at_least_the_touched_documents(catalog):
    import json

    record(catalog, "a" * 64, seen_at="2026-11-02T10:00:00.000000+00:00")
    record(catalog, "b" * 64, seen_at="2026-11-05T10:00:00.000000+00:00")
    window = ("2026-11-02T00:00:00.000000+00:00", "2026-11-03T00:00:00.000000+00:00")
    texts = [json.loads(t) for t in catalog.touched_json(*window)]
    assert catalog.get("a" * 64) in texts and catalog.get("b" * 64) not in texts


# --- the gallery's listing -------------------------------------------------------------------------

def _gallery(catalog):
    """Six images: keywords, labels, sources, formats, statuses, faces and a near-duplicate pair."""
    t = "2026-11-0{}T10:00:00.000000+00:00"
    record(catalog, "a" * 64, keyword="cats", seen_at=t.format(1), source="bing")
    record(catalog, "b" * 64, keyword="dogs", seen_at=t.format(2), source="inbox", format="PNG")
    record(catalog, "c" * 64, keyword="cats", seen_at=t.format(3), source="inbox")
    record(catalog, "d" * 64, keyword="cats", seen_at=t.format(4), source="urls")
    record(catalog, "e" * 64, keyword="dogs", seen_at=t.format(4), source="bing")  # same time as d: sha256 breaks the tie
    record(catalog, "f" * 64, keyword="birds", seen_at=t.format(5), source="bing", format="PNG")
    catalog.record_image("a" * 64, **image("a" * 64, keyword="kittens", run_id="r2", source="urls")[1])
    features = lambda faces, *labels: {"version": 1, "phash": "0" * 16, "faces": faces,  # noqa: E731
                                       "labels": [{"name": n, "score": 0.5} for n in labels]}
    catalog.record_processing("a" * 64, {"thumb": output()}, features(2, "tabby cat", "lynx"))
    catalog.record_processing("c" * 64, {"thumb": output()}, features(0, "tabby cat"), duplicate_of="a" * 64)
    catalog.record_processing("d" * 64, {"thumb": output()}, features(1, "beagle"))
    catalog.record_quarantine("f" * 64, "cannot decode", "process", "q", t.format(6))


def test_list_images_filters_sorts_and_counts(catalog):
    _gallery(catalog)

    def shas(sort="newest", **filters):
        items, cursor = catalog.list_images(filters, sort=sort, limit=50)
        assert cursor is None
        assert catalog.count_images(filters) == len(items)
        return "".join(d["sha256"][0] for d in items)

    assert shas() == "fedcba" and shas(sort="oldest") == "abcdef"
    assert shas(keyword="cats") == "dca" and shas(keyword="kittens") == "a"
    assert shas(label="tabby cat") == "ca" and shas(label="tabby") == ""
    assert shas(source="inbox") == "cb" and shas(source="urls") == "da"
    assert shas(format="PNG") == "fb"
    assert shas(status="processed") == "dca" and shas(status="quarantined") == "f" and shas(status="raw") == "eb"
    assert shas(has_faces=True) == "da" and shas(has_faces=False) == "fecb"
    assert shas(duplicates=True) == "ca"
    assert shas(group="a" * 64) == "ca" and shas(group="c" * 64) == "c"
    assert shas(since="2026-11-02", until="2026-11-03") == "cb"  # a bare day until includes that day
    assert shas(since="2026-11-02T10:00:00+00:00", until="2026-11-04T10:00:00+00:00") == "cb"
    assert shas(keyword="cats", label="tabby cat", status="processed", has_faces=True) == "a"
    assert shas(keyword="cats", source="inbox", sort="oldest") == "c"
    with pytest.raises(InvalidRequest):
        catalog.list_images({"status": "lost"})
    with pytest.raises(InvalidRequest):
        catalog.list_images({"colour": "red"})
    with pytest.raises(InvalidRequest):
        catalog.list_images({}, cursor="not a cursor!")
    with pytest.raises(InvalidRequest):
        catalog.list_images({}, limit=0)


def test_facets_count_images_per_value(catalog):
    _gallery(catalog)
    facets = catalog.facets()
    as_dict = {k: {f["name"]: f["count"] for f in v} for k, v in facets.items()}
    assert as_dict["keywords"] == {"cats": 3, "dogs": 2, "birds": 1, "kittens": 1}
    assert as_dict["labels"] == {"tabby cat": 2, "lynx": 1, "beagle": 1}
    assert as_dict["sources"] == {"bing": 3, "inbox": 2, "urls": 2}
    assert as_dict["formats"] == {"JPEG": 4, "PNG": 2}
    assert as_dict["statuses"] == {"processed": 3, "raw": 2, "quarantined": 1}
    assert facets["keywords"][0] == {"name": "cats", "count": 3}  # most frequent first


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_cursor_paging_never_repeats_or_skips_under_concurrent_inserts(catalog, sort):
    def at(n):
        return f"2026-10-{1 + n // 1000:02d}T{(n // 60) % 24:02d}:{n % 60:02d}:00.000000+00:00"

    for n in range(0, 300, 3):
        record(catalog, f"{n:064x}", seen_at=at(n), keyword="cats" if n % 2 else "dogs")
    before = {f"{n:064x}" for n in range(0, 300, 3)}
    seen, cursor, pages = [], None, 0
    while True:
        items, cursor = catalog.list_images({}, sort=sort, limit=7, cursor=cursor)
        seen += [d["sha256"] for d in items]
        pages += 1
        # Meanwhile older (and newer) images arrive, and a seen one is seen again by another run.
        record(catalog, f"{1000 + pages:064x}", seen_at="2026-09-01T00:00:00.000000+00:00")
        record(catalog, f"{2000 + pages:064x}", seen_at="2026-12-01T00:00:00.000000+00:00")
        if seen:
            catalog.record_image(seen[0], **image(seen[0], keyword="again", run_id=f"r{pages}")[1])
        if cursor is None:
            break
    assert len(seen) == len(set(seen))  # never repeated
    assert before <= set(seen)  # never skipped
    assert pages >= 15


def test_the_listing_is_indexed(catalog, tmp_path):
    if isinstance(catalog, SqliteCatalog):
        plan = " ".join(str(r) for r in catalog.conn.execute(
            "EXPLAIN QUERY PLAN SELECT count(*) FROM image_terms AS t0 JOIN image_fields AS f ON f.sha256 = t0.sha256 "
            "WHERE t0.kind = 'keywords' AND t0.value = 'cats' AND f.status = 'processed'"))
        assert "SCAN" not in plan
    else:
        names = {tuple(v["key"]) for v in catalog.images.index_information().values()}
        assert (("keywords", 1), ("retrieved_at", -1), ("_id", -1)) in names
        assert (("status", 1), ("retrieved_at", -1), ("_id", -1)) in names
        MongoCatalog(catalog.db)  # creating the indexes again is harmless


def test_an_sqlite_file_from_before_the_listing_is_migrated(tmp_path):
    import json
    import sqlite3

    path = tmp_path / "old.sqlite3"
    sha, fields = image()
    with sqlite3.connect(path) as conn:  # the schema before the listing's tables
        conn.execute("CREATE TABLE images (sha256 TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        conn.execute("INSERT INTO images VALUES (?, ?)", (sha, json.dumps(new_image_doc(sha, **fields))))
    with SqliteCatalog(path) as cat:
        assert [d["sha256"] for d in cat.list_images({"keyword": "cats"})[0]] == [sha]
        assert cat.count_images({"source": "folder"}) == 1
        assert cat.pending("half_gray", 1) == [sha] and cat.pending_features(1) == [sha]
        assert [d["sha256"] for d in cat.touched("2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00")] == [sha]
    with SqliteCatalog(path) as cat:  # opening again changes nothing
        assert cat.facets()["keywords"] == [{"name": "cats", "count": 1}]


def test_sqlite_planning_and_a_days_reading_go_through_indexes(tmp_path):
    """Pending work, features, phashes and a day's documents read the side tables' indexes (never a
    scan of the documents), and give what the documents say after every kind of write."""
    with SqliteCatalog(tmp_path / "c.sqlite3") as cat:
        for sha in ("a" * 64, "b" * 64, "c" * 64):
            record(cat, sha)
        cat.record_processing("a" * 64, {"half_gray": {**output(), "fingerprint": "f1"}},
                              {"version": 2, "phash": "00ff"}, None)
        cat.record_processing("b" * 64, {"half_gray": {**output(version=2), "fingerprint": "f1"}},
                              {"version": 1, "phash": "0f0f"}, "a" * 64)
        assert cat.pending("half_gray", 1) == ["b" * 64, "c" * 64]
        assert cat.pending("half_gray", "f1", "fingerprint") == ["c" * 64]
        assert cat.pending("thumb", 1) == ["a" * 64, "b" * 64, "c" * 64]
        assert cat.pending_features(2) == ["b" * 64, "c" * 64]
        assert cat.phashes() == [("a" * 64, "00ff"), ("b" * 64, "0f0f")]
        day = ("2026-11-01T11:00:00+00:00", "2026-11-02T00:00:00+00:00")  # after retrieval, with the outputs
        assert [d["sha256"] for d in cat.touched(*day)] == []
        assert [d["sha256"] for d in cat.touched(*day, recipes=["half_gray"])] == ["a" * 64, "b" * 64]
        cat.conn.execute("DELETE FROM images WHERE sha256 = ?", ("a" * 64,))
        assert cat.pending("thumb", 1) == ["b" * 64, "c" * 64] and cat.phashes() == [("b" * 64, "0f0f")]
        queries = {
            "signatures": "SELECT min(outputs_sig) FROM image_work WHERE outputs_sig > 'x'",
            "by signature": "SELECT sha256 FROM image_work WHERE outputs_sig = 'x' AND status != 'quarantined' "
                            "AND trashed_at IS NULL",
            "features": "SELECT sha256 FROM image_work WHERE (features_version < 1 OR features_version > 1 "
                        "OR features_version IS NULL) AND status != 'quarantined'",
            "phashes": "SELECT sha256, phash FROM image_work WHERE phash IS NOT NULL ORDER BY retrieved_at, sha256",
            "day": "SELECT sha256 FROM image_times WHERE at >= 'a' AND at < 'b' AND kind IN ('retrieved')",
        }
        for name, sql in queries.items():
            plan = " ".join(row[-1] for row in cat.conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
            assert ("INDEX" in plan or "PRIMARY KEY" in plan) and "TEMP B-TREE" not in plan, (name, plan)


# --- managed by people: tags, trash, history; saved recipes -------------------------------------

def test_edits_are_recorded_with_who_and_when_and_only_what_changed(catalog):
    sha = "a" * 64
    record(catalog, sha)
    doc = catalog.edit_image(sha, {"title": " Lighthouse ", "tags": ["sea", "sea", "night"]}, "ann")
    assert (doc["title"], doc["tags"]) == ("Lighthouse", ["sea", "night"])
    assert catalog.edit_image(sha, {"title": "Lighthouse", "description": None}, "bob") == doc  # nothing new
    doc = catalog.edit_image(sha, {"description": "At dusk"}, "bob")
    assert [(h["by"], h["action"], h["changes"]) for h in doc["history"]] == [
        ("ann", "edit", {"title": "Lighthouse", "tags": ["sea", "night"]}), ("bob", "edit", {"description": "At dusk"})]
    assert catalog.edit_image("f" * 64, {"title": "x"}, "ann") is None
    with pytest.raises(InvalidRequest):
        catalog.edit_image(sha, {"status": "raw"}, "ann")
    with pytest.raises(InvalidRequest):
        catalog.edit_image(sha, {"tags": [""]}, "ann")


def test_tags_filter_the_listing_and_have_facets(catalog):
    for sha in ("a" * 64, "b" * 64, "c" * 64):
        record(catalog, sha)
    assert catalog.tag_images(["a" * 64, "b" * 64], ["sea"], "ann") == 2
    assert catalog.tag_images(["a" * 64, "b" * 64], ["sea"], "ann") == 0  # already tagged
    catalog.tag_images(["a" * 64], ["night"], "ann")
    assert [d["sha256"] for d in catalog.list_images({"tag": "sea"}, sort="oldest")[0]] == ["a" * 64, "b" * 64]
    assert [d["sha256"] for d in catalog.list_images({"tag": ("sea", "night")})[0]] == ["a" * 64]
    assert catalog.count_images({"tag": "night", "keyword": "cats"}) == 1
    assert {f["name"]: f["count"] for f in catalog.facets()["tags"]} == {"sea": 2, "night": 1}
    assert catalog.tag_images(["b" * 64], ["sea"], "bob", remove=True) == 1
    assert catalog.get("b" * 64)["tags"] == [] and catalog.get("b" * 64)["history"][-1]["action"] == "untag"


def test_trash_hides_restore_round_trips(catalog):
    for sha in ("a" * 64, "b" * 64):
        record(catalog, sha)
    catalog.tag_images(["a" * 64], ["sea"], "ann")
    doc, changed = catalog.trash_image("a" * 64, "ann", at="2026-11-02T00:00:00+00:00")
    assert changed and doc["trashed"] == {"at": "2026-11-02T00:00:00.000000+00:00", "by": "ann"}
    assert catalog.trash_image("a" * 64, "bob")[1] is False  # trashing twice changes nothing
    assert [d["sha256"] for d in catalog.list_images()[0]] == ["b" * 64] and catalog.count_images() == 1
    assert [d["sha256"] for d in catalog.list_images({"trashed": True})[0]] == ["a" * 64]
    assert catalog.facets()["tags"] == [] and {f["name"] for f in catalog.facets()["keywords"]} == {"cats"}
    assert catalog.pending("half_gray", 1) == ["b" * 64] and catalog.pending_features(1) == ["b" * 64]
    assert catalog.due([("half_gray", 1, "f1")], 1) == ["b" * 64]  # planning never takes a trashed image
    assert [d["sha256"] for d in catalog.trashed_before("2026-11-03T00:00:00+00:00")] == ["a" * 64]
    assert catalog.trashed_before("2026-11-01T00:00:00+00:00") == []
    doc, changed = catalog.restore_image("a" * 64, "bob")
    assert changed and doc["trashed"] is None and doc["tags"] == ["sea"]
    assert [h["action"] for h in doc["history"]] == ["tag", "trash", "restore"]
    assert catalog.count_images() == 2 and catalog.pending("half_gray", 1) == ["a" * 64, "b" * 64]


def test_a_trashed_image_found_again_stays_in_the_trash_and_is_not_new(catalog):
    sha, fields = image()
    catalog.record_image(sha, **fields)
    catalog.trash_image(sha, "ann")
    before = catalog.get(sha)
    assert catalog.record_image(sha, **{**fields, "keyword": "dogs", "run_id": "run9"}) is False
    assert catalog.get(sha) == before


def test_analytics_leave_out_images_trashed_before_the_day_only(catalog):
    sha, fields = image(seen_at="2026-11-01T10:00:00+00:00")
    catalog.record_image(sha, **fields)
    catalog.trash_image(sha, "ann", at="2026-11-01T12:00:00+00:00")  # the day it was retrieved
    day = ("2026-11-01T00:00:00.000000+00:00", "2026-11-02T00:00:00.000000+00:00")
    assert [d["sha256"] for d in catalog.touched(*day)] == [sha]  # that day reads as it did
    assert len(list(catalog.touched_json(*day))) == 1
    catalog.record_output(sha, "half_gray", output(at="2026-11-05T10:00:00.000000+00:00"))
    later = ("2026-11-05T00:00:00.000000+00:00", "2026-11-06T00:00:00.000000+00:00")
    assert list(catalog.touched(*later, ["half_gray"])) == [] and list(catalog.touched_json(*later, ["half_gray"])) == []
    catalog.restore_image(sha, "ann")
    assert len(list(catalog.touched(*later, ["half_gray"]))) == 1


def test_delete_image_removes_only_the_record(catalog):
    record(catalog, "a" * 64)
    catalog.put_delivery("d1", {"status": "sent", "images": ["a" * 64]})
    assert catalog.delete_image("a" * 64) is True and catalog.delete_image("a" * 64) is False
    assert catalog.get("a" * 64) is None and catalog.count_images() == 0 and catalog.facets()["keywords"] == []
    assert catalog.get_delivery("d1")["images"] == ["a" * 64]


def test_saved_recipes_are_versioned_by_name(catalog):
    spec = {"name": "mine", "operations": ["grayscale"]}
    first = catalog.save_recipe("mine", {**spec, "version": 9}, "ann", "2026-11-01T00:00:00+00:00")
    assert (first["version"], first["spec"], first["saved_by"]) == (1, spec, "ann")
    catalog.save_recipe("other", spec, "ann", "2026-11-01T00:00:00+00:00")
    again = catalog.save_recipe("mine", {**spec, "operations": ["sepia"]}, "bob", "2026-11-02T00:00:00+00:00")
    assert again["version"] == 2 and again["spec"]["operations"] == ["sepia"]
    assert [(d["name"], d["version"]) for d in catalog.saved_recipes()] == [("mine", 2), ("other", 1)]


def test_an_sqlite_file_of_schema_1_gains_the_trash_and_tags(tmp_path):
    import json

    path = tmp_path / "v1.sqlite3"
    with SqliteCatalog(path) as cat:  # made at schema 1: no trashed_at column, triggers without tags, no work tables
        for name in ("tr_images_insert", "tr_images_update", "tr_images_delete", "tr_work_insert", "tr_work_update",
                     "tr_work_delete", "tr_facts_insert", "tr_facts_update", "tr_facts_delete"):
            cat.conn.execute(f"DROP TRIGGER {name}")
        cat.conn.execute("DROP TABLE image_facts")
        cat.conn.execute("DROP TABLE image_work")
        cat.conn.execute("DROP TABLE image_times")
        cat.conn.execute("DROP INDEX ix_fields_trashed")
        cat.conn.execute("ALTER TABLE image_fields DROP COLUMN trashed_at")
        cat.conn.execute("PRAGMA user_version = 1")
        for sha, extra in (("a" * 64, {"tags": ["sea"]}), ("b" * 64, {"trashed": {"at": "2026-11-02", "by": "x"}})):
            sha, fields = image(sha)
            cat.conn.execute("INSERT INTO images VALUES (?, ?)", (sha, json.dumps({**new_image_doc(sha, **fields),
                                                                                 **extra})))
    with SqliteCatalog(path) as cat:
        assert cat.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert cat.conn.execute("SELECT sha256 FROM image_facts").fetchall() == [("a" * 64,), ("b" * 64,)]
        assert [d["sha256"] for d in cat.list_images({"tag": "sea"})[0]] == ["a" * 64]
        assert [d["sha256"] for d in cat.list_images({"trashed": True})[0]] == ["b" * 64]
        assert cat.count_images() == 1
        assert cat.pending("half_gray", 1) == ["a" * 64] and cat.pending_features(1) == ["a" * 64]


def test_an_sqlite_file_of_the_other_schema_2_gains_the_trash_and_keeps_planning(tmp_path):
    """A file of issue 16's early schema 2 (the work tables, without the trash): migrated to 3, its
    trashed images never planned."""
    import json

    path = tmp_path / "v2.sqlite3"
    with SqliteCatalog(path) as cat:
        for name in ("tr_images_insert", "tr_images_update", "tr_images_delete", "tr_work_insert", "tr_work_update",
                     "tr_facts_insert", "tr_facts_update", "tr_facts_delete"):
            cat.conn.execute(f"DROP TRIGGER {name}")
        cat.conn.execute("DROP TABLE image_facts")
        cat.conn.execute("DROP INDEX ix_fields_trashed")
        cat.conn.execute("ALTER TABLE image_fields DROP COLUMN trashed_at")
        cat.conn.execute("DROP TABLE image_work")
        cat.conn.execute("CREATE TABLE image_work (sha256 TEXT PRIMARY KEY, status TEXT, outputs_sig TEXT NOT NULL, "
                         "features_version INTEGER, phash TEXT, retrieved_at TEXT) WITHOUT ROWID")
        cat.conn.execute("PRAGMA user_version = 2")
        for sha, extra in (("a" * 64, {}), ("b" * 64, {"trashed": {"at": "2026-11-02", "by": "x"}})):
            sha, fields = image(sha)
            doc = {**new_image_doc(sha, **fields), **extra}
            cat.conn.execute("INSERT INTO images VALUES (?, ?)", (sha, json.dumps(doc)))
            cat.conn.execute("INSERT INTO image_work VALUES (?, 'raw', '', NULL, NULL, ?)", (sha, doc["retrieved_at"]))
    with SqliteCatalog(path) as cat:
        assert cat.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert cat.pending("half_gray", 1) == ["a" * 64] and cat.pending_features(1) == ["a" * 64]
        assert cat.due([("half_gray", 1, None)], 1) == ["a" * 64]
        assert [d["sha256"] for d in cat.list_images({"trashed": True})[0]] == ["b" * 64]
        cat.restore_image("b" * 64, "ann")
        assert cat.pending("half_gray", 1) == ["a" * 64, "b" * 64]


def failure(version=1, fingerprint="f1", at="2026-11-01T11:00:00.000000+00:00"):
    return {"reason": "mark: watermark: missing picture", "kind": "recipe", "operation": "watermark",
            "version": version, "fingerprint": fingerprint, "at": at}


def test_a_failed_output_stands_for_its_recipe_until_it_changes_and_a_success_drops_it(catalog):
    a, b = "a" * 64, "b" * 64
    record(catalog, a)
    record(catalog, b)
    catalog.record_processing(a, {"half_gray": {**output(), "fingerprint": "g1"}}, failures={"mark": failure()})
    doc = catalog.get(a)
    assert doc["status"] == "processed" and doc["failures"]["mark"]["reason"].startswith("mark:")
    assert catalog.due([("mark", 1, "f1")], None) == [b]  # failed at this version: not planned again
    assert catalog.due([("mark", 2, "f1")], None) == [a, b] and catalog.due([("mark", 1, "f2")], None) == [a, b]
    assert catalog.pending("mark", 1) == [b] and catalog.pending("mark", "f1", "fingerprint") == [b]
    assert [d["sha256"] for d in catalog.problems()] == [a]
    catalog.record_processing(a, {"mark": {**output(), "fingerprint": "f1"}})  # a Redo that worked
    assert not catalog.get(a).get("failures") and catalog.problems() == []
    assert catalog.due([("mark", 1, "f1")], None) == [b]


def test_attempts_count_once_per_run_and_end_with_a_processing_or_a_quarantine(catalog):
    a = "a" * 64
    record(catalog, a)
    at = "2026-11-01T11:00:00.000000+00:00"
    assert catalog.record_attempt(a, "TypeError: x", at, run_id="r1", release="0.2.0") == 1
    assert catalog.record_attempt(a, "TypeError: y", at, run_id="r1") == 1  # a retried task of the same run
    assert catalog.record_attempt(a, "TypeError: z", at, run_id="r2") == 2
    assert catalog.get(a)["attempts"]["reason"] == "TypeError: z" and [d["sha256"] for d in catalog.problems()] == [a]
    catalog.record_processing(a, {"half_gray": output()})
    assert not catalog.get(a).get("attempts") and catalog.problems() == []
    catalog.record_attempt(a, "TypeError", at, run_id="r3")
    catalog.record_quarantine(a, "failed 3 times: TypeError", "process", "q/a", at, kind="unexpected", attempts=3)
    doc = catalog.get(a)
    assert not doc.get("attempts") and doc["quarantine"]["kind"] == "unexpected" and doc["quarantine"]["attempts"] == 3


def test_retry_lifts_a_quarantine_forgets_failures_and_records_who(catalog):
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    for sha in (a, b, c):
        record(catalog, sha)
    at = "2026-11-01T11:00:00.000000+00:00"
    catalog.record_processing(a, {"half_gray": output()})
    catalog.record_quarantine(a, "failed 3 times: TypeError", "process", "q/a", at, kind="unexpected")
    catalog.record_processing(b, {}, failures={"mark": failure()})
    catalog.trash_image(c, "ann")
    catalog.record_quarantine(c, "cannot decode image", "process", "q/c", at)
    assert [d["sha256"] for d in catalog.problems()] == [a, b]  # the trash left out
    doc, changed = catalog.retry_image(a, "ann", at)
    assert changed and doc["status"] == "processed" and doc["quarantine"] is None
    assert doc["history"][-1]["action"] == "retry" and doc["history"][-1]["changes"]["quarantine"]["kind"] == "unexpected"
    doc, changed = catalog.retry_image(b, "ann", at)
    assert changed and doc["status"] == "raw" and not doc["failures"]
    assert catalog.retry_image(b, "ann", at)[1] is False  # nothing left to retry
    assert catalog.problems() == [] and catalog.due([("half_gray", 1, None), ("mark", 1, "f1")], None) == [a, b]


def test_an_sqlite_file_of_schema_4_gains_failed_outputs_and_problems(tmp_path):
    import json

    path = tmp_path / "v4.sqlite3"
    sha_q, sha_p = "a" * 64, "b" * 64
    with SqliteCatalog(path) as cat:  # made at schema 4: work triggers without failures, no problem column
        for name in ("tr_work_insert", "tr_work_update", "tr_work_delete"):
            cat.conn.execute(f"DROP TRIGGER {name}")
        cat.conn.execute("DROP INDEX ix_work_problem")
        cat.conn.execute("ALTER TABLE image_work DROP COLUMN problem")
        cat.conn.execute("PRAGMA user_version = 4")
        for sha, status in ((sha_q, "quarantined"), (sha_p, "processed")):
            sha, fields = image(sha)
            doc = {**new_image_doc(sha, **fields), "status": status}
            if status == "quarantined":
                doc["quarantine"] = {"reason": "processing failed: x", "stage": "process", "key": "q", "at": doc["retrieved_at"]}
            cat.conn.execute("INSERT INTO images VALUES (?, ?)", (sha, json.dumps(doc)))
            cat.conn.execute("INSERT INTO image_work (sha256, status, outputs_sig) VALUES (?, ?, '')", (sha, status))
    with SqliteCatalog(path) as cat:
        assert cat.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert [d["sha256"] for d in cat.problems()] == [sha_q]
        cat.record_processing(sha_p, {}, failures={"mark": failure()})
        assert [d["sha256"] for d in cat.problems()] == [sha_q, sha_p] and cat.due([("mark", 1, "f1")], None) == []
