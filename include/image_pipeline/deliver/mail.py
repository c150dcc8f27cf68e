"""Email: composing a delivery message and sending it by SMTP, an HTTPS email API or into the outbox.

Every channel tells the caller the moment after which the message may have been delivered (the
``commit`` callback), so the delivery ledger can record it first:

- SMTP: just before the end-of-data terminator (``<CRLF>.<CRLF>``). A server delivers nothing
  before it reads the terminator (RFC 5321 4.1.1.4), so a crash before that point is safe to retry.
- HTTPS email API (Resend-compatible): just before the POST. The request carries the delivery id
  as its ``Idempotency-Key``, so repeating it within the API's idempotency window sends nothing twice.
- outbox: just before the atomic write of ``outbox/<delivery id>.eml``; the file is the proof.

A failure the channel knows was refused (an SMTP error reply, an API error status) raises
:class:`NotDelivered`: nothing was sent and the caller may retry.
"""

from __future__ import annotations

import base64
import smtplib
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from typing import Callable

from image_pipeline.core import keys
from image_pipeline.core.storage import ObjectStore
from image_pipeline.core.errors import InvalidRequest

MESSAGE_ID_DOMAIN = "image-pipeline.local"


class InvalidAddress(InvalidRequest):
    """An email address the pipeline refuses to send to."""


class NotDelivered(RuntimeError):
    """The channel refused the message (or never received it whole): nothing was sent, retrying is safe."""


class TlsNotVerified(NotDelivered):
    """The SMTP server's TLS could not be verified (certificate, host name, or no STARTTLS offered):
    nothing was sent, not even the login; the pipeline never falls back to an unverified or plain channel."""


def validate_address(value: str) -> str:
    """Return a single, plain ``user@domain`` address, or raise :class:`InvalidAddress`."""
    if not isinstance(value, str) or any(c in value for c in "\r\n,;<>\"'") or value != value.strip():
        raise InvalidAddress(f"invalid email address: {value!r}")
    # email's parser words for a text that is not an addr-spec: HeaderParseError (no local part, two @, an
    # empty label), ValueError (the header registry's checks: a bad local part, non-ASCII, control
    # characters), IndexError (nothing after the @: "a@", or an empty text).
    try:
        address = Address(addr_spec=value)
    except (HeaderParseError, ValueError, IndexError) as exc:  # not an address: the request's fault
        raise InvalidAddress(f"invalid email address: {value!r} ({exc})") from None
    if not address.username or "." not in address.domain and address.domain != "localhost":
        raise InvalidAddress(f"invalid email address: {value!r}")
    return address.addr_spec


def validate_sender(value: str) -> str:
    """A ``From`` value: ``Name <user@domain>`` or a plain address, on one line."""
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise InvalidAddress(f"invalid sender: {value!r}")
    validate_address(parseaddr(value)[1])
    return value


def one_line(text: str, limit: int = 200) -> str:
    """A header value from free text: whitespace (newlines included) collapsed, bounded length."""
    return " ".join(str(text).split())[:limit]


def message_id(delivery_id: str) -> str:
    """Fixed for a delivery: a resend of the same delivery carries the same Message-ID."""
    return f"<{delivery_id[:40]}@{MESSAGE_ID_DOMAIN}>"


def compose(
    *, sender: str, recipient: str, subject: str, body: str, delivery_id: str,
    attachment: tuple[str, bytes] | None = None, date: str | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = validate_sender(sender)
    msg["To"] = validate_address(recipient)
    msg["Subject"] = one_line(subject)
    msg["Date"] = date or formatdate(localtime=False)
    msg["Message-ID"] = message_id(delivery_id)
    msg["X-Image-Pipeline-Delivery"] = delivery_id
    msg.set_content(body)
    if attachment is not None:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="zip", filename=name)
    return msg


def _no_commit() -> None:
    pass


class Mailer(ABC):
    channel: str = "?"

    @abstractmethod
    def send(self, msg: EmailMessage, commit: Callable[[], None] = _no_commit) -> str:
        """Send ``msg``; call ``commit()`` right before the point after which it may have been
        delivered. Returns where it went (an outbox URL, ``smtp://host:port``, the API's id)."""

    @abstractmethod
    def after_crash(self, msg: EmailMessage, committed_at: str) -> str:
        """A previous attempt died after ``commit()`` and before it learnt the outcome: ``"sent"``
        (the channel can tell it arrived), ``"resend"`` (sending again cannot duplicate it) or
        ``"uncertain"`` (the channel cannot tell: do not send again)."""


class OutboxMailer(Mailer):
    """The embedded default: each message is an ``.eml`` file in the store's outbox zone."""

    channel = "outbox"

    def __init__(self, store: ObjectStore):
        self.store = store

    def send(self, msg: EmailMessage, commit: Callable[[], None] = _no_commit) -> str:
        key = keys.outbox_key(msg["X-Image-Pipeline-Delivery"])
        commit()
        self.store.put_bytes(key, bytes(msg), "message/rfc822")  # atomic: there whole, or not at all
        return self.store.url.rstrip("/") + "/" + key

    def after_crash(self, msg: EmailMessage, committed_at: str) -> str:
        return "sent" if self.store.exists(keys.outbox_key(msg["X-Image-Pipeline-Delivery"])) else "resend"


class _CommitSMTPMixin:
    """``smtplib``'s DATA, with a hook between the message's bytes and the end-of-data terminator."""

    commit: Callable[[], None] = staticmethod(_no_commit)

    def data(self, msg):  # same protocol steps as smtplib.SMTP.data
        self.putcmd("data")
        code, repl = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, repl)
        if isinstance(msg, str):
            msg = smtplib._fix_eols(msg).encode("ascii")
        q = smtplib._quote_periods(msg)
        if q[-2:] != smtplib.bCRLF:
            q = q + smtplib.bCRLF
        self.send(q)
        self.commit()  # the server delivers nothing until it reads the terminator below
        self.send(b"." + smtplib.bCRLF)
        return self.getreply()


