"""Secrets stay secret: a chain of runs that uses an SMTP connection's password, the Flickr API key
(it travels in Flickr's URLs), Openverse's OAuth client secret and the token it is given, and an S3
presigned URL; then the task logs, the Asset events' extras, the XComs, the catalog and every report,
manifest and message in the store are searched for each of them."""

from __future__ import annotations

import email
import json
import socket
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from urllib.parse import parse_qs, urlsplit

import pytest

from support.samples import make_samples

SMTP_PASSWORD = "smtp-pw-7f3a9c1e"
FLICKR_KEY = "flickrkey9b8a7c6d5e"
OPENVERSE_SECRET = "ov-client-secret-4d2e"
OPENVERSE_TOKEN = "ov-token-1c9f8e7d6b"


class SourceApis:
    """Flickr's and Openverse's APIs on loopback (each checks its credential) and the images they list."""

    def __init__(self, images):
        self.images, self.seen = images, []
        apis = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                ok = body.get("client_secret") == [OPENVERSE_SECRET]
                self.reply(200 if ok else 401, {"access_token": OPENVERSE_TOKEN, "expires_in": 3600} if ok else {})

            def do_GET(self):
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                base = f"http://127.0.0.1:{self.server.server_address[1]}"
                apis.seen.append(parts.path)
                if parts.path.startswith("/img/"):
                    return self.reply(200, (apis.images / parts.path[5:]).read_bytes(), "image/jpeg")
                names = sorted(p.name for p in apis.images.glob("sample-*"))
                if parts.path.startswith("/flickr"):
                    if query.get("api_key") != FLICKR_KEY:
                        return self.reply(200, {"stat": "fail", "message": "Invalid API Key"})
                    photos = [{"id": str(i), "owner": "someone", "license": "4", "url_o": f"{base}/img/{n}"}
                              for i, n in enumerate(names[:2])]
                    return self.reply(200, {"stat": "ok", "photos": {"page": 1, "pages": 1, "photo": photos}})
                if self.headers.get("Authorization") != f"Bearer {OPENVERSE_TOKEN}":
                    return self.reply(401, {"detail": "no token"})
                results = [{"url": f"{base}/img/{n}", "foreign_landing_url": f"{base}/page/{n}", "license": "by",
                            "license_version": "4.0", "creator": "someone"} for n in names[2:4]]
                return self.reply(200, {"result_count": 2, "page_count": 1, "page": 1, "results": results})

            def reply(self, status, payload, content_type="application/json"):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def smtp_with_login():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    def authenticator(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=auth_data.password in (SMTP_PASSWORD, SMTP_PASSWORD.encode()))

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=authenticator,
                            auth_require_tls=False, auth_required=True)
    controller.start()
    yield port, received
    controller.stop()


def run(dags, dag_id, conf):
    dag_run = dags.get_dag(dag_id).test(run_conf=conf)
    assert dag_run.state == "success", f"{dag_id} ended {dag_run.state}"
    return dag_run


def airflow_records() -> str:
    """Every Asset event's extra and every XCom, as text."""
    from airflow.models.asset import AssetEvent
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        extras = [json.dumps(e.extra) for e in session.query(AssetEvent).all()]
        xcoms = [json.dumps(x.value, default=str) for x in session.query(XComModel).all()]
    return "\n".join(extras + xcoms)


def test_no_secret_reaches_logs_asset_extras_the_catalog_or_reports(
        dags, pipeline_env, tmp_path, monkeypatch, moto_server, s3_client, s3_bucket, smtp_with_login, capfd):
    images = tmp_path / "images"
    images.mkdir()
    make_samples(images)
    apis = SourceApis(images)
    port, received = smtp_with_login
    connections = {
        "AWS_DEFAULT": {"conn_type": "aws", "login": "testing", "password": "testing",
                        "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"}},
        "SMTP_DEFAULT": {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "login": "pipeline",
                         "password": SMTP_PASSWORD, "extra": {"disable_ssl": True, "disable_tls": True}},
        "FLICKR_DEFAULT": {"conn_type": "generic", "password": FLICKR_KEY},
        "OPENVERSE_DEFAULT": {"conn_type": "generic", "login": "pipeline-app", "password": OPENVERSE_SECRET},
    }
    for name, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))
    monkeypatch.setenv("GALLERY_STORE_URL", f"s3://{s3_bucket}/gallery")
    monkeypatch.setenv("GALLERY_EMAIL", "smtp")
    monkeypatch.setenv("GALLERY_ATTACH_MAX_BYTES", "0")  # the archive goes as a presigned link
    monkeypatch.setenv("GALLERY_ALLOWED_HOSTS", "127.0.0.1")
    monkeypatch.setenv("GALLERY_FLICKR_URL", f"{apis.url}/flickr/rest/")
    monkeypatch.setenv("GALLERY_OPENVERSE_URL", f"{apis.url}/openverse/v1/images/")
    monkeypatch.setenv("GALLERY_FEATURES", "false")

    run(dags, "gallery_retrieve", {"engine": "flickr", "keywords": ["cats"], "count": 2})
    run(dags, "gallery_retrieve", {"engine": "openverse", "keywords": ["cats"], "count": 2})
    run(dags, "gallery_process", {"batch_size": 10})
    from datetime import datetime, timezone
    run(dags, "gallery_analytics", {"day": datetime.now(timezone.utc).date().isoformat()})
    run(dags, "gallery_deliver", {"keyword": "cats", "recipient": "you@example.com"})
    logs = "".join(capfd.readouterr())

    # Each secret was used: the APIs answered, the server took the login, the link works.
    (message,) = received
    body = email.message_from_bytes(message.content, policy=policy.default).get_body().get_content()
    link = next(line for line in body.split() if line.startswith("http") and "Signature=" in line)
    query = parse_qs(urlsplit(link).query)
    signature = (query.get("X-Amz-Signature") or query["Signature"])[0]  # SigV4 or SigV2 presigning
    assert "/img/" in " ".join(apis.seen)

    secrets = {"SMTP password": SMTP_PASSWORD, "Flickr API key": FLICKR_KEY, "Openverse client secret": OPENVERSE_SECRET,
               "Openverse token": OPENVERSE_TOKEN, "presigned URL signature": signature}
    from image_pipeline.core.catalog import SqliteCatalog

    with SqliteCatalog(pipeline_env.parent / "catalog.sqlite3") as catalog:
        docs = catalog.find()
        assert len(docs) == 4 and {d["sources"][0]["source"] for d in docs} == {"flickr", "openverse"}
        catalog_text = json.dumps(docs) + json.dumps(catalog.deliveries()) + json.dumps(catalog.metrics())
    stored = []  # reports, manifests inside archives, the store's every text object
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket):
        for obj in page.get("Contents", []):
            data = s3_client.get_object(Bucket=s3_bucket, Key=obj["Key"])["Body"].read()
            if obj["Key"].endswith(".zip"):
                import io
                import zipfile

                with zipfile.ZipFile(io.BytesIO(data)) as archive:
                    data = b"".join(archive.read(n) for n in archive.namelist() if not n.endswith((".jpg", ".webp")))
            stored.append(data.decode("utf-8", "replace"))
    assert any(k.startswith("gallery/reports/") for k in
               (o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]))
    places = {"task logs": logs, "Asset extras and XComs": airflow_records(), "catalog": catalog_text,
              "store (reports, manifests)": "\n".join(stored)}
    leaks = [f"{what} in {where}" for what, value in secrets.items() for where, text in places.items() if value in text]
    assert leaks == []
    assert "Signature=***" in catalog_text  # the delivery ledger keeps the link, without its signature
