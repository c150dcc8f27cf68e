"""The safe fetcher's guards, against a misbehaving web server on loopback."""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from image_pipeline.retrieve.fetch import FetchPolicy, Refused, SafeFetcher, check_url, is_public_address


def jpeg(size=(64, 48), colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims huge dimensions: a decompression bomb's calling card."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


GOOD = jpeg()


class Handler(BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=None, length=True):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        port = self.server.server_address[1]
        path = self.path
        Handler.hits[path] = Handler.hits.get(path, 0) + 1
        if path == "/good.jpg":
            self.send(200, GOOD, {"Content-Type": "text/html"})  # a wrong Content-Type does not matter
        elif path == "/fake.jpg":
            self.send(200, b"<html><body>not an image</body></html>", {"Content-Type": "image/jpeg"})
        elif path == "/big-declared.jpg":
            self.send(200, GOOD + b"\0" * 300_000)
        elif path == "/big-streamed.jpg":
            self.send_response(200)
            self.end_headers()  # no Content-Length: counted while streaming
            self.wfile.write(GOOD + b"\0" * 300_000)
        elif path == "/slow.jpg":
            self.send_response(200)
            self.end_headers()
            for i in range(25):  # 100 bytes every 0.2 s: each read is quick, the whole is not
                self.wfile.write(GOOD[i * 100:(i + 1) * 100] or b"\0" * 100)
                self.wfile.flush()
                time.sleep(0.2)
        elif path == "/to-loopback":
            self.send(302, headers={"Location": f"http://127.0.0.1:{port}/good.jpg"})
        elif path == "/to-metadata":
            self.send(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        elif path == "/hop":
            self.send(302, headers={"Location": "/good.jpg"})
        elif path == "/loop":
            self.send(302, headers={"Location": "/loop"})
        elif path == "/busy-once.jpg":
            if Handler.hits[path] == 1:
                self.send(429, b"slow down", {"Retry-After": "2"})
            else:
                self.send(200, GOOD)
        elif path == "/down-for-hours.jpg":
            self.send(503, b"maintenance", {"Retry-After": "7200"})
        elif path == "/bomb.png":
            self.send(200, png_header_only(60_000, 60_000))
        else:
            self.send(404, b"not found")


@pytest.fixture
def server():
    Handler.hits = {}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://localhost:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fetcher():
    waits = []
    policy = FetchPolicy(allowed_hosts=frozenset({"localhost"}), max_bytes=100_000, deadline=2.0,
                         read_timeout=1.0, connect_timeout=1.0)
    f = SafeFetcher(policy, sleep=waits.append)
    f.waits = waits
    return f


def refused(fetcher, url) -> str:
    with pytest.raises(Refused) as info:
        fetcher.fetch(url)
    return info.value.reason


def test_a_real_image_is_fetched_whatever_its_content_type(fetcher, server):
    got = fetcher.fetch(f"{server}/good.jpg")
    assert got.data == GOOD and got.info.format == "JPEG" and (got.info.width, got.info.height) == (64, 48)


def test_a_same_host_redirect_is_followed(fetcher, server):
    got = fetcher.fetch(f"{server}/hop")
    assert got.final_url.endswith("/good.jpg") and got.data == GOOD


@pytest.mark.parametrize("path, reason", [
    ("/fake.jpg", "not_an_image"),
    ("/big-declared.jpg", "too_large"),
    ("/big-streamed.jpg", "too_large"),
    ("/slow.jpg", "timeout"),
    ("/to-loopback", "address"),
    ("/to-metadata", "address"),
    ("/loop", "redirects"),
    ("/bomb.png", "too_many_pixels"),
    ("/missing.jpg", "http_404"),
])
def test_refusals_carry_their_reason(fetcher, server, path, reason):
    started = time.monotonic()
    assert refused(fetcher, f"{server}{path}") == reason
    assert time.monotonic() - started < 5  # nothing hangs


def test_metadata_address_is_never_contacted(fetcher, server, monkeypatch):
    def no_connect(*args, **kwargs):
        raise AssertionError("tried to connect")

    monkeypatch.setattr(socket, "create_connection", no_connect)
    assert refused(fetcher, "http://169.254.169.254/latest/meta-data/") == "address"


def test_429_is_retried_after_the_servers_delay(fetcher, server):
    assert fetcher.fetch(f"{server}/busy-once.jpg").data == GOOD
    assert fetcher.waits == [2.0]


def test_a_retry_after_longer_than_the_cap_gives_up(fetcher, server):
    assert refused(fetcher, f"{server}/down-for-hours.jpg") == "http_503"
    assert fetcher.waits == []


def test_dns_rebinding_is_caught_on_the_connected_address(server, monkeypatch):
    """The name looked public when checked, but the connection went to loopback."""
    port = int(server.rsplit(":", 1)[1])
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "rebind.test":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    public = lambda host, port, **kw: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]  # noqa: E731
    fetcher = SafeFetcher(FetchPolicy(), resolve=public)
    assert refused(fetcher, f"http://rebind.test:{port}/good.jpg") == "address"
    assert Handler.hits.get("/good.jpg") is None


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True),
])
def test_address_classes(address, public):
    assert is_public_address(address) is public


@pytest.mark.parametrize("url, reason", [
    ("file:///etc/passwd", "scheme"), ("ftp://example.com/x.jpg", "scheme"), ("http:///x", "scheme"),
    ("http://127.0.0.1/x.jpg", "address"), ("http://[::1]/x.jpg", "address"), ("http://10.0.0.1/x", "address"),
    ("http://localhost/x.jpg", "address"),
])
def test_urls_refused_before_connecting(url, reason):
    with pytest.raises(Refused) as info:
        check_url(url, FetchPolicy())
    assert info.value.reason == reason


def test_allow_list_setting():
    policy = FetchPolicy.from_hosts(" LocalHost, 127.0.0.1 ,")
    assert policy.allowed_hosts == {"localhost", "127.0.0.1"}
    check_url("http://127.0.0.1:8080/x.jpg", policy)  # allowed: no exception


def test_a_url_list_lands_the_right_images_once_and_counts_each_refusal(server, tmp_path):
    """The issue's URL list, end to end through icrawler and ingestion."""
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.retrieve import ingest_urls
    from image_pipeline.core.storage import LocalStore

    urls = [f"{server}{p}" for p in ("/good.jpg", "/hop", "/fake.jpg", "/big-streamed.jpg", "/slow.jpg",
                                     "/to-loopback", "/to-metadata", "/bomb.png")]
    urls.append("http://169.254.169.254/latest/meta-data/")
    policy = FetchPolicy(allowed_hosts=frozenset({"localhost"}), max_bytes=100_000, deadline=2.0,
                         read_timeout=1.0, connect_timeout=1.0)
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        started = time.monotonic()
        summary = ingest_urls(store, catalog, urls, keyword="web", run_id="r1", policy=policy).as_dict()
        assert time.monotonic() - started < 30
        assert (summary["new"], summary["duplicate"]) == (1, 1)  # /hop redirects to the same image
        assert summary["refused_reasons"] == {"address": 3, "not_an_image": 1, "timeout": 1, "too_large": 1,
                                              "too_many_pixels": 1}
        assert len(list(store.list("raw/"))) == 1 and len(catalog.find()) == 1