class _SMTP(_CommitSMTPMixin, smtplib.SMTP):
    pass


class _SMTP_SSL(_CommitSMTPMixin, smtplib.SMTP_SSL):
    pass


@dataclass
class SmtpMailer(Mailer):
    """SMTP with optional implicit TLS or STARTTLS and login (from the ``smtp_default`` connection).

    TLS is always verified: the server's certificate against ``ca_bundle`` (a PEM file; empty: the
    system's trust store) and its host name. A certificate that does not verify, or a server that does
    not offer STARTTLS when it is asked for, raises :class:`TlsNotVerified` before any credential or
    message byte is sent: there is no fallback to plain text."""

    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    use_ssl: bool = False
    starttls: bool = False
    timeout: float = 30.0
    ca_bundle: str | None = None
    channel = "smtp"

    def tls_context(self) -> ssl.SSLContext:
        try:  # create_default_context: CERT_REQUIRED and check_hostname, TLS 1.2 at least
            return ssl.create_default_context(cafile=self.ca_bundle or None)
        except (OSError, ssl.SSLError) as exc:
            raise TlsNotVerified(f"SMTP CA bundle {self.ca_bundle!r} cannot be read: {exc}") from exc

    def _refused_tls(self, exc: Exception) -> TlsNotVerified:
        trust = f"the CA bundle {self.ca_bundle}" if self.ca_bundle else "the system's trust store"
        return TlsNotVerified(
            f"SMTP server {self.host}:{self.port}: TLS not verified against {trust} ({exc}); nothing was sent. "
            "Give the server's CA in the connection's extra 'ca_bundle' or GALLERY_SMTP_CA_BUNDLE.")

    def _connect(self, context: ssl.SSLContext) -> smtplib.SMTP:
        try:
            if self.use_ssl:
                return _SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
            return _SMTP(self.host, self.port, timeout=self.timeout)
        except ssl.SSLError as exc:  # implicit TLS: the handshake is part of connecting
            raise self._refused_tls(exc) from exc

    def send(self, msg: EmailMessage, commit: Callable[[], None] = _no_commit) -> str:
        context = self.tls_context()
        client = self._connect(context)
        client.commit = commit  # type: ignore[attr-defined]
        try:
            if self.starttls and not self.use_ssl:
                try:
                    client.starttls(context=context)
                except (ssl.SSLError, smtplib.SMTPNotSupportedError) as exc:
                    raise self._refused_tls(exc) from exc
            if self.user and self.password:
                client.login(self.user, self.password)
            try:
                client.send_message(msg)
            except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
                # The server answered with an error code (421 busy, 5xx refused...): it took nothing.
                raise NotDelivered(f"SMTP server {self.host}:{self.port} refused the message: {exc}") from exc
        finally:
            try:  # the message is delivered (or refused) already: a failing QUIT changes nothing
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
        return f"smtp://{self.host}:{self.port}"

    def after_crash(self, msg: EmailMessage, committed_at: str) -> str:
        return "uncertain"  # SMTP cannot be asked whether a message arrived


@dataclass
class HttpApiMailer(Mailer):
    """A Resend-compatible HTTPS email API: ``POST {url}`` with a JSON message and a bearer key.

    The delivery id is the ``Idempotency-Key``: within ``idempotency_window`` a repeated request
    is answered from the first one and sends nothing, so a crashed attempt may be repeated then."""

    url: str
    api_key: str
    timeout: float = 30.0
    idempotency_window: timedelta = timedelta(hours=24)
    channel = "api"

    @staticmethod
    def payload(msg: EmailMessage) -> dict:
        attachments = [
            {"filename": part.get_filename(), "content": base64.b64encode(part.get_content()).decode("ascii")}
            for part in msg.iter_attachments()
        ]
        body = msg.get_body(("plain",))
        return {
            "from": msg["From"], "to": [msg["To"]], "subject": msg["Subject"],
            "text": body.get_content() if body is not None else "",
            "headers": {"Message-ID": msg["Message-ID"], "X-Image-Pipeline-Delivery": msg["X-Image-Pipeline-Delivery"]},
            **({"attachments": attachments} if attachments else {}),
        }

    def send(self, msg: EmailMessage, commit: Callable[[], None] = _no_commit) -> str:
        import requests

        payload = self.payload(msg)
        headers = {"Authorization": f"Bearer {self.api_key}", "Idempotency-Key": msg["X-Image-Pipeline-Delivery"],
                   "User-Agent": "image-pipeline"}
        commit()
        response = requests.post(self.url, json=payload, headers=headers, timeout=self.timeout)
        if response.status_code >= 400:  # the API answered: it did not accept the message
            raise NotDelivered(f"email API {self.url} answered {response.status_code}: {response.text[:300]}")
        # The API accepted the message (2xx): an answer without a readable id loses only the id.
        try:
            answer = response.json()
        except requests.exceptions.JSONDecodeError:  # an answer that is not JSON: the message was accepted
            answer = None
        sent_id = answer.get("id", "") if isinstance(answer, dict) else ""
        return f"{self.url}#{sent_id}"

    def after_crash(self, msg: EmailMessage, committed_at: str) -> str:
        age = datetime.now(timezone.utc) - datetime.fromisoformat(committed_at)
        return "resend" if age < self.idempotency_window else "uncertain"
