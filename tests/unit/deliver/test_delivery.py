"""Archives, email composition and exactly-once delivery (outbox and real SMTP on loopback)."""

from __future__ import annotations

import base64
import csv
import email
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import zipfile
from datetime import datetime, timezone
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.selection import Selection
from image_pipeline.deliver import DeliveryRequest, DeliveryUncertain, deliver, ensure_archive, resolve_uncertain
from image_pipeline.process.recipes import all_recipes, get_recipe
from image_pipeline.deliver.mail import (HttpApiMailer, InvalidAddress, NotDelivered, OutboxMailer, SmtpMailer, compose, message_id,
                                 validate_address)
from image_pipeline.process import plan_batches, process_batch
from image_pipeline.retrieve import ingest_folder
from image_pipeline.core.storage import LocalStore
from image_pipeline.core.errors import InvalidRequest


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
    return deliver(store, catalog, mailer, Selection(keyword="demo"), get_recipe("half_gray"), recipient=recipient,
                   sender="Pipeline <p@example.com>", attach_max_bytes=attach_max_bytes, link_expiry_seconds=60)


def test_archive_matches_manifest_and_is_reproducible(gallery):
    store, catalog = gallery
    archive = ensure_archive(store, catalog, Selection(keyword="demo"), get_recipe("half_gray"))
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
    rebuilt = ensure_archive(store, catalog, Selection(keyword="demo"), get_recipe("half_gray"))
    assert rebuilt == archive and store.get_bytes(archive.key) == data


def test_the_trash_is_not_delivered(gallery):
    store, catalog = gallery
    processed = [d["sha256"] for d in catalog.find(status="processed")]
    catalog.trash_image(processed[0], "ann")
    assert ensure_archive(store, catalog, Selection(keyword="demo"), get_recipe("half_gray")).images == 5
    chosen = Selection(images=tuple(processed[:2]))
    assert ensure_archive(store, catalog, chosen, get_recipe("half_gray")).images == 1


