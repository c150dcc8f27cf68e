"""Retrieval from a folder and from URLs (served on loopback) into the raw zone and catalog."""

from __future__ import annotations

import shutil

import pytest

from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.retrieve.fetch import FetchPolicy
from image_pipeline.retrieve import ingest_folder, ingest_inbox, ingest_urls, upload_to_inbox, validate_request
from image_pipeline.core.storage import LocalStore
from image_pipeline.core.errors import InvalidRequest


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


@pytest.fixture
def catalog(tmp_path):
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as cat:
        yield cat


def test_folder_ingestion_is_content_addressed_and_idempotent(store, catalog, samples):
    first = ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
    # 6 images + the truncated JPEG (its header is fine) are new; the fake JPEG is quarantined.
    assert first.as_dict() == {"new": 7, "duplicate": 0, "quarantined": 1, "failed": 0, "refused": 0,
                               "refused_reasons": {}, "stop_reason": "exhausted"}
    objects = list(store.list())
    assert len(list(store.list("raw/"))) == 7 and len(list(store.list("quarantine/"))) == 1

    again = ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
    assert again.as_dict() == {"new": 0, "duplicate": 7, "quarantined": 1, "failed": 0, "refused": 0,
                               "refused_reasons": {}, "stop_reason": "exhausted"}
    assert list(store.list()) == objects
    assert len(catalog.find()) == 8
    docs = catalog.find(status="raw")
    assert all(d["keywords"] == ["demo"] and d["run_ids"] == ["r1"] for d in docs)
    bad = catalog.find(status="quarantined")[0]
    assert bad["quarantine"]["stage"] == "retrieve" and "image header" in bad["quarantine"]["reason"]


