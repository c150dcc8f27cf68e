"""Archives at scale: 2,000 images streamed into a ZIP with flat memory, and a large archive on S3
(multipart upload) whose presigned link downloads the same bytes."""

from __future__ import annotations

import csv
import email
import hashlib
import io
import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from email import policy

from image_pipeline.core import keys
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.selection import Selection
from image_pipeline.deliver import deliver, ensure_archive
from image_pipeline.process.recipes import get_recipe
from image_pipeline.deliver.mail import OutboxMailer
from image_pipeline.core.storage import LocalStore, S3Store

MiB = 1024 * 1024


def fill_gallery(store, catalog, images: int, size: int, keyword: str) -> dict[str, str]:
    """``images`` processed outputs of ``size`` incompressible bytes each, recorded as processing
    would; returns sha256 -> output key."""
    outputs = {}
    for i in range(images):
        data = os.urandom(size)
        sha = hashlib.sha256(data).hexdigest()
        out_key = keys.processed_key("half_gray", sha, "jpg")
        store.put_bytes(out_key, data, "image/jpeg")
        catalog.record_image(sha, raw_key=keys.raw_key(sha, "jpg"), format="JPEG", width=640, height=480, bytes=size,
                             source="urls", uri=f"https://example.org/photos/photo {i}.jpg", keyword=keyword,
                             run_id="r1", seen_at="2026-11-20T10:00:00+00:00", provenance={"licence": "CC-BY"})
        catalog.record_output(sha, "half_gray", {"key": out_key, "version": 1, "width": 320, "height": 240,
                                                 "bytes": size, "seconds": 0.01, "processed_at": "2026-11-20T10:00:01+00:00"})
        outputs[sha] = out_key
    return outputs


MEASURE = """
import json, resource, sys, time, tracemalloc
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.selection import Selection
from image_pipeline.deliver import ensure_archive
from image_pipeline.process.recipes import get_recipe
from image_pipeline.core.storage import LocalStore

store, catalog = LocalStore(sys.argv[1]), SqliteCatalog(sys.argv[2])
catalog.find(keyword="nothing")  # warm up the catalog's code paths
baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
started = time.perf_counter()
archive = ensure_archive(store, catalog, Selection(keyword="many"), get_recipe("half_gray"))
seconds = time.perf_counter() - started
_, traced_peak = tracemalloc.get_traced_memory()
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"key": archive.key, "images": archive.images, "bytes": archive.bytes, "seconds": seconds,
                  "rss_above_baseline": (peak_kib - baseline_kib) * 1024, "traced_peak": traced_peak}))
"""


def test_a_zip_of_2000_images_is_built_with_flat_memory(tmp_path):
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        outputs = fill_gallery(store, catalog, 2000, 64 * 1024, "many")  # 125 MiB of images
    done = subprocess.run([sys.executable, "-c", MEASURE, str(tmp_path / "store"), str(tmp_path / "catalog.sqlite3")],
                          check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print("2000-image archive:", result)
    assert result["images"] == 2000 and result["bytes"] > 2000 * 64 * 1024  # larger than the allowance below
    assert result["rss_above_baseline"] < 100 * MiB, result
    assert result["traced_peak"] < 100 * MiB, result
    with zipfile.ZipFile(store.path(result["key"])) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        assert json.loads(zf.read("manifest.json")) == [
            {**r, "width": int(r["width"]), "height": int(r["height"]), "bytes": int(r["bytes"])} for r in rows]
        images = [i for i in zf.infolist() if i.filename.startswith("images/")]
        assert [i.filename for i in images] == [r["file"] for r in rows] and len(rows) == 2000
        assert len({r["file"] for r in rows}) == 2000
        assert all(i.compress_type == zipfile.ZIP_STORED for i in images)  # JPEG is not deflated again
        for info, row in zip(images, rows, strict=True):
            assert info.file_size == int(row["bytes"])
            with zf.open(info) as entry:  # reading checks the entry's CRC too
                assert hashlib.sha256(entry.read()).hexdigest() == hashlib.sha256(
                    store.get_bytes(outputs[row["sha256"]])).hexdigest()
        assert {r["licence"] for r in rows} == {"CC-BY"} and rows[0]["source_url"].startswith("https://example.org/")


def test_a_large_archive_goes_to_s3_in_parts_and_its_link_downloads_it(tmp_path, s3_client, s3_bucket):
    store = S3Store(s3_client, s3_bucket, "gallery")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        fill_gallery(store, catalog, 40, 256 * 1024, "big")  # 10 MiB: above boto3's multipart threshold
        entry = deliver(store, catalog, OutboxMailer(store), Selection(keyword="big"), get_recipe("half_gray"), recipient="you@example.com",
                        sender="p@example.com", attach_max_bytes=MiB, link_expiry_seconds=600)
        head = s3_client.head_object(Bucket=s3_bucket, Key=f"gallery/{entry['archive_key']}")
        assert "-" in head["ETag"]  # a multipart upload's ETag is <hash>-<parts>
        assert entry["attached"] is False and entry["link_expires_at"]
        with urllib.request.urlopen(entry["link"]) as response:
            assert response.read() == store.get_bytes(entry["archive_key"])
        msg = email.message_from_bytes(store.get_bytes(keys.outbox_key(entry["id"])), policy=policy.default)
        assert entry["link"] in msg.get_body().get_content() and not list(msg.iter_attachments())
        # A retry finds the archive by its content-derived name and sends nothing again.
        again = ensure_archive(store, catalog, Selection(keyword="big"), get_recipe("half_gray"))
        assert again.key == entry["archive_key"]
        assert deliver(store, catalog, OutboxMailer(store), Selection(keyword="big"), get_recipe("half_gray"), recipient="you@example.com",
                       sender="p@example.com", attach_max_bytes=MiB, link_expiry_seconds=600)["sent_at"] == entry["sent_at"]
