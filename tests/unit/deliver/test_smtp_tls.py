"""SMTP over STARTTLS and implicit TLS against a local aiosmtpd with a certificate made for the test:
verified against the configured CA bundle, refused with a clear error otherwise, never downgraded."""

from __future__ import annotations

import socket
import ssl
from types import SimpleNamespace

import pytest

from image_pipeline.deliver.mail import SmtpMailer, TlsNotVerified, compose
from support.tls import make_server_cert


class Inbox:
    """aiosmtpd handler: keeps the messages and whether each came over TLS, and every AUTH tried."""

    def __init__(self):
        self.messages, self.tls, self.auth_attempts = [], [], 0

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return "250 OK"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    return SimpleNamespace(good=make_server_cert(folder, tag="good"), other=make_server_cert(folder, tag="other"),
                           wrong_host=make_server_cert(folder, names=("mail.example.org",), tag="wronghost"))


@pytest.fixture
def smtp_tls():
    """Start aiosmtpd on loopback: mode ``starttls`` (required before MAIL), ``implicit`` or ``plain``."""
    from aiosmtpd.controller import Controller

    started = []

    def start(cert, mode):
        inbox = Inbox()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]

        def authenticator(server, session, envelope, mechanism, auth_data):
            from aiosmtpd.smtp import AuthResult

            inbox.auth_attempts += 1
            return AuthResult(success=True)

        kwargs = dict(hostname="127.0.0.1", port=port, authenticator=authenticator, auth_require_tls=True)
        if mode == "starttls":
            kwargs.update(tls_context=cert.server_context(), require_starttls=True)
        elif mode == "implicit":
            kwargs.update(ssl_context=cert.server_context())
        controller = Controller(inbox, **kwargs)
        controller.start()
        started.append(controller)
        return inbox, port

    yield start
    for controller in started:
        controller.stop()


def message():
    return compose(sender="pipeline@localhost", recipient="someone@example.com", subject="tls", body="hello",
                   delivery_id="d" * 64)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_starttls_verified_against_the_ca_bundle_delivers_over_tls(certs, smtp_tls, host):
    inbox, port = smtp_tls(certs.good, "starttls")
    mailer = SmtpMailer(host=host, port=port, starttls=True, ca_bundle=str(certs.good.ca_file),
                        user="pipeline", password="s3cret", timeout=10)
    assert mailer.send(message()) == f"smtp://{host}:{port}"
    assert len(inbox.messages) == 1 and inbox.tls == [True] and inbox.auth_attempts == 1


def test_implicit_tls_verified_against_the_ca_bundle_delivers(certs, smtp_tls):
    inbox, port = smtp_tls(certs.good, "implicit")
    SmtpMailer(host="localhost", port=port, use_ssl=True, ca_bundle=str(certs.good.ca_file), timeout=10).send(message())
    assert len(inbox.messages) == 1 and inbox.tls == [True]


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
@pytest.mark.parametrize("case", ["other CA", "system trust", "wrong host name"])
def test_a_certificate_that_does_not_verify_is_refused_before_anything_is_sent(certs, smtp_tls, mode, case):
    cert = certs.wrong_host if case == "wrong host name" else certs.good
    inbox, port = smtp_tls(cert, mode)
    ca_bundle = {"other CA": certs.other.ca_file, "system trust": None, "wrong host name": certs.wrong_host.ca_file}[case]
    mailer = SmtpMailer(host="localhost", port=port, use_ssl=mode == "implicit", starttls=mode == "starttls",
                        ca_bundle=str(ca_bundle) if ca_bundle else None, user="pipeline", password="s3cret", timeout=10)
    with pytest.raises(TlsNotVerified, match="TLS not verified against") as refused:
        mailer.send(message())
    assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)
    assert ("the CA bundle" in str(refused.value)) == (ca_bundle is not None)
    assert inbox.messages == [] and inbox.auth_attempts == 0  # neither the password nor the message left


def test_a_server_without_starttls_is_not_used_in_plain_text(certs, smtp_tls):
    inbox, port = smtp_tls(certs.good, "plain")
    mailer = SmtpMailer(host="127.0.0.1", port=port, starttls=True, ca_bundle=str(certs.good.ca_file), timeout=10)
    with pytest.raises(TlsNotVerified, match="STARTTLS"):
        mailer.send(message())
    assert inbox.messages == []


def test_an_unreadable_ca_bundle_is_a_clear_error(tmp_path):
    with pytest.raises(TlsNotVerified, match="CA bundle .* cannot be read"):
        SmtpMailer(host="127.0.0.1", port=1, starttls=True, ca_bundle=str(tmp_path / "missing.pem")).send(message())


def test_the_connection_extra_and_the_setting_name_the_ca_bundle(monkeypatch):
    from image_pipeline.airflow_adapter.hooks import smtp_mailer
    from image_pipeline.settings import Settings

    def conn(**extra):
        return SimpleNamespace(host="mail.example.com", port=587, login="u", password="p", extra_dejson=extra)

    cfg = Settings(email={"smtp_ca_bundle": "/etc/pipeline/ca.pem"})
    assert smtp_mailer(conn(disable_ssl=True), cfg).ca_bundle == "/etc/pipeline/ca.pem"
    assert smtp_mailer(conn(disable_ssl=True, ca_bundle="/conn/ca.pem"), cfg).ca_bundle == "/conn/ca.pem"
    assert smtp_mailer(conn(disable_ssl=True), Settings()).ca_bundle is None  # the system's trust store
    monkeypatch.setenv("GALLERY_SMTP_CA_BUNDLE", "/env/ca.pem")
    assert Settings.from_env().email.smtp_ca_bundle == "/env/ca.pem"
