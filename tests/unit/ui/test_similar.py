"""Similar images through the gallery's API: an image's neighbours, and "find images like this file"."""

from __future__ import annotations

import io
import sys

from PIL import Image


def test_an_images_similar_images(client, as_user, gallery_files):
    _, docs = gallery_files
    processed = [d for d in docs if d["status"] == "processed"]
    assert all(d["features"]["embedding"]["dim"] == 1280 for d in processed)
    sha = processed[0]["sha256"]
    response = client.get(f"/api/images/{sha}/similar?k=3", headers=as_user("viewer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["embedding"] is True and 1 <= len(body["items"]) <= 3
    assert sha not in [item["sha256"] for item in body["items"]]
    scores = [item["score"] for item in body["items"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert body["items"][0]["thumb_url"]
    assert client.get("/api/images/" + "0" * 64 + "/similar", headers=as_user()).status_code == 404
    assert client.get(f"/api/images/{sha}/similar?k=0", headers=as_user()).status_code == 422


def _record(catalog, sha: str, im: Image.Image) -> None:
    from image_pipeline.process.models.embedding import DIM, MODEL, embed, encode

    catalog.record_image(sha, raw_key=f"raw/{sha}.jpg", format="JPEG", width=im.width, height=im.height, bytes=1,
                         source="t", uri="u", keyword="photo", run_id="r", seen_at="2026-01-01T00:00:00+00:00")
    catalog.record_processing(sha, {}, {"embedding": {"model": MODEL, "dim": DIM, "f16": encode(embed(im))}})


def test_images_like_an_uploaded_file(backends, client, as_user, wallpapers):
    photos = []
    for path in sorted(wallpapers.glob("*.jpg"))[:2]:
        with Image.open(path) as opened:
            opened.draft("RGB", (1024, 1024))
            photos.append(opened.convert("RGB"))
    for n, photo in enumerate(photos):  # two real photos beside the generated samples
        _record(backends.catalog, f"{n + 1:064x}", photo)
    mine = photos[1].resize((photos[1].width // 3, photos[1].height // 3))  # a smaller, recompressed copy
    buf = io.BytesIO()
    mine.save(buf, "JPEG", quality=60)
    response = client.post("/api/similar?k=4", files={"file": ("mine.jpg", buf.getvalue(), "image/jpeg")},
                           headers=as_user("viewer"))
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert items[0]["sha256"] == f"{2:064x}" and items[0]["score"] > 0.9, items
    assert len(items) == 4 and items[1]["score"] < items[0]["score"]
    bad = client.post("/api/similar", files={"file": ("x.jpg", b"not an image", "image/jpeg")}, headers=as_user())
    assert bad.status_code == 400
    assert client.post("/api/similar", headers=as_user()).status_code in (400, 411)


def test_without_the_runtimes_similar_images_say_so(client, as_user, monkeypatch, gallery_files):
    """Without onnxruntime (a platform without its wheel) both routes answer 200 with no items and why
    (available: false): the page says it plainly, no error. The upload is not even read."""
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as find_spec and import see a package not installed
    response = client.post("/api/similar", files={"file": ("x.jpg", b"...", "image/jpeg")}, headers=as_user())
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "available": False, "embedding": False,
                               "reason": response.json()["reason"]} and "onnxruntime" in response.json()["reason"]
    sha = next(d["sha256"] for d in gallery_files[1] if d["status"] == "processed")
    body = client.get(f"/api/images/{sha}/similar", headers=as_user()).json()
    assert body["available"] is False and body["items"] == [] and body["embedding"] is True  # its features have one
