"""The delivery ledger: an archive (:mod:`.archive`) emailed exactly once.

Exactly once. The delivery ledger in the catalog is keyed by (selection, recipient, occasion): the
occasion is a run's data interval (subscriptions), a request (``image_request``) or, by default,
the archive's content (re-running the same request with nothing new sends nothing). An entry goes

    pending  -> committing -> sent
       ^            |
       +--(refused)-+         (a crash after ``committing``: the channel decides, see mail.py)

``pending`` is written before anything is sent, with the message's fixed Message-ID and Date;
``committing`` just before the channel's point of no return; ``sent`` when the channel confirmed.
A failure before the point of no return, or a refusal, puts the entry back to ``pending`` and
raises (Airflow retries with backoff). A retry that finds ``committing`` asks the channel: the
outbox looks for its file, the HTTPS API repeats the request under the same Idempotency-Key, SMTP
cannot know and marks the entry ``uncertain`` instead of sending twice (:class:`DeliveryUncertain`).

What remains: a worker that dies after ``committing`` was written and before the SMTP server
read the end-of-data terminator (microseconds: two ``send`` calls on an open socket), or a
connection lost between the terminator and the server's reply, leaves an ``uncertain`` entry for a
message that may not have been delivered; an operator resolves it (:func:`resolve_uncertain`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Protocol

from image_pipeline.core.catalog import utcnow_iso
from image_pipeline.core.catalog.roles import DeliveryLedger, Images
from image_pipeline.core.redact import redact_url
from image_pipeline.core.selection import Selection
from image_pipeline.deliver.archive import ensure_archive
from image_pipeline.deliver.mail import Mailer, NotDelivered, compose, validate_address
from image_pipeline.deliver.message import message_context, render_message
from image_pipeline.core.storage import ObjectStore
from image_pipeline.core.errors import InvalidRequest

log = logging.getLogger(__name__)


class DeliveryCatalog(Images, DeliveryLedger, Protocol):
    """What a delivery reads (the selection's images) and records (its ledger entry)."""


class DeliveryUncertain(RuntimeError):
    """A previous attempt may have delivered the message and the channel cannot tell: not resent."""


def delivery_id(selection: Selection, recipe: str, recipient: str, occasion: str) -> str:
    return hashlib.sha256(f"{selection.key(recipe=recipe)}|{recipient.lower()}|{occasion}".encode()).hexdigest()


def deliver(
    store: ObjectStore, catalog: DeliveryCatalog, mailer: Mailer, selection: Selection, recipe: Any, *, recipient: str,
    sender: str, attach_max_bytes: int, link_expiry_seconds: int, occasion: str | None = None,
    templates_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Archive the selection and email it exactly once; returns the delivery ledger entry.

    ``occasion`` names what this delivery is for (``interval:<start>/<end>``, ``request:<run>``);
    by default the archive's content, so the same images are not sent twice to the same person.
    ``recipe`` is the recipe object whose outputs are sent (the caller resolves its name)."""
    recipient = validate_address(recipient)
    archive = ensure_archive(store, catalog, selection, recipe)
    chosen = {"recipe": recipe.name, **asdict(selection)}
    if archive is None:
        return {"status": "empty", "selection": chosen, "recipient": recipient}
    occasion = occasion or f"content:{archive.content_id}"
    did = delivery_id(selection, recipe.name, recipient, occasion)
    entry = catalog.get_delivery(did)
    if entry and entry["status"] == "sent":
        return entry  # exactly once: a retry or a re-run after a send does not send again
    if entry and entry["status"] == "uncertain":
        raise DeliveryUncertain(f"delivery {did} may have been sent already; not sending it again")
    link = None  # the archive's link for this attempt; the catalog keeps it without its signature
    if entry is None or entry["status"] == "pending":
        attach = archive.bytes <= attach_max_bytes
        link = None if attach else store.link(archive.key, link_expiry_seconds)
        expires = datetime.now(timezone.utc) + timedelta(seconds=link_expiry_seconds)
        entry = {
            **(entry or {}), "status": "pending", "recipient": recipient, "selection": chosen,
            "occasion": occasion, "channel": mailer.channel, "archive_key": archive.key,
            "archive_bytes": archive.bytes, "images": archive.images, "attached": attach,
            "attachment_name": f"images-{archive.content_id[:12]}.zip",
            "link": redact_url(link) if link else None,
            "link_expires_at": None if attach or not store.url.startswith("s3://") else expires.isoformat(),
            # Fixed once, before the first attempt: every attempt sends the very same message.
            "date": (entry or {}).get("date") or format_datetime(datetime.now(timezone.utc)),
            "created_at": (entry or {}).get("created_at") or utcnow_iso(),
            "attempts": (entry or {}).get("attempts", 0),
        }
        entry.pop("id", None)
        catalog.put_delivery(did, entry)
    if link is None and not entry["attached"]:  # a retry: a fresh link (the recorded one has no signature)
        link = store.link(archive.key, link_expiry_seconds)
    subject, body = render_message(message_context({**entry, "link": link}, archive, selection, recipe.name),
                                   templates_dir)
    msg = compose(
        sender=sender, recipient=recipient, subject=subject, body=body, delivery_id=did, date=entry["date"],
        attachment=(entry["attachment_name"], store.get_bytes(archive.key)) if entry["attached"] else None,
    )
    if entry["status"] == "committing":  # an attempt died after its point of no return
        verdict = mailer.after_crash(msg, entry["committed_at"])
        log.warning("delivery %s: a previous attempt died while sending; the %s channel says %s",
                    did, mailer.channel, verdict)
        if verdict == "sent":
            return _record(catalog, did, entry, "sent", sent_at=utcnow_iso(), location="confirmed after a crash")
        if verdict == "uncertain":
            _record(catalog, did, entry, "uncertain")
            raise DeliveryUncertain(
                f"delivery {did}: a previous attempt died after handing the message to {mailer.channel}; "
                "it may have arrived, so it is not sent again (`gallery resolve-delivery`: docs/reliability.md)")
    sent = _send(catalog, mailer, msg, did, entry)
    return {**sent, "link": link} if link else sent  # the caller's copy carries the working link


def _record(catalog: DeliveryLedger, did: str, entry: dict[str, Any], status: str, **changes: Any) -> dict[str, Any]:
    entry.update(status=status, **changes)
    entry.pop("id", None)
    catalog.put_delivery(did, entry)
    return {**entry, "id": did}


def _send(catalog: DeliveryLedger, mailer: Mailer, msg: Any, did: str, entry: dict[str, Any]) -> dict[str, Any]:
    committed: list[bool] = []

    def commit() -> None:
        _record(catalog, did, entry, "committing", committed_at=utcnow_iso(), attempts=entry.get("attempts", 0) + 1)
        committed.append(True)

    try:
        location = mailer.send(msg, commit)
    except NotDelivered as exc:
        _record(catalog, did, entry, "pending", last_error=str(exc)[:500])
        raise
    except BaseException as exc:
        if not committed:  # failed before the point of no return: nothing was sent
            _record(catalog, did, entry, "pending", last_error=f"{type(exc).__name__}: {exc}"[:500])
        raise  # after it: the entry stays "committing" and the retry asks the channel
    return _record(catalog, did, entry, "sent", sent_at=utcnow_iso(), location=location)


def resolve_uncertain(catalog: DeliveryLedger, did: str, outcome: str) -> dict[str, Any]:
    """An operator's decision on an ``uncertain`` delivery, after checking the mail server's log or
    asking the recipient: ``sent`` (it arrived) or ``resend`` (the next run or retry sends it)."""
    entry = catalog.get_delivery(did)
    if entry is None or entry["status"] != "uncertain":
        raise InvalidRequest(f"no uncertain delivery {did!r}")
    if outcome == "sent":
        return _record(catalog, did, entry, "sent", sent_at=utcnow_iso(), location="confirmed by an operator")
    if outcome == "resend":
        return _record(catalog, did, entry, "pending", last_error="uncertain; an operator asked to send again")
    raise InvalidRequest("outcome must be 'sent' or 'resend'")
