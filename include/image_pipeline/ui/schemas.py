"""The gallery API's documents as pydantic models: what each route answers, and the one error shape.

The routes' ``response_model``: FastAPI validates every answer against them (a field :mod:`.views`
adds without its model here is a 500 in the tests, not a field the schema hides), and the OpenAPI
document the UI's client is generated from (``ui/openapi.json``) is made of them. Most models forbid
fields they do not name; the few whose documents carry more than the gallery reads (EXIF, a day's
metrics, a history entry's changes) say so and allow them.

Every error is ``{"detail": "<a sentence>"}`` (:class:`ErrorBody`), FastAPI's validation errors too
(their list goes in ``errors``): :func:`errors` documents, per route, the statuses it can answer.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors ----------------------------------------------------------------------------------------

class ValidationIssue(Model):
    loc: list[str | int] = Field(description="Where: the part of the request (path, query, body) and the field")
    msg: str
    type: str = Field(description="pydantic's error type, e.g. missing, greater_than_equal")


class ErrorBody(Model):
    detail: str = Field(description="What went wrong, in a sentence a person can read")
    errors: list[ValidationIssue] | None = Field(None, description="422 from the request's validation only: "
                                                                   "each field refused")


ERRORS: dict[int, str] = {
    400: "The request is refused (a body that is not JSON, a cursor this API did not give, a multipart body "
         "without its files, a form Airflow refuses): `detail` says why; nothing was changed",
    401: "Not logged in: no token, or one that is invalid or expired",
    403: "Logged in without the right this needs: `detail` says which",
    404: "No such image, file, output, recipe or archive",
    409: "In conflict with what exists (e.g. a recipe file's name)",
    411: "A Content-Length is required (the upload is bounded before it is read)",
    413: "The upload is larger than the limits (GALLERY_UPLOAD_MAX_BYTES, GALLERY_UPLOAD_MAX_FILES)",
    422: "The request does not validate (`errors` lists the fields), or a recipe cannot be applied: "
         "`detail` says why",
    429: "Too many requests from this user in the window: `Retry-After` says when to try again",
    503: "The store or the catalog cannot be reached: try again after `Retry-After` seconds",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for the error statuses ``codes``, each :class:`ErrorBody`."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        out[code] = {"model": ErrorBody, "description": ERRORS[code]}
        if code in (429, 503):
            out[code]["headers"] = RETRY_AFTER
    return out


# Every route needs a logged-in user with read access (api.create_app's dependency); those that read
# the catalog or the store can meet the environment's failure (503).
READ = (401, 403)
BACKEND = (*READ, 503)


# --- the listing and the detail (views.summary, views.detail) -------------------------------------

class Trashed(Model):
    at: str = Field(description="When it was moved to the trash (ISO, UTC)")
    by: str = Field(description="Who moved it")


class ImageSummary(Model):
    """One image of the grid."""

    sha256: str
    width: int | None
    height: int | None
    format: str | None = Field(description="JPEG, PNG, WEBP, ... as Pillow names it")
    status: Literal["raw", "processed", "quarantined"] | None
    keywords: list[str]
    labels: list[str] = Field(description="The image's top three labels, best first")
    retrieved_at: str | None
    thumb_url: str | None = Field(description="The gallery's thumbnail (versioned URL), once processed")
    title: str | None
    description: str | None
    tags: list[str]
    trashed: Trashed | None = Field(description="Set while the image is in the trash")


class ImagePage(Model):
    items: list[ImageSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last one")
    count: int = Field(description="Images matching the filters, all pages")


class Facet(Model):
    name: str
    count: int


class Facets(Model):
    keywords: list[Facet]
    labels: list[Facet]
    sources: list[Facet]
    formats: list[Facet]
    statuses: list[Facet]
    tags: list[Facet]


class RunRef(Model):
    """A DAG run, linked to its page in Airflow when its DAG is known."""

    run_id: str
    dag_id: str | None = Field(description="The run's DAG, as recorded with it (None in records older than that: "
                                           "the run is then shown without a link)")
    airflow_url: str | None = Field(description="Airflow's page of the run: <base>/dags/<dag_id>/runs/<run_id>, "
                                                "when its DAG is known")


class Quarantine(Model):
    reason: str | None
    stage: str | None = Field(description="retrieve or process")
    at: str | None
    kind: str | None = Field(description="image (its own fault) or unexpected (after too many attempts); "
                                         "null in quarantines older than kinds")
    attempts: int | None
    release: str | None = Field(description="The pipeline's release that decided it")
    run_id: str | None
    run: RunRef | None


class FailedOutput(Model):
    """A recipe's output that failed for the image (the recipe's fault): its other outputs stand."""

    reason: str | None
    operation: str | None = Field(description="The operation that failed")
    at: str | None
    run_id: str | None
    version: int | None = Field(description="The recipe's version that failed")
    run: RunRef | None


class Attempts(Model):
    """Unexpected failures still tried again by later runs (quarantined after GALLERY_MAX_ATTEMPTS)."""

    count: int | None
    reason: str | None
    at: str | None
    runs: list[RunRef]


class Source(Model):
    """Where the image came from (one entry per source that found it)."""

    source: str | None = Field(description="bing, site, urls, folder, inbox, ...")
    uri: str | None
    page_url: str | None
    keyword: str | None
    licence: str | None
    licence_url: str | None
    creator: str | None
    retrieved_at: str | None
    uploaded_by: str | None = Field(description="The Airflow user who uploaded it (uploads only)")
    dag_id: str | None


class Gps(BaseModel):
    model_config = ConfigDict(extra="allow")

    lat: float
    lon: float
    map_url: str | None = Field(None, description="The place on OpenStreetMap")


class Exif(BaseModel):
    """What the EXIF block says (each key only when it holds a usable value)."""

    model_config = ConfigDict(extra="allow")  # records of older feature versions may carry more

    camera: str | None = None
    lens: str | None = None
    exposure_time: float | None = Field(None, description="Seconds")
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = Field(None, description="Millimetres")
    taken_at: str | None = None
    gps: Gps | None = None


class Label(Model):
    name: str | None
    score: float | None = Field(description="0 to 1")
    source: str | None = Field(description="The labeller (efficientnet-lite0, rekognition, none)")


class Faces(Model):
    count: int | None
    boxes: list[list[float]] = Field(description="Each face as [x, y, width, height], fractions of the image")


class Features(Model):
    exif: Exif
    labels: list[Label]
    label_source: str | None
    faces: Faces
    dominant_colors: list[str] = Field(description="Up to five colours as #rrggbb, most frequent first")
    brightness: float | None = Field(description="Mean grey level, 0 to 255")
    contrast: float | None = Field(description="Standard deviation of the grey levels")
    blur: float | None = Field(description="Variance of the Laplacian: low means blurry")
    phash: str | None = Field(description="Perceptual hash (hex)")
    version: int | None = Field(description="The feature extraction's version")


class Output(Model):
    """A recipe's output of the image."""

    url: str = Field(description="The output's bytes (versioned URL)")
    width: int | None
    height: int | None
    bytes: int | None
    format: str | None
    version: int | None = Field(description="The recipe's version that made it")
    seconds: float | None
    timings: dict[str, float] = Field(description="Seconds per step: decode, each operation, encode")
    processed_at: str | None
    quality: int | None = Field(description="The encoder's quality used")