def test_empty_selection_sends_nothing(gallery):
    store, catalog = gallery
    result = deliver(store, catalog, OutboxMailer(store), Selection(keyword="nothing"), get_recipe("half_gray"), recipient="a@example.com",
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


def test_smtp_421_on_the_first_attempt_is_retried_and_arrives_once(gallery, smtp_server):
    inbox = Inbox(refuse_first=1)
    host, port = smtp_server(inbox)
    with pytest.raises(NotDelivered, match="421"):
        send(gallery, SmtpMailer(host=host, port=port))  # the task fails; Airflow retries it
    (pending,) = gallery[1].deliveries()
    assert pending["status"] == "pending" and "421" in pending["last_error"]
    entry = send(gallery, SmtpMailer(host=host, port=port))
    assert len(inbox.messages) == 1 and entry["status"] == "sent" and entry["attempts"] == 2
    msg = email.message_from_bytes(inbox.messages[0].content, policy=policy.default)
    assert msg["Message-ID"] == message_id(entry["id"]) and msg["Date"] == pending["date"]


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
    msg = compose(sender="p@example.com", recipient="a@example.com", subject="s\nBcc: x@evil.com", body="b",
                  delivery_id="d" * 64)
    assert msg["X-Image-Pipeline-Delivery"] == "d" * 64 and msg["Message-ID"] == f"<{'d' * 40}@image-pipeline.local>"
    assert msg["Subject"] == "s Bcc: x@evil.com" and msg["Bcc"] is None  # a newline cannot start a header
    with pytest.raises(InvalidAddress):
        compose(sender="p@example.com\nBcc: x@evil.com", recipient="a@example.com", subject="s", body="b",
                delivery_id="d")


def test_smtp_delivery_of_a_large_archive_carries_a_link(gallery, smtp_server):
    inbox = Inbox()
    host, port = smtp_server(inbox)
    entry = send(gallery, SmtpMailer(host=host, port=port), attach_max_bytes=100)
    send(gallery, SmtpMailer(host=host, port=port))  # another attachment limit, same delivery: not resent
    assert len(inbox.messages) == 1
    msg = email.message_from_bytes(inbox.messages[0].content, policy=policy.default)
    assert not list(msg.iter_attachments())
    text = msg.get_body().get_content()
    assert entry["link"] in text and entry["link"].startswith("file://")
    with open(entry["link"][len("file://"):], "rb") as linked:
        assert linked.read() == gallery[0].get_bytes(entry["archive_key"])
    # The template lists what is inside.
    with zipfile.ZipFile(io.BytesIO(gallery[0].get_bytes(entry["archive_key"]))) as zf:
        images = [name for name in zf.namelist() if name.startswith("images/")]
    assert len(images) == 6 and all(name in text for name in images)


DELIVER_SCRIPT = """
import sys
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.selection import Selection
from image_pipeline.deliver import deliver
from image_pipeline.process.recipes import get_recipe
from image_pipeline.deliver.mail import HttpApiMailer, SmtpMailer
from image_pipeline.core.storage import LocalStore

store_root, catalog_path, channel, target = sys.argv[1:5]
mailer = SmtpMailer(host="127.0.0.1", port=int(target)) if channel == "smtp" else HttpApiMailer(target, "test-key")
with SqliteCatalog(catalog_path) as catalog:
    deliver(LocalStore(store_root), catalog, mailer, Selection(keyword="demo"), get_recipe("half_gray"), recipient="you@example.com",
            sender="Pipeline <p@example.com>", attach_max_bytes=10_000_000, link_expiry_seconds=60)
"""


def killed_attempt(tmp_path, channel, target, victim):
    """Run one delivery attempt in a worker process that ``victim`` (the server's handler) kills."""
    proc = subprocess.Popen([sys.executable, "-c", DELIVER_SCRIPT, str(tmp_path / "store"),
                             str(tmp_path / "catalog.sqlite3"), channel, str(target)])
    victim.pid = proc.pid
    assert proc.wait(timeout=120) == -signal.SIGKILL  # the worker died mid-delivery


class KillingInbox(Inbox):
    """Kills the sending worker at a given point: when it names the recipient (before the message
    is handed over) or once the whole message is received (after the send, before the ledger knows)."""

    def __init__(self, at):
        super().__init__()
        self.at, self.pid = at, None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        envelope.rcpt_tos.append(address)
        if self.at == "rcpt" and self.pid:
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        if self.at == "data" and self.pid:
            os.kill(self.pid, signal.SIGKILL)
            self.pid = None
        return "250 OK"


def test_smtp_worker_killed_after_the_send_does_not_send_twice(gallery, smtp_server, tmp_path):
    inbox = KillingInbox(at="data")
    host, port = smtp_server(inbox)
    killed_attempt(tmp_path, "smtp", port, inbox)
    assert len(inbox.messages) == 1
    (entry,) = gallery[1].deliveries()
    assert entry["status"] == "committing"
    with pytest.raises(DeliveryUncertain):  # the retry: SMTP cannot tell, so it does not send again
        send(gallery, SmtpMailer(host=host, port=port))
    with pytest.raises(DeliveryUncertain):  # nor does any later retry or re-run
        send(gallery, SmtpMailer(host=host, port=port))
    (entry,) = gallery[1].deliveries()
    assert len(inbox.messages) == 1 and entry["status"] == "uncertain"
    # An operator who finds the message in the server's log records it as sent: later runs are quiet.
    resolve_uncertain(gallery[1], entry["id"], "sent")
    assert send(gallery, SmtpMailer(host=host, port=port))["status"] == "sent" and len(inbox.messages) == 1


def test_smtp_worker_killed_before_the_message_is_handed_over_sends_on_retry(gallery, smtp_server, tmp_path):
    inbox = KillingInbox(at="rcpt")
    host, port = smtp_server(inbox)
    killed_attempt(tmp_path, "smtp", port, inbox)
    assert inbox.messages == [] and gallery[1].deliveries()[0]["status"] == "pending"
    entry = send(gallery, SmtpMailer(host=host, port=port))
    send(gallery, SmtpMailer(host=host, port=port))
    assert len(inbox.messages) == 1 and entry["status"] == "sent"


class EmailApiStub(BaseHTTPRequestHandler):
    """A Resend-compatible ``POST /emails``: records every request; delivers one email per
    Idempotency-Key (a repeated key is answered from the first request, as Resend does)."""

    def do_POST(self):
        api = self.server
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        api.requests.append({"path": self.path, "headers": dict(self.headers), "json": payload})
        if self.headers.get("Authorization") != "Bearer test-key":
            return self.reply(401, {"message": "bad key"})
        if api.refuse:
            api.refuse -= 1
            return self.reply(503, {"message": "try again later"})
        key = self.headers["Idempotency-Key"]
        if key not in api.delivered:
            api.delivered[key] = payload
        if api.kill_pid:  # the worker dies before it reads the answer
            os.kill(api.kill_pid, signal.SIGKILL)
            api.kill_pid = None
            return
        self.reply(200, {"id": f"email-{key[:8]}"})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def email_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), EmailApiStub)
    server.requests, server.delivered, server.refuse, server.kill_pid = [], {}, 0, None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/emails"
    yield server
    server.shutdown()
    server.server_close()


