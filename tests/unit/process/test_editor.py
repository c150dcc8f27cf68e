"""The editor's side of processing: the registry describes itself, recipes saved in the catalog are
file recipes in all but where they live (same parser, same bytes, versioned), and the preview is the
engine's own output, reduced."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageStat

from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog
from image_pipeline.process.engine import preview_image, process_image
from image_pipeline.process.operations import OPERATIONS, RecipeError
from image_pipeline.process.operations.base import FAMILIES, KINDS, describe
from image_pipeline.process.recipes import (RecipeBook, load_recipe_file, parse_recipe, recipe_spec, recipe_yaml,
                                            save_recipe)
from image_pipeline.settings import Settings

SPEC = {"name": "soft_gray", "description": "Gray and soft",
        "operations": [{"grayscale": {}}, {"blur": {"radius": 3}}, {"resize": {"longest": 200}}],
        "output": {"format": "webp", "quality": 70}}


@pytest.fixture(params=["sqlite", "mongomock"])
def catalog(request, tmp_path):
    if request.param == "sqlite":
        cat = SqliteCatalog(tmp_path / "catalog.sqlite3")
    else:
        import mongomock

        cat = MongoCatalog(mongomock.MongoClient()["test"])
    yield cat
    cat.close()


def photo(path, size=(1200, 900)):
    """A colourful image with edges (so a blur and a grayscale both show)."""
    from PIL import ImageDraw

    im = Image.radial_gradient("L").resize(size)
    out = Image.merge("RGB", (im, im.rotate(90), Image.linear_gradient("L").resize(size)))
    draw = ImageDraw.Draw(out)
    for x in range(0, size[0], size[0] // 40):
        draw.line([(x, 0), (x, size[1])], fill=(0, 0, 0), width=max(2, size[0] // 400))
    out.save(path, quality=95)
    return path


def edges(im: Image.Image) -> float:
    """How much local detail: the mean of an edge filter."""
    from PIL import ImageFilter

    return ImageStat.Stat(im.convert("L").filter(ImageFilter.FIND_EDGES)).mean[0]


def test_the_registry_describes_every_operation_for_the_editor():
    described = describe()
    assert [f["name"] for f in described["families"]] == list(FAMILIES)
    ops = {op["name"]: op for family in described["families"] for op in family["operations"]}
    assert set(ops) == set(OPERATIONS)
    for op in ops.values():
        assert op["title"] and isinstance(op["params"], list)
        for p in op["params"]:
            assert p["kind"] in KINDS and p["title"], (op["name"], p)
            if p["kind"] == "select":  # a nullable select offers "(default)": the setting decides
                assert p["default"] in p["choices"] or p["default"] is None and p["nullable"], (op["name"], p)
            if "min" in p and p["default"] is not None:
                assert p["min"] <= p["default"] <= p["max"], (op["name"], p)
    assert ops["grayscale"]["params"] == [] and ops["blur"]["params"][0]["kind"] == "number"
    assert {p["name"]: p["kind"] for p in ops["crop"]["params"]}["box"] == "box"
    assert {p["name"]: p["kind"] for p in ops["watermark"]["params"]}["color"] == "color"
    assert ops["stylize"]["colour"] is True


def test_a_select_outside_its_choices_is_refused_like_before():
    with pytest.raises(RecipeError, match="direction"):
        parse_recipe({"name": "x", "operations": [{"flip": {"direction": "diagonal"}}]})


def test_every_shipped_recipe_round_trips_through_its_spec():
    book = RecipeBook(Settings().processing.recipe_folders())
    for recipe in book.all().values():
        again = parse_recipe(recipe_spec(recipe))
        assert again.fingerprint == recipe.fingerprint and again.version == recipe.version


def test_a_saved_recipe_gives_the_same_bytes_as_the_same_yaml_file(catalog, tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    (folder / "soft_gray.yaml").write_text(recipe_yaml(SPEC))
    from_file = load_recipe_file(folder / "soft_gray.yaml")
    save_recipe(catalog, SPEC, "editor")
    saved = RecipeBook([], catalog.saved_recipes).get("soft_gray")
    assert (saved.fingerprint, saved.version, saved.steps, saved.output) == (
        from_file.fingerprint, from_file.version, from_file.steps, from_file.output)
    src = photo(tmp_path / "in.jpg")
    out = {}
    for label, recipe in (("file", from_file), ("saved", saved)):
        process_image(src, [recipe], lambda r, label=label: tmp_path / f"{label}.{r.ext}")
        out[label] = (tmp_path / f"{label}.webp").read_bytes()
    assert out["file"] == out["saved"]


def test_saving_again_bumps_the_version_and_the_book_reads_it_at_each_use(catalog):
    book = RecipeBook(Settings().processing.recipe_folders(), catalog.saved_recipes)
    assert "soft_gray" not in book.all() and "thumb" in book.all()
    first = save_recipe(catalog, SPEC, "editor")
    assert first["version"] == 1 and book.get("soft_gray").version == 1
    second = save_recipe(catalog, {**SPEC, "version": 7, "output": {"format": "jpeg"}}, "other")
    assert second["version"] == 2 and second["spec"]["version"] == 2  # the catalog numbers versions
    assert book.get("soft_gray").version == 2 and book.get("soft_gray").output.format == "jpeg"
    (doc,) = catalog.saved_recipes()
    assert (doc["name"], doc["version"], doc["saved_by"]) == ("soft_gray", 2, "other")


def test_an_invalid_recipe_is_refused_before_anything_is_saved(catalog):
    with pytest.raises(RecipeError, match="unknown operation"):
        save_recipe(catalog, {**SPEC, "operations": ["nonesuch"]}, "editor")
    with pytest.raises(RecipeError, match="quality"):
        save_recipe(catalog, {**SPEC, "output": {"quality": 0}}, "editor")
    assert catalog.saved_recipes() == []


def test_a_recipe_file_wins_over_a_saved_recipe_of_the_same_name(catalog):
    save_recipe(catalog, {**SPEC, "name": "thumb"}, "editor")
    book = RecipeBook(Settings().processing.recipe_folders(), catalog.saved_recipes)
    assert book.get("thumb").fingerprint == RecipeBook(Settings().processing.recipe_folders()).get("thumb").fingerprint


def test_the_preview_is_the_engines_output_reduced(tmp_path):
    src = photo(tmp_path / "big.jpg", (3000, 2000))
    plain = preview_image(src, parse_recipe({"name": "p", "operations": []}), 800)
    # at most max_side, at least 3/4 of it: the JPEG's cheapest DCT scale (here 1/4)
    assert plain.content_type == "image/jpeg" and (plain.width, plain.height) == (750, 500)
    chain = parse_recipe({"name": "p", "operations": ["grayscale", {"blur": {"radius": 8}}]})
    result = preview_image(src, chain, 800)
    with Image.open(io.BytesIO(result.data)) as gray, Image.open(io.BytesIO(plain.data)) as colour:
        assert gray.mode == "L" and gray.size == colour.size == (750, 500)
        # blurred: less local detail than the same image made gray without the blur
        assert edges(gray) < edges(colour) * 0.5
    # a crop box is in original pixels: the preview shows the same region, reduced
    cropped = preview_image(src, parse_recipe({"name": "p", "operations": [{"crop": {"box": [0, 0, 1500, 1000]}}]}), 800)
    assert (cropped.width, cropped.height) == (375, 250)
    big = preview_image(src, chain, 1300)  # no DCT scale fits: decoded larger, then shrunk to max_side
    assert (big.width, big.height) == (1300, 867)
    with pytest.raises(ValueError):
        preview_image(src, chain, 8)