class NearDuplicate(Model):
    sha256: str
    thumb_url: str | None


class HistoryEntry(BaseModel):
    """A change made by a person (who, what, when)."""

    model_config = ConfigDict(extra="allow")  # the catalog's entry, as it recorded it

    action: str = Field(description="edit, tag, untag, trash, restore")
    at: str | None = None
    by: str | None = None
    changes: dict[str, Any] = Field(default_factory=dict, description="The fields changed and their new values")


class ImageDetail(ImageSummary):
    """An image's page: everything the catalog knows, with its files' URLs."""

    bytes: int | None
    last_seen_at: str | None
    quarantine: Quarantine | None
    failures: dict[str, FailedOutput] = Field(description="Failed outputs by recipe")
    attempts: Attempts | None
    run_ids: list[RunRef] = Field(description="The runs that retrieved it")
    sources: list[Source]
    features: Features | None = Field(description="Null until processed")
    outputs: dict[str, Output] = Field(description="Outputs by recipe")
    duplicate_of: str | None = Field(description="The first image of its near-duplicate group, if not itself")
    near_duplicates: list[NearDuplicate]
    raw_url: str | None = Field(description="The original's bytes, while the store keeps it")
    history: list[HistoryEntry]


# --- similar images -------------------------------------------------------------------------------

class SimilarImage(ImageSummary):
    score: float = Field(description="Cosine similarity of the embeddings, -1 to 1")


