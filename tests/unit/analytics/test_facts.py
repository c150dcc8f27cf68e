"""The SQLite catalog's analytics facts: a day read from them gives the very tables the documents give
(DuckDB's JSON reader, which the MongoDB catalog uses), whatever the documents hold; the catalog's
write methods file them with every write; a file of schema 3 gains them. (Writers other than the
catalog, and schema 5's upgrade: tests/unit/core/test_catalog_upgrade.py.)"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from image_pipeline import analytics
from image_pipeline.analytics import extract
from image_pipeline.core.catalog import SqliteCatalog, facts
from image_pipeline.core.catalog.facts import ANY_DAY, PAGE_URL, READ_AS_JSON, facts_of
from image_pipeline.core.catalog.sqlite import SCHEMA_VERSION
from support.synthetic import gallery_docs, insert_docs

DAYS = [date(2026, 10, 1) + timedelta(days=i) for i in range(14)]
RECIPES = ["half_gray", "thumb", "web"]


def odd_docs() -> list[dict]:
    """Documents the facts cannot say as text, and some they can that look unusual."""
    base = {"retrieved_at": "2026-10-03T10:00:00.000000+00:00", "format": "JPEG", "status": "raw", "width": 10,
            "height": 5, "bytes": 100, "raw_key": "raw/x", "keywords": ["k"],
            "sources": [{"source": "bing", "uri": "https://WWW.Example.org/a.jpg"}]}
    docs = {
        "wide": {"width": "wide"},  # a field of another type
        "float_width": {"width": 10.0},
        "tab": {"keywords": ["two\twords"]},  # a control character in a string
        "zulu": {"retrieved_at": "2026-10-03T10:00:00Z"},  # a timestamp not in the catalog's form
        "spaced": {"retrieved_at": "2026-10-04 01:00:00+00:00"},  # sorts inside 10-03's window as text
        "idn_host": {"sources": [{"source": "bing", "uri": "https://BÜCHER.example/a.jpg"}]},
        "surrogate": {"keywords": ["caf\ud800", "\U0001f600"]},  # a lone surrogate (DuckDB refuses it) and a pair
        "labels_text": {"features": {"labels": "cat"}},
        "timing_text": {"outputs": {"half_gray": {"processed_at": "2026-10-03T11:00:00.000000+00:00",
                                                  "timings": {"decode": "slow"}}}},
        "no_lists": {"sources": None, "keywords": None, "outputs": None},  # NULL lists, not empty ones
        "empty_lists": {"sources": [], "keywords": [], "outputs": {}, "features": {"labels": []}},
        "userinfo": {"sources": [{"source": "urls", "uri": "http://me@cdn.example.org:8080/x"},
                                 {"source": "flickr", "uri": "ftp://x", "page_url": "https://www.flickr.com/photos/ann/1"}]},
        "trashed_before": {"trashed": {"at": "2026-10-02T00:00:00.000000+00:00", "by": "x"}},
        "trashed_after": {"trashed": {"at": "2026-10-05T00:00:00.000000+00:00", "by": "x"}},
        "trashed_no_time": {"trashed": {"by": "x"}},
        "quarantined": {"status": "quarantined", "quarantine": {"reason": "r", "stage": "process", "key": "",
                                                                 "at": "2026-10-03T12:00:00.000000+00:00"}},
        "big_int": {"bytes": 2**70},
        "next_day_output": {"outputs": {"thumb": {"processed_at": "2026-10-04T00:00:00.000000+00:00", "version": 2,
                                                  "seconds": 1, "timings": {"resize": 3, "encode": 0.25}}}},
    }
    out = []
    for i, (name, fields) in enumerate(docs.items()):
        sha = f"{i:02d}{name}".ljust(64, "0")[:64]
        out.append({**base, "sha256": sha, **fields})
    return out


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    with SqliteCatalog(tmp_path_factory.mktemp("facts") / "catalog.sqlite3") as cat:
        insert_docs(cat, [*gallery_docs(DAYS, per_day=40, seed=3), *odd_docs()])
        yield cat


def assert_same_day(catalog, day):
    facts_images, facts_outputs = analytics.read_day(catalog, day, RECIPES)
    doc_images, doc_outputs = extract.read_documents(catalog, day, RECIPES)
    assert facts_images.schema == doc_images.schema and facts_outputs.schema == doc_outputs.schema
    assert facts_images.to_pylist() == doc_images.to_pylist()
    assert facts_outputs.to_pylist() == doc_outputs.to_pylist()
    return facts_images, facts_outputs


def test_every_day_from_the_facts_equals_the_day_from_the_documents(catalog):
    read_as_json = {sha for (sha,) in catalog.conn.execute("SELECT sha256 FROM image_facts WHERE day = ?",
                                                           (ANY_DAY,))}
    assert {sha[2:].rstrip("0") for sha in read_as_json} == {
        "wide", "float_width", "tab", "zulu", "spaced", "idn_host", "surrogate", "labels_text", "timing_text",
        "big_int"}
    rows = 0
    for day in [DAYS[0] - timedelta(days=1), *DAYS, DAYS[-1] + timedelta(days=1)]:
        images, outputs = assert_same_day(catalog, day)
        rows += images.num_rows
    assert rows > 14 * 40


def test_the_unusual_documents_day_reads_both_kinds(catalog):
    images, outputs = assert_same_day(catalog, date(2026, 10, 3))
    odd = {doc["sha256"]: doc["sha256"][2:].rstrip("0") for doc in odd_docs()}
    by_sha = {odd[row["sha256"]]: row for row in images.to_pylist() if row["sha256"] in odd}
    assert "trashed_before" not in by_sha and {"trashed_after", "trashed_no_time", "spaced", "zulu"} <= set(by_sha)
    assert by_sha["no_lists"]["keywords"] is None and by_sha["empty_lists"]["keywords"] == []
    assert by_sha["userinfo"]["domains"] == ["cdn.example.org", "flickr.com"] and by_sha["userinfo"]["creators"] == ["ann"]
    assert by_sha["wide"]["domains"] == ["example.org"] and by_sha["wide"]["width"] == 0
    assert by_sha["quarantined"]["quarantined"] and by_sha["quarantined"]["quarantine_bytes"] == 0
    assert by_sha["surrogate"]["keywords"] == ["caf\ufffd", "\U0001f600"]
    images, outputs = assert_same_day(catalog, date(2026, 10, 4))
    thumb = [o for o in outputs.to_pylist() if odd.get(o["sha256"]) == "next_day_output"]
    assert thumb[0]["timings"] == [("encode", 0.25), ("resize", 3.0)] and thumb[0]["seconds"] == 1.0  # keys as stored


def test_the_documents_reader_mends_what_duckdb_refuses():
    """A lone surrogate escape (Python's json writes and reads it; MongoDB stores it) fails DuckDB's
    parse of the whole chunk: such a chunk is mended and parsed again, the rest of it unchanged."""
    since, until = extract.day_window(date(2026, 10, 3))
    good, lone = ({**odd_docs()[0], "sha256": c * 64} for c in "ab")
    lone["keywords"], good["features"] = ["caf\ud800"], {"blur": 2.5, "labels": [{"name": "\U0001f600"}]}
    images, _ = extract.flatten([json.dumps(d) for d in (good, lone)], since, until, RECIPES)
    rows = {row["sha256"][0]: row for row in images.to_pylist()}
    assert rows["b"]["keywords"] == ["caf\ufffd"]
    assert (rows["a"]["keywords"], rows["a"]["blur"], rows["a"]["labels"]) == (["k"], 2.5, ["\U0001f600"])


def test_the_facts_follow_every_write(tmp_path):
    docs = list(gallery_docs(DAYS[:3], per_day=20, seed=8))
    with SqliteCatalog(tmp_path / "c.sqlite3") as cat:
        insert_docs(cat, docs)
        moved, gone, trashed = docs[0]["sha256"], docs[1]["sha256"], docs[2]["sha256"]
        cat.record_processing(moved, {"web": {"key": "k", "version": 3, "format": "WEBP", "width": 1, "height": 1,
                                              "bytes": 9, "seconds": 0.5, "processed_at": "2026-10-09T08:00:00+00:00",
                                              "timings": {"encode": 0.4}}})
        cat.delete_image(gone)
        cat.trash_image(trashed, "ann", at="2026-10-01T00:00:00+00:00")
        days = {day for (day,) in cat.conn.execute("SELECT day FROM image_facts WHERE sha256 = ?", (moved,))}
        assert days == {docs[0]["retrieved_at"][:10], *(o["processed_at"][:10] for o in docs[0]["outputs"].values()),
                        "2026-10-09"}
        assert cat.conn.execute("SELECT count(*) FROM image_facts WHERE sha256 = ?", (gone,)).fetchone() == (0,)
        for day in [*DAYS[:4], date(2026, 10, 9)]:
            images, _ = assert_same_day(cat, day)
            assert gone not in images.column("sha256").to_pylist()
            # kept by the days up to its trashing, as they were reported
            assert (trashed in images.column("sha256").to_pylist()) == (day == DAYS[0])
        _, outputs = assert_same_day(cat, date(2026, 10, 9))
        assert [(o["sha256"], o["recipe"], o["version"]) for o in outputs.to_pylist()] == [(moved, "web", 3)]


def test_a_file_of_schema_3_gains_the_facts(tmp_path):
    path = tmp_path / "v3.sqlite3"
    with SqliteCatalog(path) as cat:
        insert_docs(cat, [*gallery_docs(DAYS[:2], per_day=30, seed=4), *odd_docs()])
        expected = cat.conn.execute("SELECT * FROM image_facts ORDER BY day, sha256").fetchall()
        for name in ("tr_facts_insert", "tr_facts_update", "tr_facts_delete"):
            cat.conn.execute(f"DROP TRIGGER {name}")
        cat.conn.execute("DROP TABLE image_facts")
        cat.conn.execute("PRAGMA user_version = 3")
    with SqliteCatalog(path) as cat:
        assert cat.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
        assert cat.conn.execute("SELECT * FROM image_facts ORDER BY day, sha256").fetchall() == expected
        assert len(expected) > 60


@pytest.mark.parametrize("doc, days", [
    ({"retrieved_at": "2026-10-01T23:59:59.999999+00:00",
      "outputs": {"web": {"processed_at": "2026-10-02T00:00:00.000000+00:00"}}}, ["2026-10-01", "2026-10-02"]),
    ({"retrieved_at": None}, []),  # no timestamp: no day reads it
    ({"retrieved_at": "2026-10-01T00:00:00+00:00"}, [ANY_DAY]),
    ({"retrieved_at": "2026-10-01T00:00:00.000000+00:00", "faces": True, "features": {"faces": True}}, [ANY_DAY]),
    ({"retrieved_at": "2026-10-01T00:00:00.000000+00:00", "features": {"brightness": float("nan")}}, [ANY_DAY]),
    ([1, 2], [ANY_DAY]),
])
def test_which_days_file_a_document(doc, days):
    rows = json.loads(facts_of(json.dumps(doc)))
    assert [row[0] for row in rows] == days
    assert all((row[1] == READ_AS_JSON) == (row[0] == ANY_DAY) for row in rows)


def test_a_creator_named_by_a_page_is_the_readers_to_find():
    """The catalog (core) knows no site's page URLs: it keeps the page of a source naming no creator,
    and the reader finds the creator it names (a Flickr photo page) or none."""
    sources = [{"source": "flickr", "uri": "https://live.staticflickr.com/1.jpg", "page_url": "https://www.flickr.com/photos/ann/1"},
               {"source": "bing", "uri": "https://a.example/x.jpg", "page_url": "https://a.example/photos/bob/2"},
               {"source": "openverse", "uri": "https://b.example/y.jpg", "creator": "Cy", "page_url": "https://flickr.com/photos/dee"},
               {"source": "flickr", "uri": "https://c.example/z.jpg", "page_url": "http://flickr.com/photos/ann?x=1"}]
    doc = {**odd_docs()[0], "width": 10, "sha256": "f" * 64, "sources": sources}
    (row,) = json.loads(facts_of(json.dumps(doc)))
    creators = row[1].split("\t")[list(facts.IMAGE_FIELDS).index("creators")]
    assert creators.count(PAGE_URL) == 3 and "Cy" in creators
    window = extract.day_window(date(2026, 10, 3))
    images, _ = extract.read_facts(iter([([row[1].encode()], [])]), iter([]), *window, RECIPES)
    doc_images, _ = extract.flatten([json.dumps(doc)], *window, RECIPES)
    assert images.column("creators").to_pylist() == doc_images.column("creators").to_pylist() == [["Cy", "ann"]]


def test_a_line_longer_than_the_csv_readers_block(tmp_path):
    doc = {**odd_docs()[0], "width": 10, "sha256": "e" * 64, "keywords": ["a", "b" * (5 << 20)]}  # a 5 MB line
    with SqliteCatalog(tmp_path / "c.sqlite3") as cat:
        insert_docs(cat, [doc])
        (line,) = [row[0] for row in cat.conn.execute("SELECT image FROM image_facts")]
        assert len(line) > 4 << 20
        images, _ = assert_same_day(cat, date(2026, 10, 3))
        assert [len(k) for k in images.column("keywords")[0].as_py()] == [1, 5 << 20]
