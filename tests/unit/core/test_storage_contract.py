"""One contract for every object store: local files and S3 (moto's server mode on loopback)."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from image_pipeline.core.storage import LocalStore, ObjectNotFound, S3Store, open_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "store")
    client = request.getfixturevalue("s3_client")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Store(client, bucket, prefix="gallery")


def test_put_get_roundtrip(store):
    store.put_bytes("raw/ab/abc.jpg", b"\xff\xd8 bytes", "image/jpeg")
    assert store.get_bytes("raw/ab/abc.jpg") == b"\xff\xd8 bytes"
    assert store.exists("raw/ab/abc.jpg")
    assert store.size("raw/ab/abc.jpg") == 8


def test_overwrite_replaces_content(store):
    store.put_bytes("reports/x.csv", b"old")
    store.put_bytes("reports/x.csv", b"new")
    assert store.get_bytes("reports/x.csv") == b"new"
    assert list(store.list("reports/")) == ["reports/x.csv"]


def test_put_if_absent_never_rewrites(store):
    assert store.put_if_absent("raw/k", b"first") is True
    assert store.put_if_absent("raw/k", b"second") is False
    assert store.get_bytes("raw/k") == b"first"


def test_list_is_sorted_and_scoped_to_prefix(store):
    for key in ["raw/b", "raw/a", "processed/half_gray/a", "rawish/c"]:
        store.put_bytes(key, b"x")
    assert list(store.list("raw/")) == ["raw/a", "raw/b"]
    assert list(store.list()) == ["processed/half_gray/a", "raw/a", "raw/b", "rawish/c"]


def test_missing_objects(store, tmp_path):
    assert not store.exists("raw/missing")
    with pytest.raises(ObjectNotFound):
        store.get_bytes("raw/missing")
    with pytest.raises(ObjectNotFound):
        store.size("raw/missing")
    with pytest.raises(ObjectNotFound):
        store.download("raw/missing", tmp_path / "x")
    with pytest.raises(ObjectNotFound):
        store.link("raw/missing", 60)
    store.delete("raw/missing")  # deleting a missing key is not an error


def test_file_upload_download_and_delete(store, tmp_path):
    src = tmp_path / "big.bin"
    payload = bytes(range(256)) * 40_000  # 10 MB: multipart on S3
    src.write_bytes(payload)
    store.put_file("archives/big.bin", src)
    out = tmp_path / "out.bin"
    store.download("archives/big.bin", out)
    assert out.read_bytes() == payload
    store.delete("archives/big.bin")
    assert not store.exists("archives/big.bin")


def test_link_fetches_the_object(store):
    store.put_bytes("archives/a.zip", b"zip bytes")
    with urllib.request.urlopen(store.link("archives/a.zip", 300)) as response:  # file:// or presigned http
        assert response.read() == b"zip bytes"


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "../escape", "raw/../../etc", "raw/./x"])
def test_unsafe_keys_are_refused(store, key):
    with pytest.raises(ValueError):
        store.put_bytes(key, b"x")


def test_local_writes_leave_no_temporary_files(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put_bytes("raw/a", b"1")
    store.put_file("raw/b", Path(__file__))
    assert sorted(p.name for p in (tmp_path / "store" / "raw").iterdir()) == ["a", "b"]


def test_local_failed_write_keeps_previous_object(tmp_path):
    store = LocalStore(tmp_path / "store")
    store.put_bytes("raw/a", b"good")
    with pytest.raises(FileNotFoundError):
        store.put_file("raw/a", tmp_path / "does-not-exist")
    assert store.get_bytes("raw/a") == b"good"
    assert [p.name for p in (tmp_path / "store" / "raw").iterdir()] == ["a"]


def test_open_store_by_url(tmp_path, s3_client, s3_bucket):
    local = open_store((tmp_path / "d").as_uri())
    assert isinstance(local, LocalStore) and local.root == (tmp_path / "d").resolve()
    s3 = open_store(f"s3://{s3_bucket}/pre/fix", lambda: s3_client)
    assert isinstance(s3, S3Store) and s3.prefix == "pre/fix/"
    s3.put_bytes("raw/x", b"1")
    assert s3_client.get_object(Bucket=s3_bucket, Key="pre/fix/raw/x")["Body"].read() == b"1"
    with pytest.raises(ValueError):
        open_store("ftp://host/x")


def test_local_objects_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    from image_pipeline.core.storage import FILE_MODE

    store = LocalStore(tmp_path / "store")
    store.put_bytes("raw/a", b"1")
    assert stat.S_IMODE(os.stat(store.path("raw/a")).st_mode) == FILE_MODE


def test_list_modified_gives_each_key_with_its_write_time(store):
    from datetime import datetime, timedelta, timezone

    before = datetime.now(timezone.utc) - timedelta(seconds=2)
    store.put_bytes("raw/ab/a.jpg", b"a")
    store.put_bytes("raw/cd/b.jpg", b"b")
    store.put_bytes("processed/thumb/ab/a.jpg", b"t")
    listed = list(store.list_modified("raw/"))
    assert [k for k, _ in listed] == ["raw/ab/a.jpg", "raw/cd/b.jpg"]
    after = datetime.now(timezone.utc) + timedelta(seconds=2)
    assert all(before <= when <= after and when.tzinfo is not None for _, when in listed)
