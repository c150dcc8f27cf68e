"""The editor's and the manager's API on both catalog backends, with Airflow's real auth manager:
the registry, the engine's preview, recipes checked and saved (versioned, 409 on a file's name),
tags, trash and restore with their history; a viewer may look and preview but not write."""

from __future__ import annotations

import io

from PIL import Image, ImageChops, ImageStat


def a_processed_image(client, as_user) -> str:
    items = client.get("/api/images", params={"status": "processed"}, headers=as_user("viewer")).json()["items"]
    return next(i["sha256"] for i in items if i["format"] == "JPEG")


def test_the_operations_by_family(client, as_user):
    body = client.get("/api/operations", headers=as_user("viewer")).json()
    assert [f["name"] for f in body["families"]] == ["geometry", "colour", "artistic", "learned", "watermark"]
    ops = {o["name"]: o for f in body["families"] for o in f["operations"]}
    assert ops["grayscale"]["params"] == []
    (radius,) = ops["blur"]["params"]
    assert (radius["kind"], radius["min"], radius["max"], radius["default"]) == ("number", 0, 50, 2)


def test_a_viewer_previews_a_chain_computed_by_the_engine(client, as_user):
    sha = a_processed_image(client, as_user)
    url = f"/api/images/{sha}/preview"
    plain = client.post(url, json={"operations": [], "max_side": 256}, headers=as_user("viewer"))
    assert plain.status_code == 200 and plain.headers["content-type"] == "image/jpeg"
    assert int(plain.headers["x-preview-ms"]) >= 0
    chain = {"operations": [{"grayscale": {}}, {"blur": {"radius": 6}}], "max_side": 256}
    gray = client.post(url, json=chain, headers=as_user("viewer"))
    assert gray.status_code == 200
    with Image.open(io.BytesIO(plain.content)) as before, Image.open(io.BytesIO(gray.content)) as after:
        assert max(before.size) <= 256 and after.size == before.size
        assert after.mode == "L" and before.mode == "RGB"
        sharpness = lambda im: ImageStat.Stat(im.convert("L").filter(  # noqa: E731
            __import__("PIL.ImageFilter").ImageFilter.FIND_EDGES)).mean[0]
        assert sharpness(after) < sharpness(before)
    bad = client.post(url, json={"operations": [{"nonesuch": {}}]}, headers=as_user("viewer"))
    assert bad.status_code == 422 and "unknown operation" in bad.json()["detail"]
    assert client.post(f"/api/images/{'0' * 64}/preview", json=chain, headers=as_user("viewer")).status_code == 404



def test_a_preview_takes_a_style_from_another_gallery_image(client, as_user):
    """A picture parameter may name a gallery image (``sha256:<hex>``): the preview loads it from the
    gallery as processing does."""
    items = client.get("/api/images", params={"status": "processed"}, headers=as_user("viewer")).json()["items"]
    sha, style = items[0]["sha256"], items[1]["sha256"]
    url = f"/api/images/{sha}/preview"
    plain = client.post(url, json={"operations": [], "max_side": 128}, headers=as_user("viewer"))
    styled = client.post(url, json={"operations": [{"style_transfer": {"style_image": f"sha256:{style}"}}],
                                    "max_side": 128}, headers=as_user("viewer"))
    assert styled.status_code == 200, styled.text
    with Image.open(io.BytesIO(plain.content)) as before, Image.open(io.BytesIO(styled.content)) as after:
        assert after.size == before.size
        assert ImageStat.Stat(ImageChops.difference(before.convert("RGB"), after.convert("RGB"))).mean[0] > 5
    missing = client.post(url, json={"operations": [{"style_transfer": {"style_image": f"sha256:{'0' * 64}"}}]},
                          headers=as_user("viewer"))
    assert missing.status_code == 422 and "no gallery image" in missing.json()["detail"]

