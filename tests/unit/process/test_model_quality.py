"""What the learned models are for, measured on the real-photo corpus with the network blocked:
background removal against a known mask (U²-Net-p must beat GrabCut clearly), style transfer that moves
the picture's statistics towards the style's, and similar images whose copies find their originals."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from image_pipeline.process.models import embedding, style
from image_pipeline.process.operations.learned import subject_mask
from image_pipeline.process.similar import SimilarIndex, similar
from support.composites import PLACEMENTS, composite, iou
from support.offline import block_network

MARGIN = 0.15  # U²-Net-p's mean IoU must exceed GrabCut's by at least this much


@pytest.fixture(scope="module", autouse=True)
def offline():
    """The network blocked for the whole module: its module-scoped fixtures run the models too."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield block_network(monkeypatch)


@pytest.fixture(autouse=True)
def nothing_tried_the_network(offline):
    yield
    assert not offline, f"something tried the network: {offline}"


def _photos(wallpapers, count: int) -> list:
    """``count`` photos of the corpus, in a stable order, none a near-duplicate of another (the corpus
    holds some wallpapers at several resolutions: a copy's nearest neighbour would be its twin)."""
    from image_pipeline.process.features import hamming, phash

    rows = [line.split("\t") for line in (wallpapers / "MANIFEST.tsv").read_text().splitlines()[1:] if line]
    kept: list = []
    hashes: list[str] = []
    for row in sorted(rows):
        h = phash(_open(wallpapers / row[0], 256).convert("L"))
        if all(hamming(h, other) > 12 for other in hashes):
            kept.append(wallpapers / row[0])
            hashes.append(h)
        if len(kept) == count:
            return kept
    raise AssertionError(f"the corpus has fewer than {count} distinct photos")


@pytest.fixture(scope="module")
def photos(wallpapers) -> list:
    """The first 30 distinct photos, chosen once (opening some 35 photos, 40-Mpx PNGs among them, takes
    a while): a test taking fewer takes the first ones, as ``_photos`` with a smaller count would."""
    return _photos(wallpapers, 30)


def _open(path, side: int = 768) -> Image.Image:
    with Image.open(path) as opened:
        opened.draft("RGB", (side, side))
        im = opened.convert("RGB")
    im.thumbnail((side, side))
    return im


@pytest.mark.timeout(1200)  # GrabCut takes seconds a composite on a busy machine
def test_u2netp_beats_grabcut_on_composites(photos, record_property):
    """Four photos, each with the figure at two of the four placements (every placement twice)."""
    scores: dict[str, list[float]] = {"u2netp": [], "grabcut": []}
    for n, photo in enumerate(photos[:4]):
        for m in (n % len(PLACEMENTS), (n + 2) % len(PLACEMENTS)):
            im, truth = composite(photo, PLACEMENTS[m], seed=n * 10 + m)
            for method in scores:
                scores[method].append(iou(subject_mask(im, method) > 0.5, truth))
    mean = {method: float(np.mean(values)) for method, values in scores.items()}
    record_property("mean_iou", mean)
    print(f"\nmean IoU over {len(scores['u2netp'])} composites: u2netp {mean['u2netp']:.3f}, "
          f"grabcut {mean['grabcut']:.3f}")
    assert mean["u2netp"] >= mean["grabcut"] + MARGIN, mean


def _histogram(im: Image.Image) -> np.ndarray:
    """A joint colour histogram (8 levels a channel), normalised: the picture's colour statistics."""
    q = np.asarray(im.convert("RGB").resize((256, 256)), np.uint16) // 32
    counts = np.bincount((q[..., 0] * 64 + q[..., 1] * 8 + q[..., 2]).ravel(), minlength=512).astype(np.float64)
    return counts / counts.sum()


def _texture(im: Image.Image) -> float:
    """Mean gradient magnitude of the luma at 256 px: how busy the picture's strokes are."""
    g = np.asarray(im.convert("L").resize((256, 256)), np.float32)
    return float(np.abs(np.diff(g, axis=0)).mean() + np.abs(np.diff(g, axis=1)).mean())


def _distance(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(_histogram(a) - _histogram(b)).sum()) + abs(_texture(a) - _texture(b)) / 20


def test_style_transfer_moves_the_picture_towards_the_style(photos):
    content, other, style_picture = (_open(photos[n], 512) for n in (0, 3, 6))
    for name in ("style-05", "style-19"):
        stylized = style.stylize(content, name)
        reference = style.stylize(other, name)  # the style's own look, on another photo
        assert _distance(stylized, reference) < 0.7 * _distance(content, reference), name
    stylized = style.stylize_with(content, style_picture)
    assert _distance(stylized, style_picture) < 0.8 * _distance(content, style_picture)
    assert _distance(stylized, content) > 0.2  # and away from the input


def _copies(im: Image.Image, kind: int) -> Image.Image:
    """A resized, a recompressed or a cropped copy of ``im``."""
    if kind == 0:
        return im.resize((im.width * 2 // 5, im.height * 2 // 5), Image.Resampling.BILINEAR)
    if kind == 1:
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=25)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return ImageOps.crop(im, (im.width // 10, im.height // 10, im.width // 10, im.height // 10))


@pytest.fixture(scope="module")
def copies_and_originals(photos) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """The 30 photos' embeddings and those of copies of the first 12 (both indexes search the same)."""
    vectors: dict[str, np.ndarray] = {}
    originals: dict[str, str] = {}  # copy -> its original
    for n, path in enumerate(photos):
        im = _open(path, 512)
        vectors[f"{n:064x}"] = embedding.embed(im)
        if n < 12:
            copy = f"{1_000 + n:064x}"
            vectors[copy], originals[copy] = embedding.embed(_copies(im, n % 3)), f"{n:064x}"
    return vectors, originals


@pytest.mark.parametrize("exact_max", [100_000, 0], ids=["exact", "hnsw"])
def test_each_copy_finds_its_original(copies_and_originals, tmp_path, exact_max):
    from image_pipeline.core.catalog import SqliteCatalog

    vectors, originals = copies_and_originals
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        for sha, vector in vectors.items():
            catalog.record_image(sha, raw_key=f"raw/{sha}.jpg", format="JPEG", width=1, height=1, bytes=1,
                                 source="t", uri="u", keyword="k", run_id="r", seen_at="2026-01-01T00:00:00+00:00")
            catalog.record_processing(sha, {}, {"embedding": {"model": embedding.MODEL, "dim": embedding.DIM,
                                                              "f16": embedding.encode(vector)}})
        index = SimilarIndex(exact_max=exact_max, cache_path=tmp_path / "cache" / "index")
        for copy, original in originals.items():
            hits = similar(catalog, copy, 3, index, max_age=0)
            assert hits[0]["sha256"] == original, (copy, hits)
            assert hits[0]["score"] > hits[1]["score"]
        assert (index.hnsw is not None) == (exact_max == 0)
        assert similar(catalog, "f" * 64, 3, index) is None  # no embedding: no neighbours
        if exact_max == 0:  # saved with its keys: a new process loads it and adds nothing
            again = SimilarIndex(exact_max=0, cache_path=tmp_path / "cache" / "index")
            assert again.load() and len(again) == len(vectors)
            assert similar(catalog, next(iter(originals)), 1, again, max_age=0)[0]["sha256"] == \
                originals[next(iter(originals))]
