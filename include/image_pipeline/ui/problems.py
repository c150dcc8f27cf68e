"""The gallery's Problems view: what processing could not do, grouped so that one cause is one row.

``GET /api/problems`` reads the catalog's images with a problem (:meth:`Catalog.problems`, the trash
left out) and groups them by whose fault it was (:mod:`image_pipeline.core.errors`):

- quarantined images by the quarantine's kind (``image``, ``unexpected``; ``unclassified`` for a
  quarantine older than kinds) and reason;
- failed outputs (the recipe's fault: the image stays processed with its other outputs) by recipe
  and reason;
- images whose unexpected failures are still being tried again (not quarantined yet) by reason.

Reasons are grouped on their exact text (the backend writes them normalised), largest group first.
Each group names up to ``samples`` images to look at, every image of it up to
:data:`~image_pipeline.core.selection.MAX_IMAGES` (what one Retry sends), and the runs that recorded
it, each with the DAG recorded with it, so the page links to the run without asking Airflow's
metadata DB (whose models are Airflow's internals).

``POST /api/problems/conf`` changes nothing: it answers the ``gallery_process`` conf that tries chosen
images again, which the page then triggers through Airflow's REST API as the logged-in user (who
needs the right to trigger ``gallery_process``, as for Apply). The conf names the default recipes
and every recipe whose output failed for one of the images: ``retry`` forgets failed outputs, and only
a run of their recipe makes them again.
"""

from __future__ import annotations

from typing import Annotated, Any, Iterable

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from image_pipeline.core.selection import MAX_IMAGES
from image_pipeline.ui.backends import backends
from image_pipeline.ui.images import SHA256_PATTERN, BackendsDep, airflow_base, root
from image_pipeline.ui.schemas import BACKEND, RunRef, errors
from image_pipeline.ui.views import run_ref, thumb_url

router = APIRouter(prefix="/api", tags=["problems"])

MAX_SCANNED = 5000  # problem documents read for one answer; past it the counts are lower bounds (truncated)
MAX_RUNS = 10  # runs listed per group, the latest first


class ProblemSample(BaseModel):
    sha256: str
    thumb_url: str | None
    title: str | None
    keyword: str | None


class ProblemGroup(BaseModel):
    kind: str = Field(description="image, unexpected or unclassified (quarantines), recipe (failed outputs), "
                                  "retrying (unexpected failures still tried again)")
    recipe: str | None = Field(description="The recipe whose output failed (failed outputs only)")
    reason: str
    count: int = Field(description="Images in the group")
    samples: list[ProblemSample]
    sha256s: list[str] = Field(description=f"The group's images, at most {MAX_IMAGES} (one Retry)")
    runs: list[RunRef]


class ProblemTotals(BaseModel):
    images: int = Field(description="Distinct images with a problem")
    quarantined: int
    failed_outputs: int = Field(description="Failed outputs (an image may have several)")
    failed_images: int = Field(description="Images with at least one failed output")
    retrying: int


class Problems(BaseModel):
    quarantined: list[ProblemGroup]
    failed_outputs: list[ProblemGroup]
    retrying: list[ProblemGroup]
    totals: ProblemTotals
    truncated: bool = Field(description=f"More than {MAX_SCANNED} images have a problem: the counts are of the "
                                        "first ones (by sha256)")


class RetryRequest(BaseModel):
    sha256s: list[Annotated[str, Field(pattern=SHA256_PATTERN)]] = Field(min_length=1, max_length=MAX_IMAGES)


class RetryConf(BaseModel):
    images: list[str]
    retry: bool = True
    recipes: list[str]


class _Group:
    def __init__(self, kind: str, reason: str, recipe: str | None = None):
        self.kind, self.reason, self.recipe = kind, reason, recipe
        self.docs: list[dict[str, Any]] = []
        # (run id, its DAG as recorded with it) -> when it recorded the problem (the latest kept)
        self.runs: dict[tuple[str, str | None], str] = {}

    def add(self, doc: dict[str, Any], run_ids: Iterable[str | None], at: str | None, dag_id: str | None) -> None:
        self.docs.append(doc)
        for run_id in run_ids:
            if run_id:
                self.runs[run_id, dag_id] = max(self.runs.get((run_id, dag_id), ""), at or "")

    def latest_runs(self) -> list[tuple[str, str | None]]:
        return [r for r, _ in sorted(self.runs.items(), key=lambda kv: (kv[1], kv[0][0]), reverse=True)][:MAX_RUNS]


