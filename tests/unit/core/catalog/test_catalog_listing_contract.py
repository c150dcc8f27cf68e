"""The gallery's listing: filtered, sorted, keyset-paged pages, their counts and the facets, from indexes."""

from __future__ import annotations

import pytest

from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog
from image_pipeline.core.catalog.roles import Listing
from image_pipeline.core.errors import InvalidRequest
from support.catalog_records import image, output, record

ROLES = (Listing,)


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
