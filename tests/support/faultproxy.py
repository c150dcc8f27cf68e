"""A fault-injecting HTTP proxy for tests: forwards requests to an upstream server (moto's S3, a
MongoDB wire port is not HTTP: see :class:`TcpFaultProxy`) and, for a share of them, answers
``503 SlowDown``, resets the connection (before or after the upstream applied the request), or stalls
without answering. Deterministic for a seed; it counts what it injected."""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

SLOW_DOWN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message><RequestId>fault-proxy</RequestId></Error>")
KINDS = ("slowdown", "reset_before", "reset_after", "stall")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"}


@dataclass
class FaultPlan:
    """Which requests fail: each with probability ``share`` (kinds drawn from ``kinds``), and every
    request numbered in ``bursts`` starts ``burst_length`` consecutive ``slowdown`` answers, more than
    botocore's default of 5 attempts rides out."""

    share: float = 0.0
    kinds: tuple[str, ...] = KINDS
    seed: int = 17
    stall_seconds: float = 120.0  # longer than any test waits: only a client-side timeout ends it
    bursts: tuple[int, ...] = ()
    burst_length: int = 6
    _random: random.Random = field(init=False, repr=False)
    _burst_left: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def draw(self, number: int) -> str | None:
        if number in self.bursts:
            self._burst_left = self.burst_length
        if self._burst_left:
            self._burst_left -= 1
            return "slowdown"
        if self._random.random() < self.share:
            return self._random.choice(self.kinds)
        return None


class FaultProxy:
    """``FaultProxy(upstream_url, plan)`` as a context manager; ``.url`` is where clients connect."""

    def __init__(self, upstream: str, plan: FaultPlan | None = None):
        parsed = urlparse(upstream)
        self.upstream = (parsed.hostname, parsed.port)
        self.plan = plan or FaultPlan()
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    raw = bytearray()
                    while True:
                        line = self.rfile.readline()
                        raw += line
                        size = int(line.split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while True:  # trailers, then the blank line
                                trailer = self.rfile.readline()
                                raw += trailer
                                if trailer in (b"\r\n", b"\n", b""):
                                    return bytes(raw)
                        raw += self.rfile.read(size + 2)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends a TCP RST, what a load balancer dropping the connection does
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                conn = http.client.HTTPConnection(*proxy.upstream, timeout=60)
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    for name, value in self.headers.items():
                        if name.lower() not in HOP_BY_HOP - {"transfer-encoding"}:
                            conn.putheader(name, value)
                    conn.endheaders()
                    if body:
                        conn.send(body)
                    response = conn.getresponse()
                    data = response.read()
                    return response.status, response.getheaders(), data
                finally:
                    conn.close()

            def _handle(self) -> None:
                with proxy._lock:
                    proxy.requests += 1
                    fault = proxy.plan.draw(proxy.requests)
                    if fault:
                        proxy.injected[fault] += 1
                body = self._body()
                if fault == "reset_before":
                    return self._reset()
                if fault == "stall":
                    proxy._release.wait(proxy.plan.stall_seconds)
                    return self._reset()
                if fault == "slowdown":
                    self.send_response(503, "Slow Down")
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOW_DOWN)))
                    self.end_headers()
                    self.wfile.write(SLOW_DOWN if self.command != "HEAD" else b"")
                    return
                status, headers, data = self._forward(body)
                if fault == "reset_after":  # the store applied the request; its answer is lost
                    return self._reset()
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                length = next((v for n, v in headers if n.lower() == "content-length"), None)
                self.send_header("Content-Length", length if self.command == "HEAD" and length else str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FaultProxy":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def faults(self) -> int:
        return sum(self.injected.values())


class TcpFaultProxy:
    """A TCP proxy (for MongoDB's wire protocol) that can be switched to refuse and reset every
    connection, and back: the server "goes away" and returns while a batch runs."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.down = threading.Event()
        self.resets = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []

    def __enter__(self) -> "TcpFaultProxy":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._listener.close()
        self._drop_all()

    def _drop_all(self) -> None:
        for conn in list(self._conns):
            try:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()
            except OSError:
                pass
        self._conns.clear()

    def go_down(self) -> None:
        self.down.set()
        self._drop_all()

    def come_back(self) -> None:
        self.down.clear()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.down.is_set():
                self.resets += 1
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            upstream = socket.create_connection(self.upstream)
            self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.close()
                except OSError:
                    pass


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.05)
