"""The catalog's roles: what each part of the pipeline asks of it, one small protocol each, with the
contract every backend keeps (and tests/unit/core/catalog/ checks on each, a test module per role).

A consumer takes the narrowest role it uses (``catalog: Images``, not the whole catalog), so its
signature says what it reads and writes; a function needing two roles names a small protocol of both
where it is defined (``ProcessingCatalog`` in :mod:`image_pipeline.process.batches`).
:class:`~.base.Catalog` plays every role: the composition root (``wiring``) opens one and hands it
to everything; a backend (:mod:`.sqlite`, :mod:`.mongo`) implements what :class:`~.base.Catalog`
does not implement over its other methods. Which stage uses which role: docs/development.md.

Each method is abstract here: a class that names a role among its bases cannot be instantiated
without it. The documents are described in :mod:`.base`; times are the catalog's sortable UTC ISO
text (:func:`.base.to_iso`).
"""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Any, Iterable, Iterator, Protocol, runtime_checkable


@runtime_checkable
class Images(Protocol):
    """The image documents, read: one per distinct image, keyed by its sha256."""

    @abstractmethod
    def get(self, sha256: str) -> dict[str, Any] | None:
        """The image's document, or None when the catalog has no such image."""

    @abstractmethod
    def find(
        self, *, keyword: str | None = None, run_id: str | None = None, status: str | None = None,
        has_output: str | None = None, between: tuple[str, str, str] | None = None, label: str | None = None,
    ) -> list[dict[str, Any]]:
        """Images matching every given filter, by sha256.

        ``label`` keeps images whose features list that label name.

        ``between=(field, since, until)`` keeps documents whose (dotted) field is in
        ``[since, until)``, e.g. ``("outputs.half_gray.processed_at", start, end)``.
        """

    @abstractmethod
    def iter_images(self, batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Every image document, by sha256, read ``batch_size`` at a time: a pass over the whole
        catalog (maintenance's check) never holds it all."""


@runtime_checkable
class ImageRecorder(Protocol):
    """What retrieval and processing record on images. Every write is an upsert keyed by the content
    hash: a retried task never duplicates a record."""

    @abstractmethod
    def record_image(self, sha256: str, **fields: Any) -> bool:
        """Upsert an image seen by a retrieval; returns True when it is new to the catalog.

        ``fields`` are those of :func:`.base.new_image_doc`. Seeing a known image again adds its keyword,
        run id and source to the sets and moves ``last_seen_at``; nothing else changes. A trashed image
        stays as it is (and is not new).
        """

    @abstractmethod
    def record_output(self, sha256: str, recipe: str, output: dict[str, Any]) -> None:
        """Store a recipe's output for an image and mark it processed."""

    @abstractmethod
    def record_processing(self, sha256: str, outputs: dict[str, dict[str, Any]],
                          features: dict[str, Any] | None = None, duplicate_of: str | None = None,
                          failures: dict[str, dict[str, Any]] | None = None) -> None:
        """Store what processing one image produced, in one write: recipe outputs (replacing those
        recipes' earlier outputs and failures; the image is then processed), ``failures`` (the
        recipes whose output failed by the recipe's fault, each with its reason, version and
        fingerprint: planning leaves them alone until the recipe changes or a Redo), and, when
        given, its features and near-duplicate group. The image got through the engine: its
        unexpected ``attempts`` are over. KeyError when there is no such image."""

    @abstractmethod
    def record_quarantine(self, sha256: str, reason: str, stage: str, key: str, at: str,
                          base: dict[str, Any] | None = None, *, kind: str = "image", release: str | None = None,
                          run_id: str | None = None, attempts: int | None = None, dag_id: str | None = None) -> None:
        """Mark an image quarantined; ``base`` creates the document if it does not exist yet.
        ``kind`` is whose fault it is (``image``, or ``unexpected`` after ``attempts`` failures),
        ``release`` the pipeline's release that decided it, ``run_id`` and ``dag_id`` the run (the
        gallery links to its page without asking Airflow which DAG ran it).

        The first quarantine of an image stands: recording it again changes nothing (until
        :meth:`Problems.retry_image` lifts it)."""

    @abstractmethod
    def record_attempt(self, sha256: str, reason: str, at: str, *, run_id: str | None = None,
                       release: str | None = None, dag_id: str | None = None) -> int:
        """Count an unexpected failure of processing an image, once per run (a retried task of the
        same run is not another attempt; without ``run_id``, every call counts); returns the
        attempts so far. :meth:`record_processing` ends them."""


@runtime_checkable
class Planning(Protocol):
    """Processing's planning: the images whose outputs or features are missing or outdated. A
    quarantined or trashed image is never planned."""

    @abstractmethod
    def due(self, recipes: Iterable[tuple[str, int | None, str | None]], features_version: int | None) -> list[str]:
        """sha256 (sorted) of images not quarantined that lack an output of one of ``recipes`` (name,
        version, fingerprint: at least one given; None is not compared) or have one of another version
        or fingerprint, or, with ``features_version``, whose features are missing or of another
        version: the work a processing run plans. Backends answer it in one query where they can."""

    @abstractmethod
    def pending(self, recipe: str, version: int | str, field: str = "version") -> list[str]:
        """sha256 of images not quarantined whose ``recipe`` output is missing or outdated: its
        ``field`` (``version`` or ``fingerprint``) differs from ``version``. A failed output stands for
        its recipe (it is the newer attempt)."""

    @abstractmethod
    def pending_features(self, version: int) -> list[str]:
        """sha256 of images not quarantined whose features are missing or of another version."""


@runtime_checkable
class Similarity(Protocol):
    """What images are compared by: their perceptual hashes (near-duplicates) and embeddings
    (similar images)."""

    @abstractmethod
    def phashes(self) -> list[tuple[str, str]]:
        """(sha256, perceptual hash) of every image with features, oldest retrieval first: the
        candidates a new image's near-duplicate group is looked up in."""

    @abstractmethod
    def embedding_shas(self) -> list[str]:
        """sha256 of every image whose features hold an embedding (similar images), by sha256."""

    @abstractmethod
    def embeddings(self, sha256s: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """(sha256, ``features.embedding.f16`` text) of those images (all when None) that have one, by sha256."""


@runtime_checkable
class Listing(Protocol):
    """The gallery's listing (see :mod:`.listing`): index-backed pages, counts and facets."""

    @abstractmethod
    def list_images(self, filters: Any = None, sort: str = "newest", limit: int = 60,
                    cursor: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """A page of images matching ``filters`` (an :class:`~.listing.ImageFilters` or its dict),
        ``newest`` or ``oldest`` first by ``retrieved_at`` then sha256, after ``cursor``; returns
        the page and the cursor of the next one (None at the end). Index-backed, never OFFSET. The
        trash is left out unless ``filters`` ask for it."""

    @abstractmethod
    def count_images(self, filters: Any = None) -> int:
        """How many images match ``filters``."""

    @abstractmethod
    def facets(self, top: int = 100) -> dict[str, list[dict[str, Any]]]:
        """The values the gallery can filter on, with their image counts, most frequent first (at
        most ``top`` each, the trash left out): ``keywords``, ``labels``, ``sources``, ``tags``,
        ``formats``, ``statuses``, as ``[{"name", "count"}]``."""


@runtime_checkable
class Curation(Protocol):
    """What people change in the gallery (title, description, tags, the trash), each change recorded
    in the image's ``history`` (who, what, when), and maintenance's purge of the trash."""

    @abstractmethod
    def edit_image(self, sha256: str, changes: dict[str, Any], by: str, action: str = "edit",
                   at: str | None = None) -> dict[str, Any] | None:
        """Change an image's ``title``, ``description`` and ``tags``, recording who changed what
        (only what differs goes into the history); None when there is no such image. InvalidRequest
        for another field or a value out of bounds."""

    @abstractmethod
    def tag_images(self, sha256s: Iterable[str], tags: Iterable[str], by: str, remove: bool = False) -> int:
        """Add (or ``remove``) tags on several images; how many images changed."""

    @abstractmethod
    def trash_image(self, sha256: str, by: str, at: str | None = None) -> tuple[dict[str, Any] | None, bool]:
        """Move an image to the trash; (the document, whether it changed: trashing twice changes nothing).
        A trashed image is hidden, never planned, and left out of the days after it was trashed."""

    @abstractmethod
    def restore_image(self, sha256: str, by: str, at: str | None = None) -> tuple[dict[str, Any] | None, bool]:
        """Take an image out of the trash; (the document, whether it changed)."""

    @abstractmethod
    def trashed_before(self, cutoff: str) -> list[dict[str, Any]]:
        """Images moved to the trash before ``cutoff`` (what the maintenance purges)."""

    @abstractmethod
    def delete_image(self, sha256: str) -> bool:
        """Remove an image's record (the maintenance's purge); True when there was one."""


@runtime_checkable
class Problems(Protocol):
    """Images with a problem (see :mod:`image_pipeline.core.errors`), and trying them again."""

    @abstractmethod
    def problems(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Images with a problem: quarantined, with a failed output or with unexpected attempts, the
        trash left out, by sha256 (at most ``limit``). Backends answer it from an index."""

    @abstractmethod
    def retry_image(self, sha256: str, by: str, at: str | None = None,
                    raw: dict[str, Any] | None = None) -> tuple[dict[str, Any] | None, bool]:
        """Try an image again: its quarantine lifted (``raw``: the ``raw_key``, ``format``, ``width``,
        ``height`` and ``bytes`` of a file quarantined at retrieval that now reads), its failed
        outputs and attempts forgotten, recorded in its history; planning finds it due again.
        (the document, whether anything changed)."""


@runtime_checkable
class DayReading(Protocol):
    """A day's images for analytics, streamed: a day's reading never holds the whole catalog. Images
    trashed before the day are left out, so days already reported read the same when reported again."""

    @abstractmethod
    def touched(self, since: str, until: str, recipes: Iterable[str] = (),
                batch_size: int = 1000) -> Iterator[dict[str, Any]]:
        """Images retrieved, quarantined or given a ``recipes`` output in ``[since, until)``, by
        sha256, streamed ``batch_size`` at a time."""

    @abstractmethod
    def touched_json(self, since: str, until: str, recipes: Iterable[str] = (),
                     batch_size: int = 1000) -> Iterator[str | bytes]:
        """JSON text (``str`` or UTF-8 ``bytes``) of at least the documents :meth:`touched` gives, in
        any order, for readers that parse in bulk and apply the window themselves: an implementation
        may add documents it can rule out only by parsing them."""

    @abstractmethod
    def day_facts(self, day: str, since: str, batch_size: int = 20_000) -> tuple[
            Iterator[tuple[list[bytes], list[bytes]]], Iterator[str | bytes]] | None:
        """What a day's analytics read, for a catalog that keeps its documents' facts (:mod:`.facts`):
        batches of (image lines, output lines) of the images with a timestamp in the UTC day ``day``
        (``YYYY-MM-DD``; ``since``, its start) and not trashed before it, in sha256 order, and the
        JSON text of the documents kept without lines. None: this catalog keeps none (read
        :meth:`touched_json`)."""


@runtime_checkable
class DailyMetrics(Protocol):
    """Analytics' metrics, one document per day, beside the images."""

    @abstractmethod
    def get_metrics(self, day: str) -> dict[str, Any] | None:
        """The analytics metrics document of a day (``YYYY-MM-DD``)."""

    @abstractmethod
    def put_metrics(self, day: str, doc: dict[str, Any]) -> None:
        """Upsert (replace) a day's metrics document, its ``day`` added: re-running a day leaves one
        document."""

    @abstractmethod
    def metrics(self) -> list[dict[str, Any]]:
        """Every day's metrics document, by day."""


@runtime_checkable
class DeliveryLedger(Protocol):
    """Delivery's ledger, one entry per delivery id (see :mod:`image_pipeline.deliver.ledger`)."""

    @abstractmethod
    def get_delivery(self, delivery_id: str) -> dict[str, Any] | None:
        """The ledger's entry ``delivery_id`` (with its ``id``), or None."""

    @abstractmethod
    def put_delivery(self, delivery_id: str, doc: dict[str, Any]) -> None:
        """Upsert (replace) a delivery ledger entry, its ``id`` added."""

    @abstractmethod
    def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery ledger entry, by id."""


@runtime_checkable
class SavedRecipes(Protocol):
    """Recipes saved from the gallery's editor: every worker reads them from the catalog."""

    @abstractmethod
    def save_recipe(self, name: str, spec: dict[str, Any], saved_by: str, saved_at: str) -> dict[str, Any]:
        """Store a recipe's spec (its YAML mapping, without ``version``) under ``name``, atomically
        bumping its version (1 when new); returns ``{"name", "version", "spec", "saved_by", "saved_at"}``."""

    @abstractmethod
    def saved_recipes(self) -> list[dict[str, Any]]:
        """Every saved recipe (as :meth:`save_recipe` returns them), by name."""


@runtime_checkable
class RequestLedger(Protocol):
    """image_request's per-user limit (:mod:`image_pipeline.core.request_limit`): one entry per run,
    ``{"run_id", "user", "at", "admitted"}``, kept apart from the images and written by the run's
    first task only."""

    @abstractmethod
    def admit_request(self, run_id: str, user: str, at: datetime | str, limit: int, window: int) -> dict[str, Any]:
        """Record the run ``run_id`` of ``user`` made at ``at`` and decide, in one atomic step,
        whether it is within the limit: admitted unless ``limit`` or more of that user's other
        entries are less than ``window`` seconds before or after ``at``. A run already recorded
        keeps its entry and decision (a retry, a clear). Returns the entry, ``{"run_id", "user",
        "at", "admitted"}``, with ``recent``: the times (ISO, oldest first) of that user's entries
        less than ``window`` seconds either side of the entry's, its own included."""

