"""The library's backends from Airflow connections: the object store (``aws_default`` for S3), the
catalog (``mongo_default`` for MongoDB), the mailer (``smtp_default`` or the HTTPS email API's
connection), the Flickr API key and the feature extractor (Rekognition through ``aws_default``).
Provider hooks are imported inside the functions, so parsing a DAG file stays light.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.log import mask_secret

from image_pipeline import wiring
from image_pipeline.core import redact
from image_pipeline.core.catalog import Catalog
from image_pipeline.core.storage import ObjectStore
from image_pipeline.deliver.mail import HttpApiMailer, Mailer, SmtpMailer
from image_pipeline.settings import Settings

# Secrets the library obtains at run time (an API's token) go to Airflow's secrets masker, which blanks
# them in task logs as it does connections' passwords.
redact.register_masker(mask_secret)


def settings() -> Settings:
    return wiring.settings()


def _s3_client(cfg: Settings) -> Any:
    """S3 from the ``aws_default`` connection, with the pipeline's retries and timeouts (wiring.s3_retry)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=cfg.store.aws_conn_id, config=wiring.s3_retry(cfg).botocore_config()).get_conn()


def object_store(cfg: Settings | None = None) -> ObjectStore:
    cfg = cfg or settings()
    return wiring.object_store(cfg, lambda: _s3_client(cfg))


@contextmanager
def catalog(cfg: Settings | None = None) -> Iterator[Catalog]:
    cfg = cfg or settings()
    with wiring.catalog(cfg, lambda: mongo_client(cfg)) as opened:
        yield opened


def mongo_client(cfg: Settings) -> Any:
    """A pymongo client from the ``GALLERY_MONGO_CONN_ID`` connection."""
    from airflow.providers.mongo.hooks.mongo import MongoHook

    return MongoHook(mongo_conn_id=cfg.catalog.mongo_conn_id).get_conn()


def mailer(store: ObjectStore, cfg: Settings | None = None) -> Mailer:
    """The channel ``GALLERY_EMAIL`` selects: SMTP through its connection, the HTTPS email API
    through its HTTP connection, or the outbox; ``auto`` takes the first whose connection exists."""
    cfg = cfg or settings()
    return wiring.mailer(cfg, store, smtp=lambda: smtp_mailer(BaseHook.get_connection(cfg.email.smtp_conn_id), cfg),
                         api=lambda: email_api_mailer(BaseHook.get_connection(cfg.email.email_api_conn_id)),
                         missing=(AirflowNotFoundException,))


def smtp_mailer(conn: Any, cfg: Settings | None = None) -> SmtpMailer:
    """Same extras and defaults as the SMTP provider's connection form (SSL unless disabled), plus
    ``ca_bundle``: the PEM file the server's certificate is verified against (else
    ``GALLERY_SMTP_CA_BUNDLE``, else the system's trust store). Verification cannot be turned off."""
    extra = conn.extra_dejson
    cfg = cfg or settings()
    return SmtpMailer(
        host=conn.host or "localhost",
        port=int(conn.port or 25),
        user=conn.login or None,
        password=conn.password or None,
        use_ssl=not extra.get("disable_ssl", False),
        starttls=not extra.get("disable_tls", False),
        timeout=float(extra.get("timeout", 30)),
        ca_bundle=extra.get("ca_bundle") or cfg.email.smtp_ca_bundle or None,
    )


def email_api_mailer(conn: Any) -> HttpApiMailer:
    """A Resend-compatible API from an HTTP connection: host (``api.resend.com`` or a full URL),
    schema (``https`` by default), port, password = API key, extra ``endpoint`` (``/emails``)."""
    extra = conn.extra_dejson
    host = (conn.host or "").rstrip("/")
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}" + (f":{conn.port}" if conn.port else "")
    return HttpApiMailer(url=host + "/" + str(extra.get("endpoint", "/emails")).lstrip("/"),
                         api_key=conn.password or "", timeout=float(extra.get("timeout", 30)))


def features_version(cfg: Settings) -> int | None:
    """The version of the features processing records, None when features are off."""
    return wiring.features_version(cfg)


def feature_extraction(cfg: Settings) -> dict[str, Any]:
    """The feature extractor processing calls, with its labeler (built once per worker process);
    Rekognition's client comes from the ``aws_default`` connection."""
    def rekognition():
        from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

        return AwsBaseHook(aws_conn_id=cfg.store.aws_conn_id, client_type="rekognition").get_conn()

    return wiring.feature_extraction(cfg, rekognition)


def openverse_credentials(cfg: Settings) -> dict[str, str] | None:
    """Openverse's client id and secret: login and password of ``openverse_default``; none: anonymous."""
    try:
        conn = BaseHook.get_connection("openverse_default")
    except AirflowNotFoundException:
        return None
    return {"client_id": conn.login, "client_secret": conn.password or ""} if conn.login else None


def wikimedia_contact(cfg: Settings) -> str | None:
    """The contact (email or URL) Wikimedia's User-Agent policy asks for: login of ``wikimedia_default``."""
    try:
        return BaseHook.get_connection("wikimedia_default").login or None
    except AirflowNotFoundException:
        return None


def flickr_api_key(cfg: Settings) -> str:
    """The Flickr API key: the password of the Flickr connection."""
    try:
        return BaseHook.get_connection(cfg.downloads.flickr_conn_id).password or ""
    except AirflowNotFoundException:
        return ""  # the retrieval refuses the request with a message that names the connection


# What each source needs from a connection, by engine.
CREDENTIALS = {"flickr": flickr_api_key, "openverse": openverse_credentials, "wikimedia": wikimedia_contact}
