"""Gallery processing: which images need work, in batches, and running a batch.

An image needs work (unless it is in the trash) when one of the selected recipes has no output for
it, or one made by another version of the recipe (its ``version`` or its ``fingerprint``: editing a
recipe redoes exactly its outputs), or when its features are missing. Each image is downloaded once, decoded once by the
engine for every recipe it needs, and forgotten: memory stays flat whatever the batch size.
Outputs go under content-addressed keys and are recorded in one catalog write per image, so a
retried batch redoes only what is missing and a re-run of the DAG finds nothing pending.

A batch is where processing's failures are classified (:mod:`image_pipeline.core.errors`), per image:

- the image's fault (:class:`BadImage`): quarantined, kind ``image``; the batch goes on;
- the recipe's fault (a recipe's :class:`RecipeError`): that output recorded as failed with its reason,
  the image's other outputs and features recorded as usual; planning leaves the failed output alone
  until the recipe changes (its version or fingerprint) or a Redo;
- the environment's fault (:func:`~image_pipeline.core.errors.is_environmental`: the store, the
  catalog, the disk, memory, a model's runtime): raised, so the task fails and Airflow retries it;
  nothing is recorded against the image;
- anything else: an attempt counted on the image (once per run), which stays pending and is named in
  the batch's ``problems``; at ``max_attempts`` it is quarantined as "failed N times: ...", kind
  ``unexpected``.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from image_pipeline.core import keys
from image_pipeline.core.catalog import utcnow_iso
from image_pipeline.core.catalog.roles import ImageRecorder, Images, Planning, Similarity
from image_pipeline.core.selection import Selection
from image_pipeline.process.engine import process_image
from image_pipeline.process.limits import Limits
from image_pipeline import RELEASE
from image_pipeline.core.errors import BadImage, InvalidRequest, RecipeError, describe, is_environmental
from image_pipeline.process.features import PhashIndex
from image_pipeline.process.recipes import Recipe, RecipeBook, default_book
from image_pipeline.core.storage import ObjectStore

log = logging.getLogger(__name__)


class PlanningCatalog(Images, Planning, Protocol):
    """What planning reads: the images due, and a selection's images."""


class ProcessingCatalog(Images, ImageRecorder, Similarity, Protocol):
    """What processing a batch reads and records: an image's document, its outputs, failures and
    quarantine, and the perceptual hashes its near-duplicate group is looked up in."""


MAX_BATCHES = 1024  # Airflow's [core] max_map_length default
# Automatic batch size: rounds of one batch per slot (a mapped task per core at once), as few rounds
# as batches of at most MAX_AUTO_BATCH images allow. Each task costs Airflow a process, the DAG
# file's imports and the models' load (several seconds on a busy machine, the same for 10 images or
# 500); a full round keeps every core busy to the end. The cap bounds what one task holds up (its
# retry redoes only its missing images, but the run waits for it) and keeps progress visible.
MAX_AUTO_BATCH = 500
COUNTS = ("processed", "quarantined", "skipped", "failed_outputs", "unexpected")
MAX_PROBLEMS = 50  # problems a batch names in its result (XCom, the run's summary); the counts are exact


@dataclass(frozen=True)
class ProcessingBatch:
    """One mapped task's work: the images of a batch and the recipes they need (XCom: ``to_dict``)."""

    index: int
    recipes: list[str]
    force: bool
    sha256s: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "recipes": list(self.recipes), "force": self.force, "sha256s": list(self.sha256s)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ProcessingBatch":
        return cls(int(values.get("index", 0)), list(values["recipes"]), bool(values.get("force")),
                   list(values["sha256s"]))


def due(catalog: Planning, recipes: list[Recipe], features_version: int | None) -> set[str]:
    """Images (not quarantined) with an output missing or outdated, or features to compute."""
    return set(catalog.due([(r.name, r.version, r.fingerprint) for r in recipes], features_version))


def auto_batch_size(count: int, slots: int = 1) -> int:
    """Images per batch for ``count`` images over ``slots`` tasks at once: ``ceil(count / slots)``
    up to ``MAX_AUTO_BATCH``, then evened out over full rounds of ``slots`` batches."""
    slots = max(1, slots)
    rounds = max(1, math.ceil(count / (slots * MAX_AUTO_BATCH)))
    return max(1, math.ceil(count / (slots * rounds)))