def test_email_api_delivery_arrives_once_with_the_attachment(gallery, email_api):
    mailer = HttpApiMailer(email_api.url, "test-key")
    entry = send(gallery, mailer)
    send(gallery, mailer)
    assert len(email_api.requests) == 1 and len(email_api.delivered) == 1
    (request,) = email_api.requests
    assert request["path"] == "/emails" and request["headers"]["Idempotency-Key"] == entry["id"]
    payload = request["json"]
    assert payload["to"] == ["you@example.com"] and payload["from"] == "Pipeline <p@example.com>"
    assert payload["headers"]["Message-ID"] == message_id(entry["id"])
    (attachment,) = payload["attachments"]
    assert base64.b64decode(attachment["content"]) == gallery[0].get_bytes(entry["archive_key"])
    assert attachment["filename"].endswith(".zip") and entry["location"].endswith(f"#email-{entry['id'][:8]}")


def test_email_api_link_instead_of_a_large_attachment(gallery, email_api):
    entry = send(gallery, HttpApiMailer(email_api.url, "test-key"), attach_max_bytes=100)
    (payload,) = email_api.delivered.values()
    assert "attachments" not in payload and entry["link"] in payload["text"]


def test_email_api_refusal_on_the_first_attempt_is_retried(gallery, email_api):
    email_api.refuse = 1
    with pytest.raises(NotDelivered, match="503"):
        send(gallery, HttpApiMailer(email_api.url, "test-key"))
    assert gallery[1].deliveries()[0]["status"] == "pending" and email_api.delivered == {}
    send(gallery, HttpApiMailer(email_api.url, "test-key"))
    assert len(email_api.requests) == 2 and len(email_api.delivered) == 1


def test_email_api_worker_killed_after_the_send_does_not_send_twice(gallery, email_api, tmp_path):
    class Victim:
        def __setattr__(self, name, pid):
            email_api.kill_pid = pid

    killed_attempt(tmp_path, "api", email_api.url, Victim())
    assert len(email_api.delivered) == 1 and gallery[1].deliveries()[0]["status"] == "committing"
    entry = send(gallery, HttpApiMailer(email_api.url, "test-key"))  # the retry repeats the same request...
    keys = [r["headers"]["Idempotency-Key"] for r in email_api.requests]
    assert keys == [entry["id"], entry["id"]]
    assert len(email_api.delivered) == 1 and entry["status"] == "sent"  # ...which the API does not send again


def test_email_api_wrong_key_is_not_delivered(gallery, email_api):
    with pytest.raises(NotDelivered, match="401"):
        send(gallery, HttpApiMailer(email_api.url, "wrong"))
    assert email_api.delivered == {}


