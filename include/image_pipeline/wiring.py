"""The composition root: the one place that turns :class:`~image_pipeline.settings.Settings` into the
library's domain objects (object store, catalog, mailer, recipe book, per-image limits, fetch policy,
feature extractor). The command-line tools and the Airflow adapter both build through it; what
differs between them (Airflow connections or the tools' own configuration) comes in as factories.

The stages never import this module (nor each other): it imports them.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from image_pipeline.settings import Settings

Factory = Callable[[], Any]


def settings() -> Settings:
    """The settings the environment gives: the one place the pipeline reads ``GALLERY_*`` (the stages
    get the values they need from here, as arguments)."""
    return Settings.from_env()


def s3_retry(cfg: Settings):
    """The S3 client's retries and timeouts (``GALLERY_S3_RETRY_MODE``, ``GALLERY_S3_MAX_ATTEMPTS``...)."""
    from image_pipeline.core.storage import S3Retry

    return S3Retry(mode=cfg.store.s3_retry_mode, max_attempts=cfg.store.s3_max_attempts,
                   connect_timeout=float(cfg.store.s3_connect_timeout), read_timeout=float(cfg.store.s3_read_timeout))


def object_store(cfg: Settings, s3_client: Factory | None = None):
    """The store ``GALLERY_STORE_URL`` names; ``s3_client`` builds the boto3 client (else boto3's own
    configuration), which must carry :func:`s3_retry`'s configuration."""
    from image_pipeline.core.storage import open_store

    return open_store(cfg.store.store_url, s3_client, s3_retry(cfg))


def open_catalog(cfg: Settings, mongo_client: Factory | None = None):
    """The catalog ``GALLERY_CATALOG`` names, open (the caller closes it); ``mongo_client`` builds the
    pymongo client. Long-lived callers (the gallery's API) keep one; tasks use :func:`catalog`."""
    from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog

    if cfg.catalog.backend == "mongo":
        if mongo_client is None:
            raise ValueError("GALLERY_CATALOG=mongo needs a MongoDB client")
        client = mongo_client()
        return MongoCatalog(client[cfg.catalog.mongo_db], owns_client=client)
    return SqliteCatalog(cfg.catalog.sqlite_path, timeout=float(cfg.catalog.sqlite_timeout))


def mailer(cfg: Settings, store: Any, *, smtp: Factory | None = None, api: Factory | None = None,
           missing: tuple[type[BaseException], ...] = (LookupError,)):
    """The channel ``GALLERY_EMAIL`` selects: SMTP, the HTTPS email API or the outbox. ``smtp`` and
    ``api`` build a channel from its connection and raise one of ``missing`` when there is none;
    ``auto`` takes the first that exists, then the outbox. Without factories: the outbox."""
    from image_pipeline.deliver.mail import OutboxMailer

    if cfg.email.channel == "outbox":
        return OutboxMailer(store)
    if cfg.email.channel in ("auto", "smtp") and smtp is not None:
        try:
            return smtp()
        except missing:
            if cfg.email.channel == "smtp":
                raise
    if cfg.email.channel in ("auto", "api") and api is not None:
        try:
            return api()
        except missing:
            if cfg.email.channel == "api":
                raise
    return OutboxMailer(store)


def recipe_book(cfg: Settings, catalog: Any = None):
    """Every recipe: the shipped ones (``config/recipes``), then the user's (``GALLERY_RECIPES_DIR``),
    and, given the open ``catalog``, the ones saved from the gallery's editor (read at each use, so
    every worker sees a recipe saved anywhere). Without a catalog (parsing a DAG file): files only."""
    from image_pipeline.process.recipes import RecipeBook

    return RecipeBook(cfg.processing.recipe_folders(), catalog.saved_recipes if catalog is not None else None)


def processing_recipes(cfg: Settings, recipes: list[str] | tuple[str, ...]) -> list[str]:
    """The recipes a processing run produces: those asked for, plus the gallery's thumbnail recipe
    (``GALLERY_GALLERY_THUMB``) whatever they are, made in the same decode."""
    chosen = list(recipes)
    if cfg.processing.gallery_thumb and cfg.processing.gallery_thumb not in chosen:
        chosen.append(cfg.processing.gallery_thumb)
    return chosen


@contextmanager
def catalog(cfg: Settings, mongo_client: Factory | None = None) -> Iterator[Any]:
    """The catalog ``GALLERY_CATALOG`` names, closed on exit; ``mongo_client`` builds the pymongo client."""
    opened = open_catalog(cfg, mongo_client)
    try:
        yield opened
    finally:
        opened.close()


def all_recipes(cfg: Settings | None = None) -> dict[str, Any]:
    return recipe_book(cfg or settings()).all()


def get_recipe(name_or_path: str, cfg: Settings | None = None):
    return recipe_book(cfg or settings()).get(name_or_path)


def limits(cfg: Settings):
    """The engine's per-image limits (and the learned models' options, :func:`configure_models`: whoever
    runs the engine builds its limits here first)."""
    from image_pipeline.process.limits import Limits

    configure_models(cfg)
    return Limits(max_pixels=cfg.downloads.download_max_pixels, max_frames=cfg.processing.max_frames,
                  time_limit=float(cfg.processing.image_time_limit))


def configure_models(cfg: Settings) -> None:
    """The learned models' threads, remove_background's default method and whether style_transfer runs
    its network, for this process (the models' sessions are cached per process)."""
    from image_pipeline.process import models

    models.configure(models.ModelOptions(threads=cfg.models.model_threads,
                                         background_method=cfg.models.background_method,
                                         style_transfer=cfg.models.style_transfer))


def fetch_policy(cfg: Settings):
    """The safe fetcher's limits."""
    from image_pipeline.retrieve.fetch import FetchPolicy

    return FetchPolicy.from_hosts(
        cfg.downloads.allowed_hosts, max_bytes=cfg.downloads.download_max_bytes,
        max_pixels=cfg.downloads.download_max_pixels, deadline=float(cfg.downloads.download_timeout),
        per_host=cfg.downloads.downloads_per_host,
    )


def features_version(cfg: Settings) -> int | None:
    """The version of the features processing records, None when features are off."""
    from image_pipeline.process.features import FEATURES_VERSION

    return FEATURES_VERSION if cfg.models.features else None


def feature_extraction(cfg: Settings, rekognition_client: Factory | None = None) -> dict[str, Any]:
    """The feature extractor processing calls (keyword arguments of ``process_batch``), with its
    labeller, built once per process; ``rekognition_client`` builds the boto3 Rekognition client."""
    from image_pipeline.process.features import feature_extraction as extraction

    configure_models(cfg)
    return extraction(cfg.models, rekognition_client)
