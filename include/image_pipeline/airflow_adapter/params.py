"""The trigger forms' fields, defined once, and the reading of what a person (or the REST API) sent.

Airflow renders each DAG's ``params`` as the form behind the **Trigger** button and validates a
run's conf against them (JSON Schema) in the form and again when the run is created. In Airflow 3's
form a typed field is *required* unless its type admits ``null``: every optional field here is
``type=["null", ...]`` with a ``None`` default, and :func:`given` reads ``None`` (and, from REST
callers, ``""``, ``[]`` and ``{}``) as "not given". What JSON Schema cannot check (an engine's filters,
a keyword's characters, an email address, a date range's order) the DAG's first task checks through
the library before any side effect; :func:`refusing_invalid` turns that refusal into a failure that
is not retried, its message naming the field.

The fields shared by several DAGs (the retrieval source, the image selection, recipes, dates) are
built here by functions, so every form that asks for them asks the same way.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

from airflow.sdk import Param
from airflow.sdk.exceptions import AirflowFailException

from image_pipeline.core.errors import InvalidRequest, RecipeError

# Sections of the forms (Airflow groups a section's fields under its heading).
SOURCE_DETAILS = "Filters, site and URLs"
SELECTION = "Which images"
DELIVERY = "Delivery"
TUNING = "Tuning"

ENGINE_LABELS = {  # how the forms show each registered source
    "bing": "Bing image search",
    "google": "Google image search",
    "baidu": "Baidu image search",
    "flickr": "Flickr search (API key in the flickr_default connection)",
    "openverse": "Openverse: openly licensed images, with creator and licence",
    "wikimedia": "Wikimedia Commons: files with their author and licence",
    "greedy": "Every image of a web site (site URL below)",
    "urls": "A list of image URLs (below)",
    "inbox": "Files uploaded to the inbox",
}
HTTP_URL = r"^https?://[^\s/]+"  # the form refuses what is not http(s); the fetcher checks the rest
TEXT = {"minLength": 1, "maxLength": 100}  # a keyword or label, as the library accepts them


def nullable(kind: str) -> list[str]:
    return ["null", kind]


def keywords(*, required: bool, section: str | None = None) -> Param:
    """Search terms, one per line in the form (one retrieval task each)."""
    if required:
        return Param(type="array", items={"type": "string", **TEXT}, minItems=1, maxItems=20, title="Keywords",
                     description="What to look for, one per line (one search each).", section=section)
    return Param(None, type=nullable("array"), items={"type": "string", **TEXT}, maxItems=20, title="Keywords",
                 description="Search terms, one per line (one search each): needed by the search engines; for the "
                             "other sources, an optional label recorded on the images.", section=section)


def count(max_count: int, section: str | None = None) -> Param:
    return Param(20, type="integer", minimum=1, maximum=max_count, title="How many images",
                 description=f"Images wanted per keyword (1 to {max_count}).", section=section)


def engine(section: str | None = None) -> Param:
    """The registry's sources (a new source is offered as soon as it is registered), by their labels."""
    from image_pipeline.retrieve.sources import ENGINES  # the registry alone: no source module is loaded

    return Param("bing", type="string", enum=list(ENGINES),
                 values_display={name: ENGINE_LABELS.get(name, name) for name in ENGINES}, title="Source",
                 description="A search engine, a web site, a list of URLs or the inbox.", section=section)


def source_details(section: str | None = None) -> dict[str, Param]:
    """What the non-default sources need: filters for a search, a site URL, a list of image URLs."""
    return {
        "filters": Param(None, type=nullable("object"), title="Search filters",
                         description='Optional, as JSON, e.g. {"size": "large", "type": "photo"} for Bing, '
                                     '{"license": "4,5"} for Flickr.', section=section),
        "site_url": Param(None, type=nullable("string"), pattern=HTTP_URL, maxLength=2000, title="Site URL",
                          description="Source 'every image of a web site': the page to start from (http or https).",
                          section=section),
        "urls": Param(None, type=nullable("array"), items={"type": "string", "pattern": HTTP_URL, "maxLength": 2000},
                      title="Image URLs", description="Source 'a list of image URLs': one http(s) URL per line.",
                      section=section),
    }


def source(*, max_count: int, details_section: str | None = SOURCE_DETAILS) -> dict[str, Param]:
    """A whole retrieval request (gallery_retrieve's form): the engine, keywords and count first,
    what only some engines need in a section of its own."""
    return {"engine": engine(), "keywords": keywords(required=False), "count": count(max_count),
            **source_details(details_section)}


def _date(title: str, description: str, section: str | None) -> Param:
    return Param(None, type=nullable("string"), format="date", title=title, description=description, section=section)


def selection(*, run_id: bool = False, section: str = SELECTION, purpose: str = "Only") -> dict[str, Param]:
    """Which images of the gallery: by keyword, label, retrieval run and a range of retrieval days.
    Every field is optional; together they narrow (AND)."""
    fields = {
        "keyword": Param(None, type=nullable("string"), **TEXT, title="Keyword",
                         description=f"{purpose} images retrieved for this keyword.", section=section),
        "label": Param(None, type=nullable("string"), **TEXT, title="Label",
                       description=f"{purpose} images with this content label (e.g. 'cat').", section=section),
    }
    if run_id:
        fields["run_id"] = Param(None, type=nullable("string"), minLength=1, maxLength=250, title="Retrieval run",
                                 description=f"{purpose} images of this retrieval run (its run id).", section=section)
    fields["since"] = _date("Retrieved from", f"{purpose} images retrieved on or after this day (UTC).", section)
    fields["until"] = _date("Retrieved before", f"{purpose} images retrieved before this day (UTC).", section)
    return fields


