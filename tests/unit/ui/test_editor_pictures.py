"""The editor's preview, check and save find a recipe's pictures with the pipeline's one resolver,
under the recipes' folders: a path outside them, one with ``..``, a symlink leading out, a device, a
FIFO or a file that is not there gets the same 422, to a viewer and to an admin, and nothing of it is
opened; a picture in the user's recipes folder is laid on; a recipe naming a missing picture is not
saved, and says why."""

from __future__ import annotations

import builtins
import io
import os

import pytest
from PIL import Image, ImageChops, ImageStat

from image_pipeline.process.pictures import REFUSED

REFUSAL = {"detail": f"watermark image: {REFUSED}"}


@pytest.fixture
def folders(tmp_path):
    mine = tmp_path / "my_recipes"
    mine.mkdir()
    Image.new("RGBA", (60, 30), (255, 0, 0, 255)).save(mine / "mark.png")
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (60, 30), (0, 255, 0)).save(outside / "secret.png")
    os.mkfifo(outside / "fifo")  # opening it to read would block the request
    (mine / "link.png").symlink_to(outside / "secret.png")
    (mine / "fifo.png").symlink_to(outside / "fifo")
    return mine, outside


@pytest.fixture
def client(backends, auth_manager, folders):
    """The gallery's app with GALLERY_RECIPES_DIR set to the user's recipes folder."""
    from fastapi.testclient import TestClient

    from image_pipeline.ui import create_app
    from image_pipeline.ui.backends import Backends

    mine, _ = folders
    configured = Backends(backends.cfg.model_copy(update={"processing": backends.cfg.processing.model_copy(
        update={"recipes_dir": str(mine)})}), store=backends.store,
                          catalog=lambda: backends.catalog)
    with TestClient(create_app(configured)) as c:
        yield c


@pytest.fixture
def opened(monkeypatch, folders):
    """Every file the app opens in the test's folders or among the system paths it names (by
    os.open, open or PIL's Image.open)."""
    watched = tuple(str(folder) for folder in folders) + ("/etc/passwd", "/dev/zero", "/nonexistent.png")
    seen: list[str] = []

    def spy(real):
        def wrapper(target, *args, **kwargs):
            name = os.fspath(target) if isinstance(target, (str, bytes, os.PathLike)) else ""
            if str(name).startswith(watched):
                seen.append(str(name))
                if "fifo" in str(name):  # fail rather than block
                    raise AssertionError(f"opened {name}")
            return real(target, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(os, "open", spy(os.open))
    monkeypatch.setattr(builtins, "open", spy(builtins.open))
    monkeypatch.setattr(Image, "open", spy(Image.open))
    return seen


def a_processed_image(client, as_user) -> str:
    items = client.get("/api/images", params={"status": "processed"}, headers=as_user("viewer")).json()["items"]
    return next(i["sha256"] for i in items if i["format"] == "JPEG")


def outside_names(outside) -> list[str]:
    return [str(outside / "secret.png"), "/etc/passwd", "/nonexistent.png", "/dev/zero", str(outside / "fifo"),
            "../outside/secret.png", "sub/../../outside/secret.png", "link.png", "fifo.png", "missing.png", "."]


@pytest.mark.parametrize("user", ["viewer", "admin"])
def test_the_preview_refuses_every_path_outside_the_folders_alike_and_reads_none(client, as_user, folders, opened,
                                                                                 user):
    _, outside = folders
    url = f"/api/images/{a_processed_image(client, as_user)}/preview"
    for name in outside_names(outside):
        answer = client.post(url, json={"operations": [{"watermark": {"image": name}}], "max_side": 128},
                             headers=as_user(user))
        assert (answer.status_code, answer.json()) == (422, REFUSAL), name
    assert opened == []


def test_the_preview_lays_a_picture_of_the_users_recipes_folder(client, as_user, opened, folders):
    url = f"/api/images/{a_processed_image(client, as_user)}/preview"
    plain = client.post(url, json={"operations": [], "max_side": 256}, headers=as_user("viewer"))
    marked = client.post(url, json={"operations": [{"watermark": {"image": "mark.png", "opacity": 1, "size": 0.3}}],
                                    "max_side": 256}, headers=as_user("viewer"))
    assert marked.status_code == 200, marked.text
    with Image.open(io.BytesIO(plain.content)) as before, Image.open(io.BytesIO(marked.content)) as after:
        difference = ImageChops.difference(before.convert("RGB"), after.convert("RGB"))
        assert ImageStat.Stat(difference).mean[0] > 1  # red laid on
    assert opened and all(path == str(folders[0] / "mark.png") for path in opened)


def test_check_and_save_refuse_a_missing_picture_with_the_reason(client, as_user, folders):
    recipe = {"name": "brand_mark", "operations": [{"watermark": {"image": "logo.png"}}]}
    checked = client.post("/api/recipes/check", json=recipe, headers=as_user("viewer")).json()
    assert checked["errors"] == [REFUSAL["detail"]]
    refused = client.post("/api/recipes", json=recipe, headers=as_user("editor"))
    assert (refused.status_code, refused.json()) == (422, REFUSAL)
    assert "brand_mark" not in {r["name"] for r in client.get("/api/recipes", headers=as_user("viewer")).json()}
    gallery = {"name": "brand_mark", "operations": [{"watermark": {"image": f"sha256:{'0' * 64}"}}]}
    refused = client.post("/api/recipes", json=gallery, headers=as_user("editor"))
    assert (refused.status_code, refused.json()) == (422, {"detail": f"watermark image: no gallery image {'0' * 64}"})

    Image.new("RGB", (20, 20), "red").save(folders[0] / "logo.png")
    assert client.post("/api/recipes/check", json=recipe, headers=as_user("viewer")).json()["errors"] == []
    saved = client.post("/api/recipes", json=recipe, headers=as_user("editor"))
    assert saved.status_code == 201, saved.text
    listed = {r["name"]: r for r in client.get("/api/recipes", headers=as_user("viewer")).json()}
    assert listed["brand_mark"]["operations"] == [{"watermark": {"image": "logo.png"}}]  # as written, no server path
