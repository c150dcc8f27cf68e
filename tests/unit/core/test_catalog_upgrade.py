"""The SQLite catalog can be written by anyone: no trigger calls a function that a plain connection
lacks. A write through a plain connection (the sqlite3 module or CLI, a worker of an older release
during an upgrade) works, its documents are read as JSON until the catalog derives their analytics
facts, and every day reads as the documents say. A file of schema 5, whose triggers called a Python
function (any other writer failed with "no such function"), is upgraded keeping its facts."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest

from image_pipeline import analytics
from image_pipeline.analytics import extract
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.catalog.facts import ANY_DAY, READ_AS_JSON, facts_of
from image_pipeline.core.catalog.sqlite import SCHEMA_VERSION
from support.synthetic import gallery_docs

SCHEMA_5 = Path(__file__).with_name("catalog_schema5.sql")  # written by the release before 6 (see its header)
RECIPES = ["half_gray", "thumb", "web"]
DAYS = [date(2026, 10, 1) + timedelta(days=i) for i in range(4)]
# Words that come before a parenthesis in SQL without being a function.
_SQL_WORDS = {"as", "and", "begin", "else", "exists", "from", "in", "join", "not", "on", "or", "select", "then",
              "union", "using", "values", "when", "where"}


def foreign_functions(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """For each trigger of the file, the names it calls that are no function (nor table-valued
    function) of a plain connection."""
    plain = sqlite3.connect(":memory:")
    built_in = {r[0].lower() for r in plain.execute("PRAGMA function_list")}
    built_in |= {r[0].lower() for r in plain.execute("PRAGMA module_list")}  # json_each, json_tree...
    tables = {r[0].lower() for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    found = {}
    for name, sql in conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"):
        code = re.sub(r"'(?:[^']|'')*'", "''", sql)  # no string literal
        called = {word.lower() for word in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", code)}
        found[name] = called - built_in - tables - _SQL_WORDS
    return found


def schema_5_file(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA_5.read_text())
    return path


def facts_rows(conn: sqlite3.Connection) -> list[tuple]:
    return conn.execute("SELECT day, sha256, trashed_at, image, outputs FROM image_facts ORDER BY sha256, day").fetchall()


def assert_days_read_as_the_documents_say(catalog: SqliteCatalog, days) -> int:
    rows = 0
    for day in days:
        images, outputs = analytics.read_day(catalog, day, RECIPES)
        doc_images, doc_outputs = extract.read_documents(catalog, day, RECIPES)
        assert images.to_pylist() == doc_images.to_pylist()
        assert outputs.to_pylist() == doc_outputs.to_pylist()
        rows += images.num_rows
    return rows


def test_no_trigger_of_the_catalog_calls_a_function_a_plain_connection_lacks(tmp_path):
    with SqliteCatalog(tmp_path / "new.sqlite3") as cat:
        found = foreign_functions(cat.conn)
    assert {"tr_facts_insert", "tr_facts_update", "tr_images_insert", "tr_work_update"} <= set(found)
    assert not any(found.values()), found
    with sqlite3.connect(schema_5_file(tmp_path / "v5.sqlite3")) as conn:  # the check finds schema 5's
        assert foreign_functions(conn)["tr_facts_insert"] == {"image_pipeline_facts"}
    with SqliteCatalog(tmp_path / "v5.sqlite3") as cat:
        assert not any(foreign_functions(cat.conn).values())


def plain_writes(path: Path, docs: list[dict]) -> None:
    """What an older release or the sqlite3 CLI does: a plain connection, no function registered."""
    new, updated, replaced, deleted = docs
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO images (sha256, doc) VALUES (?, ?)", (new["sha256"], json.dumps(new)))
        conn.execute("INSERT INTO images (sha256, doc) VALUES (?, ?) ON CONFLICT(sha256) DO UPDATE SET doc = excluded.doc",
                     (updated["sha256"], json.dumps(updated)))
        conn.execute("INSERT OR REPLACE INTO images (sha256, doc) VALUES (?, ?)", (replaced["sha256"], json.dumps(replaced)))
        conn.execute("DELETE FROM images WHERE sha256 = ?", (deleted["sha256"],))
    conn.close()


def test_a_plain_connection_writes_and_the_days_read_as_the_documents_say(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    docs = list(gallery_docs(DAYS, per_day=12, seed=21))
    added = docs.pop()
    with SqliteCatalog(path) as cat:
        for doc in docs:  # through the catalog's write methods: their facts filed at once
            cat.record_image(doc["sha256"], raw_key=doc["raw_key"] or "", format=doc["format"], width=doc["width"],
                             height=doc["height"], bytes=doc["bytes"], source=doc["sources"][0]["source"],
                             uri=doc["sources"][0]["uri"], keyword=doc["keywords"][0], run_id="r",
                             seen_at=doc["retrieved_at"], provenance={"page_url": doc["sources"][0].get("page_url")})
        assert cat.conn.execute("SELECT count(*) FROM image_facts WHERE image IS NULL").fetchone() == (0,)
        stored = {doc["sha256"]: cat.get(doc["sha256"]) for doc in docs}
    updated = {**stored[docs[0]["sha256"]], "outputs": {"web": {
        "version": 2, "format": "WEBP", "width": 5, "height": 4, "bytes": 99, "seconds": 0.25,
        "processed_at": DAYS[-1].isoformat() + "T12:00:00.000000+00:00", "timings": {"resize": 0.1, "encode": 0.15}}},
        "status": "processed"}
    replaced = {**stored[docs[1]["sha256"]], "trashed": {"at": DAYS[0].isoformat() + "T00:00:00.000000+00:00",
                                                         "by": "cli"}}
    deleted = stored[docs[2]["sha256"]]
    plain_writes(path, [added, updated, replaced, deleted])

    with sqlite3.connect(path) as conn:  # filed as not derived: read as JSON, even by the release before
        rows = {r[1]: r for r in facts_rows(conn)}
        for doc in (added, updated, replaced):
            assert rows[doc["sha256"]][0] == ANY_DAY and rows[doc["sha256"]][3] is None
        assert rows[replaced["sha256"]][2] == replaced["trashed"]["at"]
        assert deleted["sha256"] not in rows
        untouched = {r for r in facts_rows(conn) if r[1] not in {added["sha256"], updated["sha256"],
                                                                 replaced["sha256"]}}
    conn.close()
    with SqliteCatalog(path) as cat:
        assert assert_days_read_as_the_documents_say(cat, DAYS) > 40  # (the first reading derives them)
        assert cat.conn.execute("SELECT count(*) FROM image_facts WHERE image IS NULL").fetchone() == (0,)
        derived = [r for r in facts_rows(cat.conn) if r[1] == updated["sha256"]]
        text = cat.conn.execute("SELECT doc FROM images WHERE sha256 = ?", (updated["sha256"],)).fetchone()[0]
        assert [(r[0], r[3], r[4]) for r in derived] == [tuple(row) for row in json.loads(facts_of(text))]
        assert {r[0] for r in derived} == {updated["retrieved_at"][:10], DAYS[-1].isoformat()}
        assert untouched <= set(facts_rows(cat.conn))  # the others' facts as the write methods filed them
        _, outputs = analytics.read_day(cat, DAYS[-1], RECIPES)
        assert (updated["sha256"], "web", 2) in {(o["sha256"], o["recipe"], o["version"]) for o in outputs.to_pylist()}
        images, _ = analytics.read_day(cat, DAYS[0], RECIPES)
        assert deleted["sha256"] not in images.column("sha256").to_pylist()


def test_a_catalog_of_schema_5_is_upgraded_keeping_its_facts(tmp_path):
    path = schema_5_file(tmp_path / "v5.sqlite3")
    with sqlite3.connect(path) as conn:
        before = facts_rows(conn)
        with pytest.raises(sqlite3.OperationalError, match="no such function: image_pipeline_facts"):
            conn.execute("UPDATE images SET doc = doc")  # what any other writer met at schema 5
    conn.close()
    by_name = {f"{i:02d}{name}".ljust(64, "0"): name for i, name in enumerate(["flickr", "marked_creator", "unusual",
                                                                             "trashed"])}  # as the file's header says
    with SqliteCatalog(path) as cat:
        assert cat.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        after = facts_rows(cat.conn)
        # Kept as they were but for the documents read as JSON (derived again: the same) and the one whose
        # creator holds the character schema 6 marks page URLs with (now read as JSON).
        again = {sha for sha, name in by_name.items() if name in ("unusual", "marked_creator")}
        assert [r for r in after if r[1] not in again] == [r for r in before if r[1] not in again]
        assert {(r[1], r[0], r[3]) for r in after if r[1] in again} == {(sha, ANY_DAY, READ_AS_JSON) for sha in again}
        assert assert_days_read_as_the_documents_say(cat, [date(2026, 9, 30), *DAYS]) > 15
        images, _ = analytics.read_day(cat, date(2026, 10, 2), RECIPES)
        creators = {by_name.get(row["sha256"]): row["creators"] for row in images.to_pylist()}
        assert creators["flickr"] == ["ann"] and creators["unusual"] == ["cy"] and creators["marked_creator"] == ["\x1dbob"]
        assert "trashed" in creators  # trashed after the day
        assert cat.get_metrics("2026-10-01") == {"day": "2026-10-01", "retrieved": 1}
    with sqlite3.connect(path) as conn:
        first = [json.loads(doc) for (doc,) in conn.execute("SELECT doc FROM images ORDER BY sha256 LIMIT 3")]
    conn.close()
    plain_writes(path, [{**first[0], "sha256": "f" * 64}, {**first[0], "keywords": ["again"]}, first[1], first[2]])
    with SqliteCatalog(path) as cat:
        assert assert_days_read_as_the_documents_say(cat, DAYS[:2]) > 15