def test_recipes_are_checked_saved_versioned_and_listed(client, as_user):
    recipe = {"name": "soft_gray", "description": "Gray and soft",
              "operations": [{"grayscale": {}}, {"blur": {"radius": 2}}], "output": {"format": "webp", "quality": 70}}
    check = client.post("/api/recipes/check", json=recipe, headers=as_user("viewer")).json()
    assert check["errors"] == [] and "name: soft_gray" in check["yaml"] and "blur" in check["yaml"]
    bad = client.post("/api/recipes/check", json={**recipe, "output": {"quality": 500}},
                      headers=as_user("viewer")).json()
    assert bad["errors"] and "quality" in bad["errors"][0]

    refused = client.post("/api/recipes", json=recipe, headers=as_user("viewer"))
    assert refused.status_code == 403 and "gallery_process" in refused.json()["detail"]
    first = client.post("/api/recipes", json=recipe, headers=as_user("editor"))
    assert first.status_code == 201 and first.json()["version"] == 1
    second = client.post("/api/recipes", json={**recipe, "description": "Softer"}, headers=as_user("editor"))
    assert second.json()["version"] == 2 and "version: 2" in second.json()["yaml"]
    assert client.post("/api/recipes", json={**recipe, "name": "thumb"}, headers=as_user("editor")).status_code == 409
    invalid = client.post("/api/recipes", json={**recipe, "operations": ["nonesuch"]}, headers=as_user("editor"))
    assert invalid.status_code == 422 and "nonesuch" in invalid.json()["detail"]

    listed = {r["name"]: r for r in client.get("/api/recipes", headers=as_user("viewer")).json()}
    saved = listed["soft_gray"]
    assert (saved["origin"], saved["version"], saved["saved_by"], saved["description"]) == (
        "saved", 2, "editor", "Softer")
    assert saved["operations"] == [{"grayscale": {}}, {"blur": {}}]  # parameters at their default left out
    assert listed["thumb"]["origin"] == "file" and listed["thumb"]["gallery_thumb"] is True
    assert "operations:" in listed["thumb"]["yaml"]


def test_tags_title_and_description_with_their_history(client, as_user):
    sha = a_processed_image(client, as_user)
    refused = client.patch(f"/api/images/{sha}", json={"title": "x"}, headers=as_user("viewer"))
    assert refused.status_code == 403 and "may only look" in refused.json()["detail"]
    doc = client.patch(f"/api/images/{sha}", json={"title": "Lighthouse", "tags": ["sea", "dusk"]},
                       headers=as_user("editor")).json()
    assert (doc["title"], doc["tags"]) == ("Lighthouse", ["sea", "dusk"])
    assert [(h["by"], h["action"]) for h in doc["history"]] == [("editor", "edit")]
    assert client.patch(f"/api/images/{sha}", json={"status": "raw"}, headers=as_user("editor")).status_code == 422
    listed = client.get("/api/images", params={"tag": "sea"}, headers=as_user("viewer")).json()
    assert [i["sha256"] for i in listed["items"]] == [sha] and listed["items"][0]["tags"] == ["sea", "dusk"]
    assert {"name": "sea", "count": 1} in client.get("/api/facets", headers=as_user("viewer")).json()["tags"]
    others = [i["sha256"] for i in client.get("/api/images", headers=as_user("viewer")).json()["items"]][:3]
    bulk = client.post("/api/images/bulk", json={"sha256s": others, "action": "tag", "tags": ["sea"]},
                       headers=as_user("editor")).json()
    assert bulk["changed"] == len([s for s in others if s != sha])


def test_trash_and_restore_round_trip(client, as_user):
    sha = a_processed_image(client, as_user)
    count = client.get("/api/images", headers=as_user("viewer")).json()["count"]
    assert client.post(f"/api/images/{sha}/trash", headers=as_user("viewer")).status_code == 403
    doc = client.post(f"/api/images/{sha}/trash", headers=as_user("editor")).json()
    assert doc["trashed"]["by"] == "editor"
    listing = client.get("/api/images", headers=as_user("viewer")).json()
    assert listing["count"] == count - 1 and sha not in [i["sha256"] for i in listing["items"]]
    trash = client.get("/api/images", params={"trashed": True}, headers=as_user("viewer")).json()
    assert [i["sha256"] for i in trash["items"]] == [sha]
    doc = client.post(f"/api/images/{sha}/restore", headers=as_user("editor")).json()
    assert doc["trashed"] is None and [h["action"] for h in doc["history"]] == ["trash", "restore"]
    bulk = client.post("/api/images/bulk", json={"sha256s": [sha, sha], "action": "trash"}, headers=as_user("admin"))
    assert bulk.json() == {"changed": 1}
    assert client.get("/api/images", headers=as_user("viewer")).json()["count"] == count - 1
