"""The gallery API: protection of every route, permissions, the listing and detail on both catalog
backends, files with their cache headers, uploads within bounds, names from the client harmless."""

from __future__ import annotations

import io
import json
import re

import pytest
from PIL import Image

ANY_SHA = "0" * 64


def concrete(path: str) -> str:
    """A route's path with its parameters filled in (each may carry its convertor: ``{sha256:gallery_sha256}``)."""
    values = {"sha256": ANY_SHA, "recipe": "thumb", "name": "ab" * 32 + ".zip", "path": "main.js"}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values[m.group(1)], path)


def test_every_route_needs_a_logged_in_user(app, client):
    """Walks the app's routes, so a route added later without protection fails here."""
    from image_pipeline.ui.api import routes

    walked = 0
    for route in routes(app):
        for method in route["methods"]:
            if method == "HEAD":
                continue
            response = client.request(method, concrete(route["path"]))
            assert response.status_code == 401, (method, route["path"], response.status_code)
            response = client.request(method, concrete(route["path"]), headers={"Authorization": "Bearer forged"})
            assert response.status_code in (401, 403), (method, route["path"], response.status_code)
            client.cookies.set("_token", "forged")
            response = client.request(method, concrete(route["path"]))
            client.cookies.clear()
            assert response.status_code in (401, 403), (method, route["path"])
            walked += 1
    assert walked >= 12
    assert client.get("/redoc").status_code == 404  # FastAPI's public docs are off


def test_the_cookie_of_airflows_ui_authenticates(client, tokens):
    client.cookies.set("_token", tokens["viewer"])
    assert client.get("/api/images").status_code == 200


def test_schema_and_docs_for_logged_in_users(client, as_user):
    schema = client.get("/openapi.json", headers=as_user("viewer")).json()
    assert "/api/images" in schema["paths"] and "/api/uploads" in schema["paths"]
    assert "swagger" in client.get("/docs", headers=as_user("viewer")).text.lower()


