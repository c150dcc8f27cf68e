"""A folder served over HTTP on loopback (the stdlib's server, a thread of the test's process): the sites
the retrieval tests download from, the same way as from any site, through the safe fetcher."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class QuietHandler(SimpleHTTPRequestHandler):
    """The folder's files, without a line on stderr for each request (the DAGs' downloads: not the test's output)."""

    def log_message(self, *args) -> None:
        pass


@contextmanager
def served(root: Path, handler: type[SimpleHTTPRequestHandler] = QuietHandler) -> Iterator[str]:
    """``root`` served by ``handler`` on a free loopback port until the block ends; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
