"""A safe HTTP fetcher for images from the open web, used by every retrieval source.

Guards, each refusal carrying a reason the retrieval summary counts:

- ``address``: loopback, private, link-local (cloud metadata at 169.254.169.254), multicast,
  reserved and other non-global addresses are refused after DNS resolution, and again on the
  address actually connected to (so DNS rebinding between the check and the connect does not get
  through), at every redirect; hosts in the allow list (``GALLERY_ALLOWED_HOSTS``) are exempt;
- ``redirects``: more than ``max_redirects`` hops; ``scheme``: anything but http(s);
- ``timeout``: connect and read timeouts, and a deadline for the whole download (a server
  trickling bytes cannot hold a worker);
- ``too_large``: more than ``max_bytes``, from Content-Length or counted while streaming;
- ``not_an_image``: content that is not an image by its bytes (extension and Content-Type are
  ignored); ``too_many_pixels``: dimensions over ``max_pixels``, read from the header before any
  pixel is decoded (decompression bombs);
- ``http_<status>``: an error status after retries; 429 and 5xx are retried with backoff,
  honouring ``Retry-After`` up to ``max_retry_after`` seconds.

:meth:`SafeFetcher.fetch` takes images; :meth:`SafeFetcher.fetch_document` takes what a search API
answers (JSON): the same guards, limits and retries, without the image checks, with optional
headers and a form body (a POST, for a token endpoint).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

from image_pipeline.core.errors import BadImage
from image_pipeline.core.probe import ImageInfo, inspect_image

RETRY_STATUSES = {429, 500, 502, 503, 504}


class Refused(Exception):
    """A URL or response the fetcher will not take; ``reason`` is a short, countable code."""

    def __init__(self, reason: str, detail: str, retry_after: float | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after  # seconds the server asked us to wait (429/5xx)


@dataclass(frozen=True)
class FetchPolicy:
    allowed_hosts: frozenset[str] = frozenset()
    connect_timeout: float = 5.0
    read_timeout: float = 15.0
    deadline: float = 60.0
    max_bytes: int = 50 * 1024 * 1024
    max_redirects: int = 5
    max_pixels: int = 100_000_000
    retries: int = 2
    backoff: float = 1.0
    max_retry_after: float = 30.0
    per_host: int = 4
    user_agent: str = "image-pipeline/0.1 (+https://github.com/)"

    @classmethod
    def from_hosts(cls, allowed: str, **kw: Any) -> "FetchPolicy":
        hosts = frozenset(h.strip().lower() for h in allowed.split(",") if h.strip())
        return cls(allowed_hosts=hosts, **kw)


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_host(host: str, port: int, policy: FetchPolicy,
               resolve: Callable[..., list] = socket.getaddrinfo) -> None:
    """Refuse a host unless allowed or every address it resolves to is public."""
    if host.lower() in policy.allowed_hosts:
        return
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused("dns", f"{host}: {exc}") from None
    for info in infos:
        address = info[4][0]
        if not is_public_address(address):
            raise Refused("address", f"{host} resolves to non-public address {address}")


def check_url(url: str, policy: FetchPolicy, resolve: Callable[..., list] = socket.getaddrinfo) -> None:
    # urllib's ValueError is its one word for a URL whose authority does not parse: an unclosed or
    # invalid IPv6 bracket (urlsplit), a port that is no number or out of range (.port).
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:  # urllib's word for an authority that does not parse: refused
        raise Refused("scheme", f"not a URL one can fetch: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise Refused("scheme", f"not an http(s) URL: {url!r}")
    check_host(hostname, port, policy, resolve)


def _guarded_connection(base: type, policy: FetchPolicy) -> type:
    """A urllib3 connection class that checks the peer it actually connected to."""

    class Guarded(base):  # type: ignore[misc, valid-type]
        def _new_conn(self):  # noqa: ANN202 - urllib3's signature
            sock = super()._new_conn()
            if self.host.lower() not in policy.allowed_hosts:
                peer = sock.getpeername()[0]
                if not is_public_address(peer):
                    sock.close()
                    raise Refused("address", f"{self.host} connected to non-public address {peer}")
            return sock

    return Guarded


def guarded_session(policy: FetchPolicy):
    """A requests session whose every connection (pages, images, redirects) passes the address guard."""
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    http_pool = type("GuardedHTTPPool", (HTTPConnectionPool,),
                     {"ConnectionCls": _guarded_connection(HTTPConnection, policy)})
    https_pool = type("GuardedHTTPSPool", (HTTPSConnectionPool,),
                      {"ConnectionCls": _guarded_connection(HTTPSConnection, policy)})

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    session = requests.Session()
    session.trust_env = False  # a proxy from the environment would hide the real destination
    session.max_redirects = policy.max_redirects
    session.headers["User-Agent"] = policy.user_agent
    for prefix in ("http://", "https://"):
        session.mount(prefix, GuardedAdapter())
    return session


class HostLimiter:
    """At most ``limit`` concurrent downloads per host, across the threads of one process."""

    def __init__(self, limit: int):
        self._limit = limit
        self._lock = threading.Lock()
        self._semaphores: dict[str, threading.Semaphore] = defaultdict(lambda: threading.Semaphore(self._limit))

    def __call__(self, host: str) -> threading.Semaphore:
        with self._lock:
            return self._semaphores[host.lower()]


def _retry_after(value: str, fallback: float) -> float:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    try:
        return max(0.0, float(value))
    except ValueError:  # float()'s word for a text that is no number: an HTTP date, then
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):  # email.utils' words for a text that is no date: the fallback wait
            return fallback


@dataclass(frozen=True)
class Fetched:
    url: str  # the URL asked for
    final_url: str  # after redirects
    data: bytes
    info: ImageInfo


class SafeFetcher:
    """Fetch one image URL under a :class:`FetchPolicy`; thread-safe, one session per fetcher."""

    def __init__(self, policy: FetchPolicy, session: Any = None, sleep: Callable[[float], None] = time.sleep,
                 resolve: Callable[..., list] = socket.getaddrinfo):
        self.policy = policy
        self.session = session or guarded_session(policy)
        self.sleep = sleep
        self.resolve = resolve
        self.limiter = HostLimiter(policy.per_host)

    def fetch(self, url: str) -> Fetched:
        """The image at ``url``, or :class:`Refused` with the reason."""
        return self._with_retries(lambda: self._fetch_once(url))

    def fetch_document(self, url: str, *, headers: dict[str, str] | None = None,
                       form: dict[str, str] | None = None) -> bytes:
        """The body of an API response (``form``: POSTed, form-encoded, never redirected), under
        the same address guard, size and time limits and retries (429/5xx, ``Retry-After``) as
        images, but not checked as an image; or :class:`Refused` with the reason."""
        return self._with_retries(lambda: self._fetch_once(url, headers=headers, form=form, image=False))

    def _with_retries(self, attempt_once: Callable[[], Any]) -> Any:
        policy, attempt = self.policy, 0
        while True:
            try:
                return attempt_once()
            except Refused as exc:
                status = int(exc.reason[5:]) if exc.reason.startswith("http_") else 0
                if status not in RETRY_STATUSES or attempt >= policy.retries:
                    raise
                wait = exc.retry_after if exc.retry_after is not None else policy.backoff * 2 ** attempt
                if wait > policy.max_retry_after:
                    raise Refused(exc.reason, f"{exc.detail}; Retry-After {wait:.0f}s is too long") from None
                attempt += 1
                self.sleep(wait)

    def _fetch_once(self, url: str, *, headers: dict[str, str] | None = None, form: dict[str, str] | None = None,
                    image: bool = True) -> Any:
        import requests

        policy = self.policy
        started = time.monotonic()
        current = url
        for _hop in range(policy.max_redirects + 1):
            check_url(current, policy, self.resolve)
            host = urlsplit(current).hostname or ""
            with self.limiter(host):
                try:
                    # A Refused raised by the guarded connection is not a requests error: it propagates.
                    response = self.session.request("POST" if form is not None else "GET", current, data=form,
                                                    headers=headers, stream=True, allow_redirects=False,
                                                    timeout=(policy.connect_timeout, policy.read_timeout))
                except requests.exceptions.Timeout as exc:
                    raise Refused("timeout", f"{current}: {exc}") from None
                except requests.exceptions.RequestException as exc:
                    raise Refused("connection", f"{current}: {exc}") from None
                # requests prepares a redirect's next request even when it does not follow it, parsing the
                # Location with urllib, whose ValueError (an unclosed IPv6 bracket...) it lets through
                except ValueError as exc:  # urllib's word for a Location that does not parse: the server's
                    raise Refused("scheme", f"{current} redirects to something that is not a URL: {exc}") from None
                with response:
                    if response.is_redirect and form is None:
                        current = urljoin(current, response.headers["Location"])  # parsed by requests already
                        continue
                    if response.status_code != 200:
                        wait = None
                        if response.status_code in RETRY_STATUSES and response.headers.get("Retry-After"):
                            wait = _retry_after(response.headers["Retry-After"], policy.backoff)
                        raise Refused(f"http_{response.status_code}", current, retry_after=wait)
                    data = self._read_capped(response, current, started)
            return Fetched(url, current, data, self._check_image(data, current)) if image else data
        raise Refused("redirects", f"more than {policy.max_redirects} redirects from {url}")

    def _read_capped(self, response: Any, url: str, started: float) -> bytes:
        import requests
        import urllib3

        policy = self.policy
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > policy.max_bytes:
            raise Refused("too_large", f"{url}: Content-Length {declared} > {policy.max_bytes}")
        chunks, size = [], 0
        try:
            # read1 returns after a single receive, so the deadline is checked between receives: a
            # server trickling bytes keeps every read under the read timeout, not the whole download.
            while chunk := response.raw.read1(64 * 1024, decode_content=True):
                size += len(chunk)
                if size > policy.max_bytes:
                    raise Refused("too_large", f"{url}: more than {policy.max_bytes} bytes")
                if time.monotonic() - started > policy.deadline:
                    raise Refused("timeout", f"{url}: download took over {policy.deadline:.0f}s")
                chunks.append(chunk)
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            reason = "timeout" if "timed out" in str(exc).lower() else "connection"
            raise Refused(reason, f"{url}: {exc}") from None
        return b"".join(chunks)

    def _check_image(self, data: bytes, url: str) -> ImageInfo:
        try:
            info = inspect_image(data)
        except BadImage as exc:
            reason = "too_many_pixels" if "too many pixels" in str(exc) else "not_an_image"
            raise Refused(reason, f"{url}: {exc}") from None
        if info.width * info.height > self.policy.max_pixels:
            raise Refused("too_many_pixels", f"{url}: {info.width}x{info.height} > {self.policy.max_pixels} pixels")
        return info