SELECTION_FIELDS = ("keyword", "label", "run_id", "since", "until")
EARLIEST_DAY = "1970-01-01"


def chosen_selection(params: Mapping[str, Any]) -> dict[str, Any]:
    """The selection fields a person filled in, days checked; a range open at one end is closed
    (from the first day, or up to tomorrow UTC). Raises ValueError naming the field."""
    chosen = given(params, *SELECTION_FIELDS)
    for field in ("since", "until"):
        if field in chosen:
            chosen[field] = check_day(field, chosen[field])
    if "since" in chosen or "until" in chosen:
        chosen.setdefault("since", EARLIEST_DAY)
        chosen.setdefault("until", (datetime.now(timezone.utc).date() + timedelta(days=1)).isoformat())
        if chosen["since"] >= chosen["until"]:
            raise InvalidRequest(f"since: {chosen['since']} must be before until ({chosen['until']})")
    return chosen


def _recipe_choices() -> tuple[list[str], dict[str, str]]:
    """The recipes every worker knows (shipped and ``GALLERY_RECIPES_DIR``), shown by their description."""
    from image_pipeline.wiring import all_recipes

    known = all_recipes()
    labels = {name: f"{name}: {r.description}" if r.description else name for name, r in sorted(known.items())}
    return sorted(known), labels


RECIPE_NAME = {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "maxLength": 64}


def recipe(default: str = "half_gray", section: str | None = None) -> Param:
    """One recipe: the recipe files proposed (``examples``), or the name of one saved from the
    gallery's editor; the first task checks it (:func:`~.tasks.check_recipe`)."""
    names, labels = _recipe_choices()
    return Param(default, **RECIPE_NAME, examples=names, values_display=labels, title="Recipe",
                 description="How the images are processed: a recipe file's name, or one saved from the gallery's "
                             "editor.", section=section)


def recipes(default: list[str]) -> Param:
    """Several recipes (one decode for all of them): the recipe files are proposed (``examples``: the
    form offers them and accepts another name), so a recipe saved from the gallery's editor (in the
    catalog, which parsing a DAG file never reads) can be named too; the first task checks every name."""
    names, labels = _recipe_choices()
    return Param(default, type="array", items=RECIPE_NAME, minItems=1, uniqueItems=True,
                 examples=names, values_display=labels, title="Recipes",
                 description="The outputs to produce for every selected image: a recipe file's name, or one saved "
                             "from the gallery's editor.")


def images(section: str = SELECTION) -> Param:
    """Images chosen one by one (the gallery's selection), by sha256."""
    from image_pipeline.core.selection import MAX_IMAGES

    return Param(None, type=nullable("array"), items={"type": "string", "pattern": "^[0-9a-f]{64}$"},
                 maxItems=MAX_IMAGES, uniqueItems=True, title="Images",
                 description=f"Only these images (their sha256, one per line; at most {MAX_IMAGES}): the gallery's "
                             "selection.", section=section)


def day(description: str) -> Param:
    return _date("Day", description, None)


def email(*, required: bool, description: str, title: str = "Email", section: str | None = None) -> Param:
    if required:
        return Param(type="string", minLength=3, maxLength=254, format="email", title=title, description=description,
                     section=section)
    return Param(None, type=nullable("string"), maxLength=254, format="email", title=title, description=description,
                 section=section)


def batch_size(section: str | None = TUNING) -> Param:
    return Param(None, type=nullable("integer"), minimum=1, maximum=1000, title="Images per task",
                 description="Images per processing task; empty: chosen from the number of images.", section=section)


def given(params: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The fields among ``names`` (all when none) that were given: ``None``, ``""``, ``[]`` and ``{}``
    mean "not given" (the form sends ``None``; REST callers often send empty values)."""
    picked = {k: params.get(k) for k in names} if names else dict(params)
    return {k: v for k, v in picked.items() if v is not None and v != "" and v != [] and v != {}}


def check_day(field: str, value: Any) -> str | None:
    """A ``YYYY-MM-DD`` day, or None when not given. Raises InvalidRequest naming the field."""
    if value in (None, ""):
        return None
    text = str(value)
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
    except ValueError:  # fromisoformat's word for a text that is not a date: refused below
        pass
    raise InvalidRequest(f"{field}: {text!r} is not a day (YYYY-MM-DD)")


@contextmanager
def refusing_invalid(field: str | None = None) -> Iterator[None]:
    """The task's boundary for the request's fault: a request the library refuses
    (:class:`~image_pipeline.core.errors.InvalidRequest`, or a :class:`~image_pipeline.core.errors.RecipeError`
    of the recipe the form names) fails the task for good, before any side effect: retrying cannot
    help. Nothing else is caught: the environment's failures are Airflow's to retry. ``field`` names
    the form field the checks inside are about, when the library's message does not."""
    try:
        yield
    except (InvalidRequest, RecipeError) as exc:
        reason = f"{field}: {exc}" if field and not str(exc).startswith(field) else str(exc)
        raise AirflowFailException(f"invalid request: {reason}") from None