def test_same_image_under_two_names_and_keywords_is_one_record(store, catalog, samples, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(samples / "sample-0.jpg", other / "renamed.jpeg")
    ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
    summary = ingest_folder(store, catalog, other, keyword="again", run_id="r2")
    assert summary.as_dict()["duplicate"] == 1
    (doc,) = catalog.find(keyword="again")
    assert doc["keywords"] == ["demo", "again"] and doc["run_ids"] == ["r1", "r2"]
    assert len(doc["sources"]) == 2


def test_url_ingestion_through_icrawler_and_the_safe_fetcher(store, catalog, samples, http_server):
    base, root = http_server
    for name in ("sample-0.jpg", "sample-1.png", "broken.jpg"):
        shutil.copy(samples / name, root / name)
    shutil.copy(samples / "sample-0.jpg", root / "same-content.jpg")
    (root / "page.jpg").write_text("<html>not an image, whatever its name</html>")
    urls = [f"{base}/sample-0.jpg", f"{base}/sample-1.png", f"{base}/same-content.jpg", f"{base}/broken.jpg",
            f"{base}/page.jpg", f"{base}/missing.jpg", "http://169.254.169.254/latest/meta-data/"]
    policy = FetchPolicy(allowed_hosts=frozenset({"127.0.0.1"}))
    summary = ingest_urls(store, catalog, urls, keyword="web", run_id="r1", policy=policy)
    assert summary.as_dict() == {"new": 2, "duplicate": 1, "quarantined": 0, "failed": 0, "refused": 4,
                                 "refused_reasons": {"address": 1, "http_404": 1, "not_an_image": 2},
                                 "stop_reason": "exhausted"}
    (doc,) = [d for d in catalog.find() if len(d["sources"]) == 2]
    assert sorted(s["uri"] for s in doc["sources"]) == [f"{base}/same-content.jpg", f"{base}/sample-0.jpg"]
    assert len(list(store.list("raw/"))) == 2 and not list(store.list("quarantine/"))
    again = ingest_urls(store, catalog, urls[:2], keyword="web", run_id="r2", policy=policy)
    assert again.as_dict()["new"] == 0 and again.as_dict()["duplicate"] == 2


def test_private_addresses_are_refused_without_the_allow_list(store, catalog, samples, http_server):
    base, root = http_server
    shutil.copy(samples / "sample-0.jpg", root / "a.jpg")
    summary = ingest_urls(store, catalog, [f"{base}/a.jpg"], keyword="web", run_id="r1")
    assert summary.as_dict()["refused_reasons"] == {"address": 1}
    assert not list(store.list())


@pytest.mark.parametrize(
    "request_, message",
    [
        ({"engine": "bing", "keywords": []}, "needs at least one keyword"),
        ({"engine": "bing", "keywords": ["  "]}, "keywords must not be empty"),
        ({"engine": "bing", "keywords": ["a\nb"]}, "keyword"),
        ({"engine": "bing", "keywords": ["cats"], "count": 0}, "count must be between 1 and 1000"),
        ({"engine": "bing", "keywords": ["cats"], "count": 5000}, "count must be between"),
        ({"engine": "bing", "keywords": ["cats"], "filters": {"colour": "red"}}, "invalid bing filters"),
        ({"engine": "bing", "keywords": ["cats"], "filters": {"size": "huge"}}, "invalid bing filters"),
        ({"engine": "urls", "urls": []}, "at least one URL"),
        ({"engine": "urls", "urls": ["file:///etc/passwd"]}, "not an http"),
        ({"engine": "urls", "urls": ["http://"]}, "not an http"),
        ({"engine": "urls", "urls": ["http://a/x.jpg"], "filters": {"size": "large"}}, "takes no search filters"),
        ({"engine": "greedy", "site_url": "ftp://example.com"}, "needs an http"),
        ({"engine": "altavista", "keywords": ["cats"]}, "unknown engine"),
    ],
)
def test_invalid_requests_are_refused(request_, message):
    with pytest.raises(InvalidRequest, match=message):
        validate_request(**request_)


def test_valid_requests_are_normalised():
    base = {"count": 20, "filters": {}, "site_url": "", "urls": []}
    assert validate_request(engine="bing", keywords=[" cats ", "dogs", "cats"], filters={"size": "large"}) == [
        {**base, "engine": "bing", "keyword": "cats", "filters": {"size": "large"}},
        {**base, "engine": "bing", "keyword": "dogs", "filters": {"size": "large"}},
    ]
    assert validate_request(engine="urls", urls=[" http://a/x.jpg ", "http://a/x.jpg", ""]) == [
        {**base, "engine": "urls", "keyword": "urls", "urls": ["http://a/x.jpg"]}]
    assert validate_request(engine="inbox", keywords=["holiday"]) == [{**base, "engine": "inbox", "keyword": "holiday"}]
    assert validate_request(engine="greedy", site_url="http://example.com", count=5)[0]["site_url"] == "http://example.com"


def test_inbox_ingestion_moves_each_file_once(store, catalog, samples):
    uploaded = upload_to_inbox(store, samples)
    assert len(uploaded) == 8 and all(k.startswith("inbox/") for k in uploaded)
    summary = ingest_inbox(store, catalog, keyword="up", run_id="r1")
    assert summary.as_dict()["new"] == 7 and summary.as_dict()["quarantined"] == 1
    assert not list(store.list("inbox/")) and len(list(store.list("raw/"))) == 7
    upload_to_inbox(store, samples)  # the same files dropped again
    again = ingest_inbox(store, catalog, keyword="up", run_id="r2")
    assert again.as_dict()["new"] == 0 and again.as_dict()["duplicate"] == 7
    assert len(catalog.find()) == 8


def test_inbox_on_an_s3_prefix(s3_client, s3_bucket, catalog, samples):
    from image_pipeline.core.storage import S3Store

    store = S3Store(s3_client, s3_bucket, prefix="gallery")
    upload_to_inbox(store, samples)
    assert ingest_inbox(store, catalog, keyword="up", run_id="r1").as_dict()["new"] == 7
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert not [k for k in keys if k.startswith("gallery/inbox/")]
    assert sum(k.startswith("gallery/raw/") for k in keys) == 7
    doc = catalog.find(status="raw")[0]
    assert doc["sources"][0]["uri"].startswith(f"s3://{s3_bucket}/gallery/inbox/")


def test_inbox_retry_after_a_crash_loses_nothing(store, catalog, samples, monkeypatch):
    upload_to_inbox(store, samples)
    deleted = []
    real_delete = store.delete

    def crash_after_three(key):
        if len(deleted) == 3:
            raise RuntimeError("worker killed")
        deleted.append(key)
        real_delete(key)

    monkeypatch.setattr(store, "delete", crash_after_three)
    with pytest.raises(RuntimeError):
        ingest_inbox(store, catalog, keyword="up", run_id="r1")
    monkeypatch.setattr(store, "delete", real_delete)
    ingest_inbox(store, catalog, keyword="up", run_id="r1")  # Airflow's retry
    assert not list(store.list("inbox/")) and len(list(store.list("raw/"))) == 7 and len(catalog.find()) == 8