def plan_batches(
    catalog: PlanningCatalog, recipes: list[str], batch_size: int = 0, selection: Selection = Selection(),
    *, force: bool = False, features_version: int | None = None, max_batches: int = MAX_BATCHES,
    book: RecipeBook | None = None, slots: int = 1,
) -> list[list[str]]:
    """The images to process, split into batches (``batch_size`` 0: chosen from the count and the
    ``slots``, the batches that run at once: see :func:`auto_batch_size`).

    ``force`` redoes the selection's images even when up to date (not quarantined ones). Past
    ``max_batches`` (Airflow maps at most that many tasks) batches grow instead.
    """
    if batch_size < 0:
        raise InvalidRequest("batch_size must be >= 0 (0: automatic)")
    book = book or default_book()
    specs = [book.get(name) for name in recipes]
    if not specs:
        raise InvalidRequest("choose at least one recipe")
    if force:
        if selection.everything:
            raise InvalidRequest("force needs a selection (keyword, label or dates): it redoes every image it selects")
        chosen = {d["sha256"] for d in catalog.find() if d["status"] != "quarantined" and not d.get("trashed")}
        todo = sorted(chosen & selection.sha256s(catalog))
    else:
        todo = catalog.due([(r.name, r.version, r.fingerprint) for r in specs], features_version)  # sorted
        if not selection.everything:
            selected = selection.sha256s(catalog)
            todo = [sha256 for sha256 in todo if sha256 in selected]
    size = max(batch_size or auto_batch_size(len(todo), slots), math.ceil(len(todo) / max_batches))
    return [todo[i:i + size] for i in range(0, len(todo), size)]


FeatureExtractor = Callable[[Any, Any], dict[str, Any]]