class SimilarImages(Model):
    items: list[SimilarImage] = Field(description="Best first")
    available: bool = Field(description="False where this installation cannot search: the embedding model's runtime "
                                        "(onnxruntime) or the index's (faiss-cpu), base dependencies, is missing "
                                        "(a platform without their wheels, a broken install); `reason` says so")
    embedding: bool = Field(description="The image (or the uploaded picture) has an embedding to search with")
    reason: str | None = Field(description="Why there are no items, when it is not for lack of similar images")


# --- metrics, operations, recipes ----------------------------------------------------------------

class DailyMetrics(BaseModel):
    """A day's metrics document, as the analytics wrote it (headline, by source and keyword,
    distributions, processing, labels, failures)."""

    model_config = ConfigDict(extra="allow")

    day: str = Field(description="YYYY-MM-DD")


class OperationParam(Model):
    name: str
    kind: Literal["number", "integer", "boolean", "select", "color", "text", "box"]
    default: Any = Field(description="The value when the recipe leaves it out")
    title: str
    description: str | None
    required: bool
    nullable: bool
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: list[Any] | None = None


class OperationInfo(Model):
    name: str
    title: str
    description: str
    colour: bool = Field(description="Needs colour input")
    params: list[OperationParam]


class OperationFamily(Model):
    name: str
    title: str
    operations: list[OperationInfo]


class Operations(Model):
    families: list[OperationFamily]


class RecipeItem(Model):
    name: str
    description: str
    version: int
    gallery_thumb: bool = Field(description="The gallery's thumbnail recipe (GALLERY_GALLERY_THUMB)")
    origin: Literal["file", "saved"]
    operations: list[Any] = Field(description="As in the recipe's YAML: a name or a one-key mapping {name: params}")
    output: dict[str, Any] = Field(description="The output's format, quality, ...")
    yaml: str
    saved_by: str | None
    saved_at: str | None


class RecipeCheck(Model):
    yaml: str = Field(description="The recipe as YAML")
    errors: list[str] = Field(description="Empty when the recipe is valid")


class SavedRecipe(Model):
    name: str
    version: int
    yaml: str


# --- managing, archives, uploads -------------------------------------------------------------------

class BulkResult(Model):
    changed: int = Field(description="Images that changed (those already so are not counted)")


class Archive(Model):
    url: str = Field(description="Where to download it (GET)")
    name: str = Field(description="A file name to save it under")
    images: int
    bytes: int


class UploadedFile(Model):
    name: str = Field(description="The file's name as sent")
    status: Literal["accepted", "refused"]
    reason: str | None = Field(description="Why it was refused")
    sha256: str | None = Field(description="The sha256 of its bytes: the id its image will have in the gallery")


class InboxEvent(Model):
    """The inbox's Asset event an upload records, which schedules ``gallery_inbox`` at once."""

    recorded: bool = Field(description="True: recorded, gallery_inbox is scheduled at once; false: the inbox's "
                                       "watcher finds the files on its next poll (`reason` says why)")
    id: int | None = Field(description="The event's id in Airflow (GET /api/uploads/progress?event= follows its runs)")
    timestamp: str | None = Field(description="When it was recorded (ISO, UTC)")
    reason: str | None = Field(description="Why it was not recorded")


class Uploads(Model):
    files: list[UploadedFile]
    accepted: int
    refused: int
    event: InboxEvent | None = Field(description="The inbox's Asset event for the accepted files (null when none "
                                                 "was accepted)")


class UploadedImage(Model):
    sha256: str
    status: Literal["inbox", "raw", "processed", "quarantined"] = Field(
        description="inbox: not in the gallery yet (waiting for gallery_inbox); raw: in the gallery, waiting for "
                    "gallery_process; processed or quarantined: done")
    thumb_url: str | None = Field(description="The gallery's thumbnail (versioned URL), once processed")
    reason: str | None = Field(description="Why it was quarantined")


class RunState(Model):
    dag_id: str
    run_id: str
    state: str = Field(description="Airflow's state of the run: queued, running, success, failed")
    airflow_url: str = Field(description="Airflow's page of the run")


class UploadProgress(Model):
    images: list[UploadedImage] = Field(description="In the order asked")
    runs: list[RunState] = Field(description="The runs the upload's event started: gallery_inbox's, then the "
                                             "gallery_process runs that followed them (empty without an event)")
    done: bool = Field(description="Every image processed or quarantined, and every run answered ended: nothing "
                                   "more will change")
