"""Archives, email composition and exactly-once delivery (outbox and real SMTP on loopback)."""

from __future__ import annotations

import csv
import email
import io
import json
import socket
import zipfile
from email import policy

import pytest

from image_pipeline.catalog import SqliteCatalog
from image_pipeline.delivery import Selection, deliver, ensure_archive
from image_pipeline.mail import InvalidAddress, OutboxMailer, SmtpMailer, compose, validate_address
from image_pipeline.process import plan_batches, process_batch
from image_pipeline.retrieve import ingest_folder
from image_pipeline.storage import LocalStore


@pytest.fixture
def gallery(tmp_path, samples):
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        ingest_folder(store, catalog, samples, keyword="demo", run_id="r1")
        for batch in plan_batches(catalog, ["half_gray"], 100):
            process_batch(store, catalog, ["half_gray"], batch)
        yield store, catalog


def send(gallery, mailer, recipient="you@example.com", attach_max_bytes=10_000_000):
    store, catalog = gallery
    return deliver(store, catalog, mailer, Selection(keyword="demo"), recipient=recipient,
                   sender="Pipeline <p@example.com>", attach_max_bytes=attach_max_bytes, link_expiry_seconds=60)


def test_archive_matches_manifest_and_is_reproducible(gallery):
    store, catalog = gallery
    archive = ensure_archive(store, catalog, Selection(keyword="demo"))
    assert archive.images == 6
    data = store.get_bytes(archive.key)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        images = [i for i in zf.infolist() if i.filename.startswith("images/")]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in images)  # JPEG is not deflated again
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        assert [r["file"] for r in rows] == [i.filename for i in images]
        assert json.loads(zf.read("manifest.json")) == [
            {**r, "width": int(r["width"]), "height": int(r["height"]), "bytes": int(r["bytes"])} for r in rows]
        for row in rows:
            assert len(zf.read(row["file"])) == int(row["bytes"])
        assert "keyword 'demo'" in zf.read("README.txt").decode()
    store.delete(archive.key)
    rebuilt = ensure_archive(store, catalog, Selection(keyword="demo"))
    assert rebuilt == archive and store.get_bytes(archive.key) == data


def test_empty_selection_sends_nothing(gallery):
    store, catalog = gallery
    result = deliver(store, catalog, OutboxMailer(store), Selection(keyword="nothing"), recipient="a@example.com",
                     sender="p@example.com", attach_max_bytes=1, link_expiry_seconds=1)
    assert result["status"] == "empty" and not list(store.list("outbox/"))


def test_outbox_delivery_happens_once(gallery):
    store, _ = gallery
    first = send(gallery, OutboxMailer(store))
    second = send(gallery, OutboxMailer(store))
    assert first["status"] == "sent" and second["sent_at"] == first["sent_at"]
    (eml,) = list(store.list("outbox/"))
    msg = email.message_from_bytes(store.get_bytes(eml), policy=policy.default)
    assert msg["To"] == "you@example.com"
    (part,) = list(msg.iter_attachments())
    assert part.get_content() == store.get_bytes(first["archive_key"])


def test_large_archive_is_linked_not_attached(gallery):
    store, _ = gallery
    entry = send(gallery, OutboxMailer(store), attach_max_bytes=100)
    msg = email.message_from_bytes(store.get_bytes(next(store.list("outbox/"))), policy=policy.default)
    assert not list(msg.iter_attachments())
    assert entry["link"] in msg.get_body().get_content() and entry["attached"] is False


class Inbox:
    """aiosmtpd handler that keeps what it receives; can refuse the first attempts with 421."""

    def __init__(self, refuse_first=0):
        self.messages, self.refuse = [], refuse_first

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            self.refuse -= 1
            return "421 try again later"
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server():
    from aiosmtpd.controller import Controller

    started = []

    def start(handler):
        with socket.socket() as probe:  # a free port on loopback
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(handler, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return "127.0.0.1", port

    yield start
    for c in started:
        c.stop()


def test_smtp_delivery_arrives_once_with_the_attachment(gallery, smtp_server):
    inbox = Inbox()
    host, port = smtp_server(inbox)
    mailer = SmtpMailer(host=host, port=port)
    entry = send(gallery, mailer)
    send(gallery, mailer)  # a re-run: the ledger says it was sent
    assert len(inbox.messages) == 1
    msg = email.message_from_bytes(inbox.messages[0].content, policy=policy.default)
    assert inbox.messages[0].rcpt_tos == ["you@example.com"]
    (part,) = list(msg.iter_attachments())
    assert part.get_content() == gallery[0].get_bytes(entry["archive_key"])


def test_smtp_failure_before_sending_is_retried_and_not_recorded(gallery, smtp_server):
    import smtplib

    inbox = Inbox(refuse_first=1)
    host, port = smtp_server(inbox)
    with pytest.raises(smtplib.SMTPDataError):
        send(gallery, SmtpMailer(host=host, port=port))  # the task fails; Airflow retries it
    assert gallery[1].deliveries() == []
    send(gallery, SmtpMailer(host=host, port=port))
    assert len(inbox.messages) == 1 and gallery[1].deliveries()[0]["status"] == "sent"


@pytest.mark.parametrize("bad", ["", "no-at-sign", "a@b", "a@example.com\nBcc: x@evil.com",
                                 "a@example.com, b@example.com", "Name <a@example.com>", " a@example.com"])
def test_bad_recipients_are_refused(gallery, bad):
    with pytest.raises(InvalidAddress):
        validate_address(bad)
    with pytest.raises(InvalidAddress):
        send(gallery, OutboxMailer(gallery[0]), recipient=bad)
    assert not list(gallery[0].list("outbox/")) and not list(gallery[0].list("archives/"))


def test_good_recipients_pass():
    assert validate_address("first.last+tag@mail.example.org") == "first.last+tag@mail.example.org"
    assert validate_address("gallery@localhost") == "gallery@localhost"


def test_compose_headers():
    msg = compose(sender="p@example.com", recipient="a@example.com", subject="s", body="b", delivery_id="d" * 64)
    assert msg["X-Image-Pipeline-Delivery"] == "d" * 64 and "@image-pipeline.local>" in msg["Message-ID"]
