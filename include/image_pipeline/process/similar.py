"""Similar images: the gallery's images nearest to one image (or to any picture) by the cosine of their
embeddings (:mod:`.models.embedding`, recorded once with the features).

Up to ``exact_max`` embeddings (``GALLERY_SIMILAR_EXACT_MAX``) the neighbours are exact (one matrix
product in numpy); above it an HNSW graph (faiss, vectors kept as float16) answers in about a
millisecond. The index follows the catalog incrementally: a refresh adds the images that gained an
embedding since (content-addressed: an image's embedding never changes), and starts again only if one
disappeared. The HNSW index is saved in a cache folder (``GALLERY_SIMILAR_CACHE_DIR``) with the keys
it holds, so a new process loads it and adds only what is new. One index per process and catalog,
refreshed at most every ``REFRESH_SECONDS``.

faiss failing (its C++ errors, memory) while it builds, searches or saves the graph is the environment's
fault: :class:`~image_pipeline.core.errors.Unavailable` naming it (``models.runtime``). A saved copy that
cannot be read (torn, foreign, another faiss's) is only a cache: it is set aside and the index is built
again from the catalog's embeddings.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from image_pipeline.core.catalog.roles import Similarity
from image_pipeline.core.errors import Unavailable, is_environmental
from image_pipeline.process import models
from image_pipeline.process.models.embedding import DIM, MODEL, decode

log = logging.getLogger(__name__)
INDEX = "faiss-hnsw"  # the runtime named when faiss fails

REFRESH_SECONDS = 10.0
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 16, 40, 64  # neighbours per node; build and search breadth


class SimilarIndex:
    """Embeddings by sha256, searchable by cosine similarity: exact below ``exact_max``, HNSW above."""

    def __init__(self, exact_max: int = 20_000, cache_path: str | Path | None = None):
        self.exact_max = exact_max
        self.cache_path = Path(cache_path) if cache_path else None
        self.lock = threading.Lock()  # one refresh or search at a time (a refresh changes the arrays)
        self.refreshed_at = -float("inf")
        self._reset()

    def _reset(self) -> None:
        self.keys: list[str] = []
        self.position: dict[str, int] = {}
        self.matrix = np.zeros((0, DIM), np.float32)  # exact mode only
        self.hnsw: Any = None  # a faiss HNSW index once above exact_max (ids: positions in keys)
        self.saved = 0  # how many keys the saved copy holds

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def state(self) -> str:
        """A digest of the keys held: what the saved index is checked against."""
        return hashlib.sha256("\n".join(self.keys).encode()).hexdigest()

    def memory_bytes(self) -> int:
        """Memory of the vectors (and the graph): the index's footprint."""
        if self.hnsw is None:
            return self.matrix.nbytes
        import faiss

        with models.runtime(INDEX, "measuring", models.FAISS_FAILURES):
            return int(faiss.serialize_index(self.hnsw).nbytes)  # float16 vectors and the graph's links

    def add(self, pairs: list[tuple[str, np.ndarray]]) -> None:
        """Add (sha256, unit vector) pairs; sha256s already held are skipped."""
        pairs = [(s, v) for s, v in dict(pairs).items() if s not in self.position]
        if not pairs:
            return
        start = len(self.keys)
        vectors = np.stack([v for _, v in pairs]).astype(np.float32)
        for i, (sha, _) in enumerate(pairs):
            self.position[sha] = start + i
            self.keys.append(sha)
        if self.hnsw is None and len(self.keys) <= self.exact_max:
            self.matrix = np.vstack([self.matrix, vectors])
            return
        if self.hnsw is None:  # crossing the threshold: the graph from everything so far
            vectors, start = np.vstack([self.matrix, vectors]), 0
            self.hnsw = _new_hnsw()
            self.matrix = np.zeros((0, DIM), np.float32)
        with models.runtime(INDEX, "adding", models.FAISS_FAILURES):
            self.hnsw.add(np.ascontiguousarray(vectors))  # faiss numbers them on from ntotal: positions in keys

    def vector(self, sha256: str) -> np.ndarray | None:
        i = self.position.get(sha256)
        if i is None:
            return None
        if self.hnsw is None:
            return self.matrix[i]
        with models.runtime(INDEX, "reading", models.FAISS_FAILURES):
            return np.asarray(self.hnsw.reconstruct(i), np.float32)

    def search(self, vector: np.ndarray, k: int, exclude: str | None = None) -> list[dict[str, Any]]:
        """The ``k`` nearest images as ``{"sha256", "score"}`` (cosine similarity), best first."""
        want = min(len(self.keys), k + (exclude is not None))
        if want == 0:
            return []
        vector = np.asarray(vector, np.float32)
        if self.hnsw is None:
            scores = self.matrix @ vector
            top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
            found = [(int(i), float(scores[i])) for i in top]
        else:
            with models.runtime(INDEX, "searching", models.FAISS_FAILURES):
                scores, ids = self.hnsw.search(vector[None], want)  # inner products of unit vectors: cosines
            found = [(int(i), float(score)) for i, score in zip(ids[0], scores[0], strict=True) if i >= 0]
        found.sort(key=lambda item: (-item[1], self.keys[item[0]]))
        hits = [{"sha256": self.keys[i], "score": round(score, 4)} for i, score in found if self.keys[i] != exclude]
        return hits[:k]

    def refresh(self, catalog: Similarity, max_age: float = REFRESH_SECONDS) -> None:
        """Bring the index up to the catalog: add what is new; start again if an image left it."""
        if time.monotonic() - self.refreshed_at < max_age:
            return
        shas = catalog.embedding_shas()
        current = set(shas)
        if not self.keys:
            self.load()
        if not set(self.keys) <= current:
            self._reset()
        new = [s for s in shas if s not in self.position]
        if new:
            self.add([(sha, decode(text)) for sha, text in catalog.embeddings(new)])
            if len(self.keys) - self.saved >= max(1, len(self.keys) // 100):  # not a 250 MB write per image
                self.save()
        self.refreshed_at = time.monotonic()

    def save(self) -> None:
        """Keep the HNSW index (with its keys) in the cache folder, atomically; exact mode keeps nothing."""
        if self.hnsw is None or self.cache_path is None:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        import faiss

        graph, keys = self.cache_path.with_suffix(".faiss"), self.cache_path.with_suffix(".keys.json")
        tmp = f".tmp-{os.getpid()}-{threading.get_ident()}"
        with models.runtime(INDEX, "saving", models.FAISS_FAILURES):
            faiss.write_index(self.hnsw, str(graph) + tmp)
        Path(str(keys) + tmp).write_text(json.dumps({"model": MODEL, "state": self.state, "keys": self.keys}))
        os.replace(str(graph) + tmp, graph)
        os.replace(str(keys) + tmp, keys)
        self.saved = len(self.keys)

    def load(self) -> bool:
        """Load the saved HNSW index if its keys match its graph; False when there is none, or one that
        cannot be used (the index is then built from the catalog). The machine failing to read it (an
        I/O error, memory) is :class:`Unavailable`."""
        if self.cache_path is None:
            return False
        import faiss

        graph, keys = self.cache_path.with_suffix(".faiss"), self.cache_path.with_suffix(".keys.json")
        try:
            saved = json.loads(keys.read_bytes())
        except FileNotFoundError:
            return False  # nothing saved yet
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:  # unreadable: rebuilt, unless the machine's
            if is_environmental(exc):
                raise Unavailable(f"the similar-images cache {keys} cannot be read: {exc}") from exc
            log.warning("similar images: the saved keys %s cannot be used (%s): building the index again", keys, exc)
            return False
        if not isinstance(saved, dict) or saved.get("model") != MODEL:
            return False
        stored = saved.get("keys")
        if not isinstance(stored, list) or not all(isinstance(k, str) for k in stored):
            return False
        try:
            index = faiss.read_index(str(graph))
        except RuntimeError as exc:  # faiss's word for a graph file it cannot read (missing, torn, foreign)
            log.warning("similar images: the saved graph %s cannot be used (%s): building the index again", graph, exc)
            return False
        if not hasattr(index, "hnsw") or index.d != DIM or index.ntotal != len(stored):
            return False
        index.hnsw.efSearch = HNSW_EF_SEARCH
        self.keys, self.hnsw = list(stored), index
        self.position = {sha: i for i, sha in enumerate(self.keys)}
        self.saved = len(self.keys)
        if self.state != saved.get("state"):
            self._reset()
            return False
        return True


def _new_hnsw():
    """An empty HNSW index over float16 vectors by inner product (cosine, for unit vectors)."""
    import faiss

    faiss.omp_set_num_threads(models.threads())
    with models.runtime(INDEX, "building", models.FAISS_FAILURES):
        index = faiss.IndexHNSWSQ(DIM, faiss.ScalarQuantizer.QT_fp16, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction, index.hnsw.efSearch = HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH
    return index


_INDEXES: dict[str, SimilarIndex] = {}
_INDEXES_LOCK = threading.Lock()


def index_for(catalog_id: str, exact_max: int = 20_000, cache_dir: str | Path | None = None) -> SimilarIndex:
    """This process's index of the catalog ``catalog_id`` names (e.g. its SQLite path or Mongo database)."""
    with _INDEXES_LOCK:
        index = _INDEXES.get(catalog_id)
        if index is None:
            name = f"{MODEL}-{hashlib.sha256(catalog_id.encode()).hexdigest()[:16]}"
            index = _INDEXES[catalog_id] = SimilarIndex(exact_max, Path(cache_dir) / name if cache_dir else None)
        return index


def similar(catalog: Similarity, sha256: str, k: int = 12, index: SimilarIndex | None = None,
            max_age: float = REFRESH_SECONDS) -> list[dict[str, Any]] | None:
    """The ``k`` images most like the image ``sha256`` (itself left out), best first as ``{"sha256",
    "score"}``; None when that image has no embedding (not processed yet, or processed without the model)."""
    index = SimilarIndex() if index is None else index
    with index.lock:
        index.refresh(catalog, max_age)
        vector = index.vector(sha256)
        if vector is None:
            return None
        return index.search(vector, k, exclude=sha256)


def similar_to_picture(catalog: Similarity, im: Any, k: int = 12, index: SimilarIndex | None = None,
                       max_age: float = REFRESH_SECONDS) -> list[dict[str, Any]]:
    """The ``k`` images most like a picture that need not be in the gallery (its embedding computed now:
    the model loads in this process on first use). ImportError without onnxruntime."""
    from image_pipeline.process.models.embedding import embed

    vector = embed(im)
    index = SimilarIndex() if index is None else index
    with index.lock:
        index.refresh(catalog, max_age)
        return index.search(vector, k)
