"""The SQLite catalog's own: its file written by parallel writers, its side tables' indexes, and a
file of every older schema migrated when opened."""

from __future__ import annotations

import threading

from image_pipeline.core.catalog import SqliteCatalog, new_image_doc
from image_pipeline.core.catalog.sqlite import SCHEMA_VERSION
from support.catalog_records import failure, image, output, record


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
