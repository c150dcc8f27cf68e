"""Object store: one interface, a local-folder and an S3 implementation.

Keys are ``/``-separated paths inside zones (see :mod:`image_pipeline.core.keys`). Every write is
atomic: local files are written to a temporary name and renamed, S3 objects are only visible once
their PUT (or multipart upload) completes, so a task killed mid-write never leaves half an object.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote, urlparse

from image_pipeline.core.errors import Unavailable


# mkstemp creates files readable by their owner only; objects get the usual umask-based mode.
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


class ObjectNotFound(KeyError):
    """The key does not exist in the store."""


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid object key: {key!r}")
    return key


class ObjectStore(ABC):
    """What the pipeline needs from a blob store."""

    url: str

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None: ...

    @abstractmethod
    def put_file(self, key: str, path: str | os.PathLike[str], content_type: str | None = None) -> None:
        """Upload a local file, streaming (never read whole into memory)."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        """Copy an object to a local file, streaming."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under ``prefix``, sorted."""

    @abstractmethod
    def list_modified(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        """(key, last modified, UTC) of the objects under ``prefix``, sorted by key."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; removing a missing key is not an error."""

    @abstractmethod
    def link(self, key: str, expires_in: int) -> str:
        """A URL a person can open to fetch the object (a presigned URL on S3)."""

    def put_if_absent(self, key: str, data: bytes, content_type: str | None = None) -> bool:
        """Content-addressed write: skip the upload when the key already exists."""
        if self.exists(key):
            return False
        self.put_bytes(key, data, content_type)
        return True


class LocalStore(ObjectStore):
    """Objects as files under a root folder."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.url = self.root.as_uri()

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def _atomic_target(self, key: str) -> tuple[Path, int, str]:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.fchmod(fd, FILE_MODE)
        return target, fd, tmp

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        target, fd, tmp = self._atomic_target(key)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: str | os.PathLike[str], content_type: str | None = None) -> None:
        target, fd, tmp = self._atomic_target(key)
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_bytes(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        try:
            shutil.copyfile(self.path(key), path)
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def list(self, prefix: str = "") -> Iterator[str]:
        keys = []
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return iter(sorted(keys))

    def list_modified(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        for key in self.list(prefix):
            try:
                mtime = self.path(key).stat().st_mtime
            except FileNotFoundError:
                continue  # removed since it was listed
            yield key, datetime.fromtimestamp(mtime, timezone.utc)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def link(self, key: str, expires_in: int) -> str:
        if not self.exists(key):
            raise ObjectNotFound(key)
        return self.path(key).as_uri()


class S3Store(ObjectStore):
    """Objects in an S3 (or S3-compatible) bucket, under an optional prefix."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + _check_key(key)

    @contextmanager
    def _classified(self, action: str, key: str) -> Iterator[None]:
        """The store's boundary: a missing object is :class:`ObjectNotFound`; every other failure of
        S3 or of the connection to it (after botocore's own retries: an error status, a refused or
        timed-out connection, an upload or download that failed) is the environment's fault,
        :class:`~image_pipeline.core.errors.Unavailable`. botocore is imported only once a client exists."""
        from boto3.exceptions import S3TransferFailedError, S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"404", "NoSuchKey", "NotFound"}:
                raise ObjectNotFound(key) from exc
            raise Unavailable(f"the object store could not {action} {key}: {code or exc}") from exc
        except (BotoCoreError, S3UploadFailedError, S3TransferFailedError) as exc:
            raise Unavailable(f"the object store could not {action} {key}: {exc}") from exc

    def put_bytes(self, key: str, data: bytes, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        with self._classified("write", key):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)

    def put_file(self, key: str, path: str | os.PathLike[str], content_type: str | None = None) -> None:
        # upload_file switches to a multipart upload for large files; S3 shows the object only
        # once the upload completes, so a killed task leaves nothing half-written.
        extra = {"ContentType": content_type} if content_type else None
        with self._classified("write", key):
            self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=extra)

    def get_bytes(self, key: str) -> bytes:
        with self._classified("read", key):
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def download(self, key: str, path: str | os.PathLike[str]) -> None:
        with self._classified("read", key):
            self.client.download_file(self.bucket, self._key(key), str(path))

    def _head(self, key: str) -> dict | None:
        try:
            with self._classified("look up", key):
                return self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ObjectNotFound:
            return None

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise ObjectNotFound(key)
        return int(head["ContentLength"])

    def list(self, prefix: str = "") -> Iterator[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(obj["Key"][len(self.prefix):] for obj in page.get("Contents", []))
        return iter(sorted(keys))

    def list_modified(self, prefix: str = "") -> Iterator[tuple[str, datetime]]:
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            found.extend((obj["Key"][len(self.prefix):], obj["LastModified"].astimezone(timezone.utc))
                         for obj in page.get("Contents", []))
        return iter(sorted(found))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def link(self, key: str, expires_in: int) -> str:
        if not self.exists(key):
            raise ObjectNotFound(key)
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_in
        )


@dataclass(frozen=True)
class S3Retry:
    """How the S3 client rides out a flaky object store: botocore's ``standard`` (or ``adaptive``:
    also slows itself down on throttling) retry mode with ``max_attempts`` in all, and socket timeouts
    so a stalled connection is dropped and retried instead of hanging the task.

    Every request the stores make is safe to repeat: PUTs of a key replace the object whole (keys are
    content-addressed or fixed per output), GETs, HEADs, LISTs and DELETEs change nothing twice, and a
    multipart upload shows its object only once completed."""

    mode: str = "standard"
    max_attempts: int = 10
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.mode not in {"standard", "adaptive"}:
            raise ValueError(f"S3 retry mode must be 'standard' or 'adaptive', got {self.mode!r}")
        if self.max_attempts < 1 or self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ValueError("S3 max attempts and timeouts must be positive")

    def botocore_config(self) -> Any:
        from botocore.config import Config

        return Config(retries={"mode": self.mode, "max_attempts": self.max_attempts},
                      connect_timeout=self.connect_timeout, read_timeout=self.read_timeout)


def open_store(url: str, s3_client_factory: Any = None, retry: S3Retry | None = None) -> ObjectStore:
    """The store a URL names: ``file:///path`` or ``s3://bucket/prefix``.

    ``s3_client_factory`` returns a boto3 S3 client; the Airflow adapter passes one built from the
    ``aws_default`` connection (with ``retry``'s configuration), other callers may leave it out to use
    boto3's own configuration (endpoint, credentials) with ``retry``'s retries and timeouts.
    """
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStore(unquote(parsed.path))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"S3 store URL needs a bucket: {url!r}")
        if s3_client_factory is None:
            import boto3

            config = (retry or S3Retry()).botocore_config()
            s3_client_factory = lambda: boto3.client("s3", config=config)  # noqa: E731
        return S3Store(s3_client_factory(), parsed.netloc, parsed.path)
    raise ValueError(f"unsupported store URL: {url!r}")

