"""The one resolver for the pictures a recipe names: a gallery image or a regular file under the
recipes' folders; everything else refused with the same words, without opening it. A resolved
picture that cannot be read is the recipe's fault (or the machine's), never a bare OSError."""

from __future__ import annotations

import errno
import os

import pytest
from PIL import Image

from image_pipeline.core.errors import BadImage, RecipeError, Unavailable
from image_pipeline.core.storage import ObjectNotFound
from image_pipeline.process import pictures
from image_pipeline.process.operations import Context
from image_pipeline.process.pictures import REFUSED, open_picture, picture_ref, resolve_picture
from image_pipeline.process.recipes import RecipeBook, parse_recipe, recipe_spec
from image_pipeline.settings import Settings

MESSAGE = f"watermark image: {REFUSED}"


@pytest.fixture
def place(tmp_path, monkeypatch):
    """A project whose config/recipes holds shipped.png, a user's recipes folder (GALLERY_RECIPES_DIR)
    holding mine.png, and around them what must never be reached."""
    project = tmp_path / "project"
    shipped = project / "config" / "recipes"
    shipped.mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    monkeypatch.setenv("GALLERY_PROJECT_ROOT", str(project))
    mine = tmp_path / "mine"
    (mine / "marks").mkdir(parents=True)
    Image.new("RGBA", (40, 20), (255, 0, 0, 128)).save(shipped / "shipped.png")
    Image.new("RGB", (30, 30), "blue").save(mine / "mine.png")
    Image.new("RGB", (30, 30), "green").save(mine / "marks" / "logo.png")
    outside = tmp_path / "outside"
    outside.mkdir()
    Image.new("RGB", (30, 30), "black").save(outside / "secret.png")
    os.mkfifo(outside / "fifo")
    os.mkfifo(mine / "pipe.png")
    (mine / "link.png").symlink_to(outside / "secret.png")
    (mine / "out").symlink_to(outside)
    (mine / "inner.png").symlink_to(mine / "mine.png")  # a link that stays inside is the file it names
    folders = Settings(processing={"recipes_dir": str(mine)}).processing.recipe_folders()
    assert folders == [str(shipped), str(mine)]
    return folders, shipped, mine, outside


def refused_names(mine, outside):
    return [
        str(outside / "secret.png"),  # absolute, exists
        "/etc/passwd", "/nonexistent.png", "/dev/zero",
        "../outside/secret.png", "marks/../../outside/secret.png",  # a way out through ..
        "marks/../mine.png",  # .. is refused even when it would stay inside
        "link.png", "out/secret.png", "out/fifo",  # symlinks leading out
        str(outside / "fifo"), "pipe.png",  # FIFOs, outside and inside
        "missing.png", "marks/missing.png",  # not there
        "marks", ".", "", "marks/",  # directories, nothing
        "nul\x00.png",
    ]


def test_refusals_are_one_message_and_nothing_is_opened(place, monkeypatch):
    folders, _, mine, outside = place
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    monkeypatch.setattr(Image, "open", lambda *a, **k: opened.append(a) or pytest.fail("a picture was opened"))
    for name in refused_names(mine, outside):
        with pytest.raises(RecipeError) as refused:
            resolve_picture(name, folders, "watermark image")
        assert str(refused.value) == MESSAGE, name
        with pytest.raises(RecipeError) as refused:
            parse_recipe({"name": "r", "operations": [{"watermark": {"image": name}}]}, "r", folders)
        assert str(refused.value) == MESSAGE, name
    assert opened == []


def test_files_in_either_folder_and_gallery_images_are_accepted(place):
    folders, shipped, mine, _ = place
    assert resolve_picture("shipped.png", folders) == str(shipped / "shipped.png")
    assert resolve_picture("mine.png", folders) == str(mine / "mine.png")
    assert resolve_picture("marks/logo.png", folders) == str(mine / "marks" / "logo.png")
    assert resolve_picture("inner.png", folders) == str(mine / "mine.png")
    sha = "ab" * 32
    for written in (sha, f"sha256:{sha}", f" SHA256:{sha.upper()} "):
        assert resolve_picture(written, ()) == f"sha256:{sha}"  # no folder needed, nothing looked at