def process_batch(
    store: ObjectStore, catalog: ProcessingCatalog, recipes: list[str], sha256s: list[str], *, force: bool = False,
    limits: Limits = Limits(), features: FeatureExtractor | None = None, features_version: int | None = None,
    near_duplicate: Callable[[str, list[tuple[str, str]]], str | None] | None = None, book: RecipeBook | None = None,
    run_id: str | None = None, dag_id: str | None = None, max_attempts: int = 3,
) -> dict[str, Any]:
    """Produce what each image lacks (the recipes' outputs, and its features when ``features`` is
    given), each failure classified as the module says. Returns the counts (:data:`COUNTS`) and
    ``problems``: up to :data:`MAX_PROBLEMS` ``{"sha256", "kind", "recipe", "reason"}``."""
    book = book or default_book()
    specs = [book.get(name) for name in recipes]
    counts: Counter = Counter()
    problems: list[dict[str, Any]] = []
    phashes: PhashIndex | None = None  # near-duplicate candidates, loaded once per batch

    def problem(sha256: str, kind: str, reason: str, recipe: str | None = None) -> None:
        if len(problems) < MAX_PROBLEMS:
            problems.append({"sha256": sha256, "kind": kind, "recipe": recipe, "reason": reason})

    with tempfile.TemporaryDirectory(prefix="image-pipeline-proc-") as tmp:
        src = Path(tmp) / "src"
        for sha256 in sha256s:
            doc = catalog.get(sha256)
            if doc is None or doc["status"] == "quarantined" or doc.get("trashed"):
                counts["skipped"] += 1
                continue
            todo = [r for r in specs if force or not _up_to_date(store, doc, r)]
            want_features = features is not None and (
                force or (doc.get("features") or {}).get("version") != features_version)
            if not todo and not want_features:
                counts["skipped"] += 1  # a retry of a batch that got this far already
                continue
            quarantine_ext = doc["raw_key"].rsplit(".", 1)[-1]
            try:
                store.download(doc["raw_key"], src)
                result = process_image(src, todo, lambda r: Path(tmp) / f"out-{r.name}.{r.ext}", limits=limits,
                                       features=features if want_features else None,
                                       gallery_image=lambda ref: gallery_image(store, catalog, ref))
            except BadImage as exc:  # the image's fault
                qkey = keys.quarantine_key(sha256, quarantine_ext)
                store.put_file(qkey, src)
                catalog.record_quarantine(sha256, str(exc), "process", qkey, utcnow_iso(), kind="image",
                                          release=RELEASE, run_id=run_id, dag_id=dag_id)
                log.warning("quarantined %s: %s", sha256, exc)
                counts["quarantined"] += 1
                problem(sha256, "image", str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - the batch's boundary: every other failure is classified here
                if is_environmental(exc):
                    raise  # the environment's fault: the task fails, Airflow retries it; nothing recorded
                reason = describe(exc)
                log.exception("unexpected failure processing %s (its attempts are counted)", sha256)
                attempts = catalog.record_attempt(sha256, reason, utcnow_iso(), run_id=run_id, release=RELEASE,
                                                  dag_id=dag_id)
                if attempts >= max_attempts:
                    qkey = keys.quarantine_key(sha256, quarantine_ext)
                    if src.exists():
                        store.put_file(qkey, src)
                    catalog.record_quarantine(sha256, f"failed {attempts} times: {reason}", "process",
                                              qkey if src.exists() else "", utcnow_iso(), kind="unexpected",
                                              release=RELEASE, run_id=run_id, attempts=attempts, dag_id=dag_id)
                    counts["quarantined"] += 1
                else:
                    counts["unexpected"] += 1
                problem(sha256, "unexpected", f"attempt {attempts} of {max_attempts}: {reason}")
                continue
            finally:
                src.unlink(missing_ok=True)  # a failed download leaves nothing for the next image to mistake
            outputs, failures = {}, {}
            for recipe in todo:
                if recipe.name in result.failures:  # the recipe's fault: recorded, the image goes on
                    failure = result.failures[recipe.name]
                    failures[recipe.name] = {**failure, "kind": "recipe", "version": recipe.version,
                                             "fingerprint": recipe.fingerprint, "at": utcnow_iso(),
                                             "release": RELEASE, **({"run_id": run_id} if run_id else {}),
                                             **({"dag_id": dag_id} if dag_id else {})}
                    log.warning("%s: output %s failed: %s", sha256, recipe.name, failure["reason"])
                    counts["failed_outputs"] += 1
                    problem(sha256, "recipe", failure["reason"], recipe.name)
                    continue
                facts = dict(result.outputs[recipe.name])
                out_key = keys.processed_key(recipe.name, sha256, recipe.ext)
                store.put_file(out_key, facts.pop("path"), recipe.content_type)
                outputs[recipe.name] = {"key": out_key, "processed_at": utcnow_iso(), **facts}
            duplicate_of = None
            if result.features is not None:
                result.features["version"] = features_version
                if near_duplicate is not None and result.features.get("phash"):
                    if phashes is None:
                        phashes = PhashIndex((s, p) for s, p in catalog.phashes() if s != sha256)
                    duplicate_of = near_duplicate(result.features["phash"], phashes)
                    phashes.append((sha256, result.features["phash"]))
            catalog.record_processing(sha256, outputs, result.features, duplicate_of, failures=failures)
            counts["processed"] += 1
    log.info("batch of %d: %s", len(sha256s), dict(counts))
    return {**{k: counts.get(k, 0) for k in COUNTS}, "problems": problems}


def gallery_image(store: ObjectStore, catalog: Images, sha256: str):
    """A gallery image's pixels by sha256 (a recipe's picture, e.g. a style), from its raw file. A
    picture missing or unreadable is the recipe's fault (:class:`RecipeError`); the store failing is
    the environment's (its own exception propagates)."""
    import io

    from PIL import Image, UnidentifiedImageError

    from image_pipeline.core.storage import ObjectNotFound

    doc = catalog.get(sha256)
    if doc is None or not doc.get("raw_key"):
        raise RecipeError(f"the recipe names gallery image sha256:{sha256}, which the gallery does not have")
    try:
        data = store.get_bytes(doc["raw_key"])
    except ObjectNotFound:
        raise RecipeError(f"the recipe names gallery image sha256:{sha256}, whose file is missing") from None
    try:
        with Image.open(io.BytesIO(data)) as opened:
            return opened.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, EOFError) as exc:
        raise RecipeError(f"the recipe names gallery image sha256:{sha256}, which cannot be read: {exc}") from None


def _up_to_date(store: ObjectStore, doc: dict[str, Any], recipe: Recipe) -> bool:
    """The image has this recipe's output, or its failure, at the recipe's version and fingerprint."""
    done = (doc.get("failures") or {}).get(recipe.name) or doc["outputs"].get(recipe.name)
    if not done or done.get("version") != recipe.version or done.get("fingerprint") != recipe.fingerprint:
        return False
    return "key" not in done or store.exists(done["key"])