def _sample(doc: dict[str, Any], base: str, thumb: str) -> dict[str, Any]:
    keywords = doc.get("keywords") or []
    return {"sha256": doc["sha256"], "thumb_url": thumb_url(base, doc, thumb), "title": doc.get("title") or None,
            "keyword": keywords[0] if keywords else None}


def group_problems(docs: list[dict[str, Any]]) -> dict[str, list[_Group]]:
    """The documents' problems in groups: quarantines by (kind, reason), failed outputs by
    (recipe, reason), attempts by reason; each list largest first, then by its text."""
    groups: dict[tuple[str, ...], _Group] = {}

    def group(section: str, kind: str, reason: str, recipe: str | None = None) -> _Group:
        key = (section, kind, recipe or "", reason)
        if key not in groups:
            groups[key] = _Group(kind, reason, recipe)
        return groups[key]

    for doc in docs:
        quarantine = doc.get("quarantine")
        if quarantine:
            reason = quarantine.get("reason") or "no reason recorded"
            group("quarantined", quarantine.get("kind") or "unclassified", reason).add(
                doc, [quarantine.get("run_id")], quarantine.get("at"), quarantine.get("dag_id"))
        for recipe, failure in sorted((doc.get("failures") or {}).items()):
            if isinstance(failure, dict):
                group("failed_outputs", "recipe", failure.get("reason") or "no reason recorded", recipe).add(
                    doc, [failure.get("run_id")], failure.get("at"), failure.get("dag_id"))
        attempts = doc.get("attempts")
        if attempts and not quarantine:  # a quarantine ends the attempts: it is listed as such
            group("retrying", "retrying", attempts.get("reason") or "no reason recorded").add(
                doc, attempts.get("run_ids") or [], attempts.get("at"), attempts.get("dag_id"))
    out: dict[str, list[_Group]] = {"quarantined": [], "failed_outputs": [], "retrying": []}
    for (section, *_), g in groups.items():
        out[section].append(g)
    for section in out.values():
        section.sort(key=lambda g: (-len(g.docs), g.kind, g.recipe or "", g.reason))
    return out


@router.get("/problems", response_model=Problems, responses=errors(422, *BACKEND),
            summary="Quarantined images, failed outputs and images still being retried, grouped by cause")
def problems(request: Request, b: BackendsDep,
             samples: int = Query(6, ge=0, le=48, description="sample images per group")) -> Problems:
    docs = b.catalog.problems(MAX_SCANNED + 1)
    truncated = len(docs) > MAX_SCANNED
    docs = docs[:MAX_SCANNED]
    grouped = group_problems(docs)
    base, ui_root, thumb = airflow_base(), root(request), b.cfg.processing.gallery_thumb

    def shaped(g: _Group) -> ProblemGroup:
        return ProblemGroup(kind=g.kind, recipe=g.recipe, reason=g.reason, count=len(g.docs),
                            samples=[ProblemSample(**_sample(d, ui_root, thumb)) for d in g.docs[:samples]],
                            sha256s=[d["sha256"] for d in g.docs[:MAX_IMAGES]],
                            runs=[RunRef(**run_ref(run_id, dag_id, base)) for run_id, dag_id in g.latest_runs()])

    quarantined = sum(1 for d in docs if d.get("quarantine"))
    failed = [d for d in docs if d.get("failures")]
    return Problems(
        quarantined=[shaped(g) for g in grouped["quarantined"]],
        failed_outputs=[shaped(g) for g in grouped["failed_outputs"]],
        retrying=[shaped(g) for g in grouped["retrying"]],
        totals=ProblemTotals(images=len(docs), quarantined=quarantined, failed_images=len(failed),
                             failed_outputs=sum(len(d["failures"]) for d in failed),
                             retrying=sum(1 for d in docs if d.get("attempts") and not d.get("quarantine"))),
        truncated=truncated)


@router.post("/problems/conf", response_model=RetryConf, responses=errors(400, 422, *BACKEND),
             summary="The gallery_process conf that tries these images again (changes nothing; the page triggers it)")
def retry_conf(body: RetryRequest, request: Request) -> RetryConf:
    b = backends(request)
    from image_pipeline.process.recovery import failed_recipes

    images = list(dict.fromkeys(body.sha256s))  # well-formed: the body's pattern
    defaults = b.cfg.processing.recipe_names()
    # The same recipes the run's planning adds for a retry (a recipe deleted since is left out: naming
    # it would refuse the whole run); named here too so the run's form shows what it will make.
    failed = failed_recipes((b.catalog.get(s) or {} for s in images), b.recipe_book().names())
    return RetryConf(images=images, recipes=defaults + [r for r in failed if r not in defaults])