def test_a_recipe_files_picture_is_found_beside_it_and_keeps_its_name(place, tmp_path):
    folders, _, mine, _ = place
    (mine / "branded.yaml").write_text("name: branded\noperations:\n  - watermark: {image: marks/logo.png}\n")
    recipe = RecipeBook(folders).get("branded")
    ((_, params),) = recipe.steps
    assert params["image"].resolve() == str(mine / "marks" / "logo.png")
    assert recipe_spec(recipe)["operations"] == [{"watermark": {"image": "marks/logo.png"}}]  # as written
    assert parse_recipe(recipe_spec(recipe), folders=folders).fingerprint == recipe.fingerprint
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "beside.png").write_bytes((mine / "mine.png").read_bytes())
    (elsewhere / "cli.yaml").write_text("name: cli\noperations:\n  - watermark: {image: beside.png}\n")
    assert RecipeBook(folders).get(str(elsewhere / "cli.yaml"), allow_path=True).steps[0][1]["image"].resolve() == str(
        elsewhere / "beside.png")  # a recipe file given by path finds a picture beside it


def test_a_picture_missing_where_recipes_load_fails_its_recipe_not_the_others(place):
    """A saved recipe names a picture the API server had; the worker lacks it: every recipe still
    loads, and the one naming it fails with the refusal when it runs."""
    from image_pipeline.process.engine import preview_image

    folders, _, mine, _ = place
    saved = {"name": "branded", "version": 1, "spec": {"operations": [{"watermark": {"image": "gone.png"}}]}}
    (mine / "plain.yaml").write_text("name: plain\noperations: [grayscale]\n")
    (mine / "broken.yaml").write_text("name: broken\noperations:\n  - watermark: {image: /etc/passwd}\n")
    book = RecipeBook(folders, lambda: [saved])
    assert {"plain", "broken", "branded"} <= set(book.all())
    src = mine / "src.png"
    Image.new("RGB", (64, 48), "white").save(src)
    assert preview_image(src, book.get("plain"), 64).width == 64
    for name in ("branded", "broken"):
        with pytest.raises(RecipeError, match="image: a picture is a gallery image"):
            preview_image(src, book.get(name), 64)
    Image.new("RGB", (8, 8), "red").save(mine / "gone.png")  # put on the worker: the same recipe now runs
    assert preview_image(src, book.get("branded"), 64).width == 64


def test_open_picture_reads_a_resolved_file_with_its_transparency(place):
    folders, *_ = place
    ref = picture_ref("shipped.png", folders, "watermark", "image")
    rgba = open_picture(ref, Context(), "RGBA")
    assert rgba.mode == "RGBA" and rgba.getpixel((0, 0)) == (255, 0, 0, 128)
    assert open_picture(ref, Context()).mode == "RGB"
    with pytest.raises(RecipeError, match=REFUSED.replace("(", r"\(").replace(")", r"\)")):
        open_picture("/etc/passwd", Context())  # a bare path has no folder: refused, never opened