def test_listing_filters_and_pages(client, as_user, gallery_files):
    _, docs = gallery_files
    processed = [d for d in docs if d["status"] == "processed"]
    body = client.get("/api/images", headers=as_user("viewer")).json()
    assert body["count"] == len(docs) and body["next_cursor"] is None
    item = body["items"][0]
    assert set(item) == {"sha256", "width", "height", "format", "status", "keywords", "labels", "retrieved_at",
                         "thumb_url", "title", "description", "tags", "trashed"}
    with_thumbs = [i for i in body["items"] if i["thumb_url"]]
    assert len(with_thumbs) == len(processed)
    assert with_thumbs[0]["thumb_url"].startswith(f"/api/images/{with_thumbs[0]['sha256']}/thumb?v=")
    # paging with the cursor: every image once
    seen, cursor = [], None
    while True:
        page = client.get("/api/images", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                          headers=as_user("viewer")).json()
        seen += [i["sha256"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(d["sha256"] for d in docs)
    oldest = client.get("/api/images", params={"sort": "oldest"}, headers=as_user("viewer")).json()
    assert [i["sha256"] for i in oldest["items"]] == [i["sha256"] for i in reversed(body["items"])]
    only = client.get("/api/images", params={"status": "quarantined"}, headers=as_user("viewer")).json()
    assert only["count"] == len(docs) - len(processed) and all(i["status"] == "quarantined" for i in only["items"])
    assert client.get("/api/images", params={"keyword": "lighthouse", "source": "folder"},
                      headers=as_user("viewer")).json()["count"] == len(docs)
    assert client.get("/api/images", params={"keyword": "none"}, headers=as_user("viewer")).json() == \
        {"items": [], "next_cursor": None, "count": 0}
    for bad in ({"status": "lost"}, {"sort": "random"}, {"limit": 0}, {"cursor": "!!"}, {"since": "yesterday"}):
        assert client.get("/api/images", params=bad, headers=as_user("viewer")).status_code in (400, 422), bad


def test_facets(client, as_user, gallery_files):
    _, docs = gallery_files
    facets = client.get("/api/facets", headers=as_user("viewer")).json()
    assert facets["keywords"] == [{"name": "lighthouse", "count": len(docs)}]
    assert set(facets) == {"keywords", "labels", "sources", "formats", "statuses", "tags"}
    assert sum(f["count"] for f in facets["statuses"]) == len(docs)


def test_detail_of_an_image(client, as_user, gallery_files):
    _, docs = gallery_files
    doc = next(d for d in docs if d["status"] == "processed")
    body = client.get(f"/api/images/{doc['sha256']}", headers=as_user("viewer")).json()
    assert body["sha256"] == doc["sha256"] and body["bytes"] == doc["bytes"] and body["quarantine"] is None
    assert set(body["outputs"]) == {"thumb", "half_gray"}
    assert body["outputs"]["thumb"]["url"].startswith(f"/api/images/{doc['sha256']}/outputs/thumb?v=")
    assert body["raw_url"] == f"/api/images/{doc['sha256']}/raw"
    assert body["sources"][0]["source"] == "folder" and body["sources"][0]["keyword"] == "lighthouse"
    assert body["run_ids"] == [{"run_id": "manual__1", "dag_id": None, "airflow_url": None}]  # no DAG in provenance
    features = body["features"]
    assert {"exif", "labels", "faces", "dominant_colors", "brightness", "contrast", "blur", "phash"} <= set(features)
    assert set(features["faces"]) == {"count", "boxes"}
    quarantined = next(d for d in docs if d["status"] == "quarantined")
    q = client.get(f"/api/images/{quarantined['sha256']}", headers=as_user("viewer")).json()
    assert q["quarantine"]["reason"] and q["quarantine"]["stage"] in ("retrieve", "process")


def test_run_links_and_map_and_near_duplicates(backends, client, as_user, gallery_files):
    _, docs = gallery_files
    a, b = [d for d in docs if d["status"] == "processed"][:2]
    cat = backends.catalog
    cat.record_image(a["sha256"], raw_key=a["raw_key"], format=a["format"], width=1, height=1, bytes=1,
                     source="bing", uri="https://example.org/a.jpg", keyword="lighthouse", run_id="scheduled__2",
                     seen_at="2026-11-01T00:00:00+00:00",
                     provenance={"dag_id": "gallery_retrieve", "page_url": "https://example.org/p", "licence": "cc0"})
    features = {**a["features"], "exif": {"camera": "Canon EOS 5D", "gps": {"lat": 48.5, "lon": -4.75}}}
    cat.record_processing(a["sha256"], {}, features, duplicate_of=None)
    cat.record_processing(b["sha256"], {}, b["features"], duplicate_of=a["sha256"])
    body = client.get(f"/api/images/{a['sha256']}", headers=as_user("viewer")).json()
    assert body["run_ids"][-1] == {"run_id": "scheduled__2", "dag_id": "gallery_retrieve",
                                   "airflow_url": "/dags/gallery_retrieve/runs/scheduled__2"}
    assert body["sources"][-1]["licence"] == "cc0" and body["sources"][-1]["page_url"] == "https://example.org/p"
    assert body["features"]["exif"]["gps"]["map_url"] == \
        "https://www.openstreetmap.org/?mlat=48.5&mlon=-4.75#map=15/48.5/-4.75"
    group = {d["sha256"]: d for d in body["near_duplicates"]}
    assert b["sha256"] in group and a["sha256"] not in group and group[b["sha256"]]["thumb_url"]
    other = client.get(f"/api/images/{b['sha256']}", headers=as_user("viewer")).json()
    assert a["sha256"] in [d["sha256"] for d in other["near_duplicates"]]
    dups = client.get("/api/images", params={"duplicates": True}, headers=as_user("viewer")).json()
    assert {a["sha256"], b["sha256"]} <= {i["sha256"] for i in dups["items"]}


def test_files_are_served_immutable_with_etags(client, as_user, gallery_files):
    store, docs = gallery_files
    doc = next(d for d in docs if d["status"] == "processed")
    sha = doc["sha256"]
    raw = client.get(f"/api/images/{sha}/raw", headers=as_user("viewer"))
    assert raw.status_code == 200 and raw.content == store.get_bytes(doc["raw_key"])
    assert raw.headers["etag"] == f'"{sha}"'
    assert raw.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert raw.headers["content-type"] == {"JPEG": "image/jpeg", "PNG": "image/png"}.get(doc["format"], raw.headers["content-type"])
    again = client.get(f"/api/images/{sha}/raw", headers={**as_user("viewer"), "If-None-Match": raw.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    thumb = client.get(f"/api/images/{sha}/thumb", headers=as_user("viewer"))
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb.content)).size == (doc["outputs"]["thumb"]["width"], doc["outputs"]["thumb"]["height"])
    assert thumb.headers["etag"].startswith(f'"{sha}.thumb.')
    out = client.get(f"/api/images/{sha}/outputs/half_gray", headers=as_user("viewer"))
    assert out.status_code == 200 and out.content == store.get_bytes(doc["outputs"]["half_gray"]["key"])
    for missing in (f"/api/images/{sha}/outputs/web", f"/api/images/{'f' * 64}/raw", f"/api/images/{'f' * 64}"):
        assert client.get(missing, headers=as_user("viewer")).status_code == 404


def test_chosen_images_are_zipped_by_the_delivery_code(client, as_user, gallery_files):
    import zipfile

    _, docs = gallery_files
    chosen = sorted(d["sha256"] for d in docs if d["status"] == "processed" and "half_gray" in d.get("outputs", {}))[:2]
    answer = client.post("/api/archives", json={"sha256s": chosen, "recipe": "half_gray"}, headers=as_user("viewer"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["images"] == 2 and body["url"].startswith("/api/archives/") and body["url"].endswith(".zip")
    again = client.post("/api/archives", json={"sha256s": chosen[::-1], "recipe": "half_gray"}, headers=as_user("viewer"))
    assert again.json()["url"] == body["url"]  # content-addressed: the same choice, the same archive
    got = client.get(body["url"], headers=as_user("viewer"))
    with zipfile.ZipFile(io.BytesIO(got.content)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert sorted(m["sha256"] for m in manifest) == chosen
    refused = client.post("/api/archives", json={"sha256s": ["../etc"]}, headers=as_user("viewer"))
    assert refused.status_code == 422 and refused.json()["errors"][0]["loc"] == ["body", "sha256s", 0]
    assert client.post("/api/archives", json={"sha256s": chosen, "recipe": "nonesuch"},
                       headers=as_user("viewer")).json() == {"detail": "no such recipe: nonesuch"}
    assert client.post("/api/archives", json={"sha256s": ["f" * 64]}, headers=as_user("viewer")).status_code == 404
    assert client.post("/api/archives", json={"sha256s": chosen}).status_code == 401


def test_archives_are_downloaded_by_their_content_name(backends, client, as_user):
    content_id = "ab" * 32
    backends.store.put_bytes(f"archives/{content_id}.zip", b"PK\x05\x06" + b"\0" * 18, "application/zip")
    got = client.get(f"/api/archives/{content_id}.zip", headers=as_user("viewer"))
    assert got.status_code == 200 and got.content.startswith(b"PK")
    assert got.headers["content-type"] == "application/zip" and got.headers["etag"] == f'"{content_id}"'
    assert got.headers["content-disposition"] == f'attachment; filename="{content_id}.zip"'
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"
    for name in ("cd" * 32 + ".zip", "ab" * 32, "..%2Fcatalog.sqlite3", "AB" * 32 + ".zip"):
        assert client.get(f"/api/archives/{name}", headers=as_user("viewer")).status_code == 404
    assert client.get(f"/api/archives/{content_id}.zip").status_code == 401


@pytest.mark.parametrize("path", [
    "/api/images/..%2F..%2Fetc%2Fpasswd/raw", "/api/images/..%2F../raw", "/api/images/../../etc/passwd",
    "/api/images/%2E%2E/thumb", "/api/images/" + "A" * 64 + "/raw", "/api/images/" + "0" * 63 + "/raw",
    f"/api/images/{ANY_SHA}/outputs/..%2F..%2Fcatalog.sqlite3", f"/api/images/{ANY_SHA}/outputs/.hidden",
    "/static/..%2F..%2F..%2Fsettings.py", "/static/../api.py", "/static/%2E%2E/api.py", "/static/",
])
def test_path_like_names_are_harmless(client, as_user, path):
    response = client.get(path, headers=as_user("viewer"))
    assert response.status_code == 404, (path, response.status_code, response.text[:200])


def test_static_bundle_is_served_to_logged_in_users(client, as_user, tmp_path, monkeypatch):
    from image_pipeline.ui import files

    (tmp_path / "main.js").write_text("export default 1;\n")
    monkeypatch.setattr(files, "STATIC", tmp_path)
    response = client.get("/static/main.js", headers=as_user("viewer"))
    assert response.status_code == 200 and "javascript" in response.headers["content-type"]
    assert client.get("/static/main.js").status_code == 401
    (tmp_path / "main.umd.cjs").write_text("module.exports = 1;\n")  # the committed bundle's name
    response = client.get("/static/main.umd.cjs", headers=as_user("viewer"))
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["x-content-type-options"] == "nosniff"


def test_metrics_and_recipes(backends, client, as_user):
    backends.catalog.put_metrics("2026-11-01", {"retrieved": 3})
    backends.catalog.put_metrics("2026-11-02", {"retrieved": 5})
    days = client.get("/api/metrics", params={"since": "2026-11-02"}, headers=as_user("viewer")).json()
    assert days == [{"day": "2026-11-02", "retrieved": 5}]
    assert len(client.get("/api/metrics", headers=as_user("viewer")).json()) == 2
    recipes = {r["name"]: r for r in client.get("/api/recipes", headers=as_user("viewer")).json()}
    assert {"half_gray", "web", "thumb"} <= set(recipes) and recipes["thumb"]["gallery_thumb"]
    assert recipes["web"]["description"] and recipes["web"]["version"]


# --- uploads ---------------------------------------------------------------------------------------

def jpeg(colour=(200, 30, 30), size=(64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def test_upload_into_the_inbox_records_the_uploader(backends, client, as_user, tmp_path):
    from image_pipeline.core.keys import sha256_bytes
    from image_pipeline.retrieve.inbox import ingest_inbox

    image = jpeg()
    files = [("files", ("../../etc/passwd", image, "image/jpeg")),
             ("files", ("notes.txt", b"hello, not an image", "text/plain")),
             ("files", ("..\\..\\boot.ini", jpeg((0, 90, 0)), "image/jpeg"))]
    response = client.post("/api/uploads", files=files, headers=as_user("editor"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [f["status"] for f in body["files"]] == ["accepted", "refused", "accepted"]
    assert body["files"][0] == {"name": "../../etc/passwd", "status": "accepted", "reason": None,
                                "sha256": sha256_bytes(image)}
    assert "not an image" in body["files"][1]["reason"]
    keys = list(backends.store.list("inbox/"))
    assert len(keys) == 2 and all(k.count("/") == 1 for k in keys)
    assert any(k.endswith("-passwd") for k in keys) and any(k.endswith("-boot.ini") for k in keys)
    assert len(list(backends.store.list("inbox-meta/"))) == 2
    # The inbox's ingestion records who uploaded, then removes file and sidecar.
    ingest_inbox(backends.store, backends.catalog, keyword="inbox", run_id="asset_triggered__1",
                 provenance={"dag_id": "gallery_inbox"})
    doc = backends.catalog.get(sha256_bytes(image))
    assert doc["sources"][0]["uploaded_by"] == "editor" and doc["sources"][0]["dag_id"] == "gallery_inbox"
    assert list(backends.store.list("inbox")) == []
    detail = client.get(f"/api/images/{doc['sha256']}", headers=as_user("viewer")).json()
    assert detail["sources"][0]["uploaded_by"] == "editor"
    assert detail["run_ids"][0]["airflow_url"] == "/dags/gallery_inbox/runs/asset_triggered__1"


def test_a_viewer_may_browse_but_not_upload(client, as_user, backends):
    response = client.post("/api/uploads", files=[("files", ("a.jpg", jpeg(), "image/jpeg"))], headers=as_user("viewer"))
    assert response.status_code == 403
    assert list(backends.store.list("inbox/")) == []
    assert client.get("/api/images", headers=as_user("viewer")).status_code == 200


def test_upload_limits_are_refused_cleanly(backends, app, client, as_user):
    backends._cfg = backends.cfg.model_copy(update={"gallery": backends.cfg.gallery.model_copy(
        update={"upload_max_bytes": 2000, "upload_max_files": 2})})
    big = jpeg(size=(400, 300)) + b"\0" * 3000
    small = jpeg(size=(8, 8))
    response = client.post("/api/uploads", files=[("files", ("big.jpg", big, "image/jpeg")),
                                                  ("files", ("small.jpg", small, "image/jpeg"))], headers=as_user())
    assert response.status_code == 200
    assert [(f["status"], f["reason"]) for f in response.json()["files"]] == [
        ("refused", "larger than the limit of 2000 bytes per file"), ("accepted", None)]
    three = [("files", (f"{i}.jpg", small, "image/jpeg")) for i in range(3)]
    response = client.post("/api/uploads", files=three, headers=as_user())
    assert response.status_code == 400 and "2" in response.json()["detail"]
    huge = [("files", ("huge.jpg", b"\xff" * 200_000, "image/jpeg"))]
    response = client.post("/api/uploads", files=huge, headers=as_user())
    assert response.status_code == 413 and "at most 2 files of 2000 bytes" in response.json()["detail"]
    assert client.post("/api/uploads", headers=as_user()).status_code == 400  # no files at all
    assert client.post("/api/uploads", data={"files": "text"}, headers=as_user()).status_code == 400
    assert len(list(backends.store.list("inbox/"))) == 1


def test_s3_files_redirect_to_a_presigned_url(s3_client, s3_bucket, gallery_files, auth_manager, tokens, tmp_path):
    from fastapi.testclient import TestClient

    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import S3Store
    from image_pipeline.settings import Settings
    from image_pipeline.ui import create_app
    from image_pipeline.ui.backends import Backends
    from support.synthetic import insert_docs

    store, docs = gallery_files
    s3 = S3Store(s3_client, s3_bucket, "gallery")
    doc = next(d for d in docs if d["status"] == "processed")
    for key in (doc["raw_key"], doc["outputs"]["thumb"]["key"]):
        s3.put_bytes(key, store.get_bytes(key))
    path = tmp_path / "catalog.sqlite3"
    with SqliteCatalog(path) as cat:
        insert_docs(cat, docs)
    app = create_app(Backends(Settings(store={"store_url": s3.url}), store=s3, catalog=lambda: SqliteCatalog(path)))
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {tokens['viewer']}"}
        response = client.get(f"/api/images/{doc['sha256']}/thumb", headers=headers, follow_redirects=False)
        assert response.status_code == 307 and response.headers["etag"].startswith(f'"{doc["sha256"]}.thumb.')
        assert "max-age=150" in response.headers["cache-control"]
        import urllib.request

        with urllib.request.urlopen(response.headers["location"]) as presigned:
            assert presigned.read() == store.get_bytes(doc["outputs"]["thumb"]["key"])
        assert client.get(f"/api/images/{doc['sha256']}/thumb", headers={**headers, "If-None-Match":
                          response.headers["etag"]}, follow_redirects=False).status_code == 304
        assert client.get(f"/api/images/{doc['sha256']}/outputs/half_gray", headers=headers,
                          follow_redirects=False).status_code == 404  # in the catalog, not in this bucket


def test_the_environments_fault_is_a_503_to_try_again_and_a_bad_upload_a_400(backends, client, as_user, monkeypatch,
                                                                             gallery_files):
    """The failure classes no route maps itself: a store or catalog that fails (Unavailable) answers
    503 with Retry-After, never a 500; a picture whose header reads but whose pixels do not, a 400."""
    import io

    from PIL import Image

    from image_pipeline.core.errors import Unavailable

    sha = gallery_files[1][0]["sha256"]

    def down(*args, **kwargs):
        raise Unavailable("the catalog could not be reached: connection refused")

    monkeypatch.setattr(type(backends.catalog), "get", down)
    answer = client.get(f"/api/images/{sha}", headers=as_user("viewer"))
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert answer.json()["detail"] == "try again later: the catalog could not be reached: connection refused"
    monkeypatch.undo()

    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 60).convert("RGB").save(buffer, "JPEG")
    truncated = buffer.getvalue()[:len(buffer.getvalue()) // 2]  # the header whole, half the scan
    answer = client.post("/api/similar", files={"file": ("cut.jpg", truncated, "image/jpeg")}, headers=as_user("viewer"))
    assert answer.status_code == 400 and "cannot decode the picture" in answer.json()["detail"]
