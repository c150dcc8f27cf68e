"""Email: composing a delivery message and sending it by SMTP or into the outbox zone."""

from __future__ import annotations

import smtplib
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from image_pipeline import keys
from image_pipeline.storage import ObjectStore


class InvalidAddress(ValueError):
    """An email address the pipeline refuses to send to."""


def validate_address(value: str) -> str:
    """Return a single, plain ``user@domain`` address, or raise :class:`InvalidAddress`."""
    if not isinstance(value, str) or any(c in value for c in "\r\n,;<>\"'") or value != value.strip():
        raise InvalidAddress(f"invalid email address: {value!r}")
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError) as exc:
        raise InvalidAddress(f"invalid email address: {value!r} ({exc})") from None
    if not address.username or "." not in address.domain and address.domain != "localhost":
        raise InvalidAddress(f"invalid email address: {value!r}")
    return address.addr_spec


def compose(
    *, sender: str, recipient: str, subject: str, body: str, delivery_id: str,
    attachment: tuple[str, bytes] | None = None,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = validate_address(recipient)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    # Derived from the delivery id: a receiver (or a test) can tell a resend of the same delivery.
    msg["Message-ID"] = make_msgid(idstring=delivery_id[:32], domain="image-pipeline.local")
    msg["X-Image-Pipeline-Delivery"] = delivery_id
    msg.set_content(body)
    if attachment is not None:
        name, data = attachment
        msg.add_attachment(data, maintype="application", subtype="zip", filename=name)
    return msg


class Mailer(ABC):
    @abstractmethod
    def send(self, msg: EmailMessage) -> str:
        """Send ``msg``; returns where it went (an outbox URL, or ``smtp://host:port``)."""


class OutboxMailer(Mailer):
    """The embedded default: each message is an ``.eml`` file in the store's outbox zone."""

    def __init__(self, store: ObjectStore):
        self.store = store

    def send(self, msg: EmailMessage) -> str:
        key = keys.outbox_key(msg["X-Image-Pipeline-Delivery"])
        self.store.put_bytes(key, bytes(msg), "message/rfc822")
        return self.store.url.rstrip("/") + "/" + key


@dataclass
class SmtpMailer(Mailer):
    """SMTP with optional implicit TLS or STARTTLS and login (from the ``smtp_default`` connection)."""

    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    use_ssl: bool = False
    starttls: bool = False
    timeout: float = 30.0

    def send(self, msg: EmailMessage) -> str:
        context = ssl.create_default_context()
        if self.use_ssl:
            client: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            if self.starttls and not self.use_ssl:
                client.starttls(context=context)
            if self.user and self.password:
                client.login(self.user, self.password)
            client.send_message(msg)
        return f"smtp://{self.host}:{self.port}"