def test_a_resolved_file_that_cannot_be_read_is_the_recipes_fault(place, monkeypatch):
    folders, _, mine, _ = place
    (mine / "note.png").write_text("not an image at all")
    (mine / "late.png").write_bytes((mine / "mine.png").read_bytes())
    note = picture_ref("note.png", folders, "watermark", "image")
    late = picture_ref("late.png", folders, "watermark", "image")
    with pytest.raises(RecipeError, match=r"image: the picture note.png cannot be read \(not an image\)"):
        open_picture(note, Context())
    (mine / "late.png").unlink()  # deleted since the recipe was parsed
    with pytest.raises(RecipeError, match="a picture is a gallery image"):
        open_picture(late, Context())
    # the file itself changed between the resolver's look and the open: never followed, never waited on
    with pytest.raises(RecipeError, match="cannot be read"):
        pictures._read_file(str(mine / "link.png"), "RGB", "image")  # a symlink: O_NOFOLLOW
    with pytest.raises(RecipeError, match="a picture is a gallery image"):
        pictures._read_file(str(mine / "pipe.png"), "RGB", "image")  # a FIFO: not blocked on, refused
    with pytest.raises(RecipeError, match="cannot be read"):
        pictures._read_file(str(mine / "vanished.png"), "RGB", "image")
    monkeypatch.setattr(os, "open", lambda *a, **k: (_ for _ in ()).throw(OSError(errno.EMFILE, "Too many open files")))
    with pytest.raises(Unavailable, match="Too many open files"):  # the machine's fault: retried, not recorded
        open_picture(picture_ref("mine.png", folders, "watermark", "image"), Context())


def test_a_gallery_picture_missing_is_the_recipes_fault():
    sha = "cd" * 32

    def no_such(_sha):
        raise BadImage(f"no gallery image {_sha} (named by the recipe)")

    def not_stored(_sha):
        raise ObjectNotFound(f"raw/{_sha}")

    with pytest.raises(RecipeError, match="gallery image can be used only when processing"):
        open_picture(f"sha256:{sha}", Context())
    with pytest.raises(RecipeError, match=f"no gallery image {sha}"):
        open_picture(f"sha256:{sha}", Context(gallery_image=no_such))
    with pytest.raises(RecipeError, match="not in the store"):
        open_picture(f"sha256:{sha}", Context(gallery_image=not_stored))
    blue = Image.new("RGB", (4, 4), "blue")
    assert open_picture(sha, Context(gallery_image={sha: blue}.__getitem__), "RGBA").getpixel((0, 0)) == (
        0, 0, 255, 255)


def test_watermark_lays_a_picture_from_the_folders(place):
    from image_pipeline.process.engine import preview_image

    folders, _, mine, _ = place
    src = mine / "white.png"
    Image.new("RGB", (200, 100), "white").save(src)
    recipe = parse_recipe({"name": "w", "operations": [{"watermark": {
        "image": "shipped.png", "position": "top-left", "margin": 0, "size": 0.2, "opacity": 1}}],
        "output": {"format": "png"}}, folders=folders)
    result = preview_image(src, recipe, 200)
    with Image.open(__import__("io").BytesIO(result.data)) as out:
        r, g, b = out.convert("RGB").getpixel((2, 2))
    assert r > 200 and g < 160 and b < 160  # half-transparent red laid on white: pink, its alpha kept
    assert out.size == (200, 100)


def test_watermark_is_checked_when_parsed():
    with pytest.raises(RecipeError, match="give text or image"):
        parse_recipe({"name": "w", "operations": [{"watermark": {}}]})
    with pytest.raises(RecipeError, match="not a colour"):
        parse_recipe({"name": "w", "operations": [{"watermark": {"text": "x", "color": "#zzz"}}]})


def test_a_recipe_named_by_a_form_is_a_name_never_a_path_on_the_server(tmp_path):
    """Forms and the gallery's API name recipes; only the command line may load a YAML file by path."""
    from image_pipeline.core.errors import InvalidRequest

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "secret.yaml").write_text("name: secret\noperations: [grayscale]\n")
    book = RecipeBook([tmp_path / "recipes"])
    with pytest.raises(InvalidRequest, match="unknown recipe") as refused:
        book.get(str(elsewhere / "secret.yaml"))
    assert "secret'" not in str(refused.value).split("known:")[1]  # nothing of the file is told
    assert book.get(str(elsewhere / "secret.yaml"), allow_path=True).name == "secret"