def test_selection_by_label_and_date_range(gallery):
    store, catalog = gallery
    docs = catalog.find(has_output="half_gray")
    for doc in docs[:2]:  # labels as processing's feature extraction records them
        catalog.record_processing(doc["sha256"], {}, features={"labels": [{"name": "tabby cat", "score": 0.8}]})
    archive = ensure_archive(store, catalog, Selection(label="tabby cat"), get_recipe("half_gray"))
    assert archive.images == 2 and {r["labels"] for r in archive.rows} == {"tabby cat"}
    start = min(d["retrieved_at"] for d in docs)
    assert ensure_archive(store, catalog, Selection(since=start[:10], until="2999-01-01"), get_recipe("half_gray")).images == 6
    assert ensure_archive(store, catalog, Selection(since="2000-01-01", until=start), get_recipe("half_gray")) is None
    with pytest.raises(InvalidRequest):
        Selection(since="2026-01-02", until="2026-01-01")
    with pytest.raises(InvalidRequest):
        DeliveryRequest.for_selection({"recipe": "half_gray"})  # selects everything: refused


def test_archive_names_are_sanitised_and_unique():
    from image_pipeline.deliver import manifest_rows

    def doc(sha, uri):
        return {"sha256": sha, "sources": [{"uri": uri}], "keywords": ["k"], "format": "JPEG",
                "outputs": {"half_gray": {"width": 1, "height": 1, "bytes": 1, "version": 1}}}

    rows = manifest_rows([doc("a" * 64, "http://h/../../etc/pass wd.jpg"), doc("b" * 64, "http://h/Ünïcode%2F..%2Fx.png"),
                          doc("c" * 64, ""), doc("a" * 10 + "d" * 54, "http://h/PASS-WD.jpg")], get_recipe("half_gray"))
    names = [r["file"] for r in rows]
    assert names[0] == "images/pass-wd-aaaaaaaaaa.jpg" and names[2] == "images/image-cccccccccc.jpg"
    assert all(n.startswith("images/") and ".." not in n[7:].split(".")[0] and "/" not in n[7:] for n in names)
    assert len({n.lower() for n in names}) == 4


def test_subscriptions_file_is_validated(tmp_path):
    from image_pipeline.deliver import load_subscriptions

    path = tmp_path / "subs.yaml"
    path.write_text("subscriptions:\n  - {name: cats_weekly, recipient: a@example.com, cron: '0 7 * * MON',"
                    " selection: {keyword: cats}}\n")
    (sub,) = load_subscriptions(path, all_recipes())
    assert sub.for_interval(datetime(2026, 1, 5, tzinfo=timezone.utc), datetime(2026, 1, 12, tzinfo=timezone.utc)
                            ).describe() == "recipe half_gray, keyword 'cats', retrieved 2026-01-05T00:00:00Z to 2026-01-12T00:00:00Z"
    for bad in ["{name: x, recipient: 'a@example.com\\nBcc: b@example.com', cron: '@daily', selection: {keyword: c}}",
                "{name: Bad-Name, recipient: a@example.com, cron: '@daily', selection: {keyword: c}}",
                "{name: x, recipient: a@example.com, cron: '@daily', selection: {recipe: sepia}}",
                "{name: x, recipient: a@example.com, cron: '@daily', selection: {keyword: c}, extra: 1}",
                "{name: x, recipient: a@example.com, cron: '@daily', selection: {keyword: c, since: '2026-01-01'}}"]:
        path.write_text(f"subscriptions:\n  - {bad}\n")
        with pytest.raises(InvalidRequest):
            load_subscriptions(path, all_recipes())
    assert load_subscriptions(tmp_path / "missing.yaml") == []
    path.write_text("subscriptions:\n  - {name: everything, recipient: a@example.com, cron: '@weekly', selection: {}}\n")
    assert load_subscriptions(path, all_recipes())[0].selection == {}  # a digest of every image the period brought


def test_smtp_login_as_the_connection_says(gallery):
    import smtplib

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def authenticator(server, session, envelope, mechanism, auth_data):
        given = [v.decode() if isinstance(v, bytes) else v for v in (auth_data.login, auth_data.password)]
        return AuthResult(success=given == ["pipeline", "s3cret"], handled=False)

    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            send(gallery, SmtpMailer(host="127.0.0.1", port=port, user="pipeline", password="wrong"))
        assert gallery[1].deliveries()[0]["status"] == "pending" and inbox.messages == []
        send(gallery, SmtpMailer(host="127.0.0.1", port=port, user="pipeline", password="s3cret"))
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
