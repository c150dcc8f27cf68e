"""Chromium for the browser tests: the system's (`make browser` installs Debian's), driven by playwright
without its own browser download; CHROMIUM=/path picks another. Headless, sandbox and GPU off, none
of the browser's own network traffic (updates, sync)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "no Chromium: run `make browser` (Debian's package) or set CHROMIUM=/path/to/chrome"
    return path


@contextmanager
def launched() -> Iterator:
    """A Chromium (playwright's ``Browser``) until the block ends: each test opens its own contexts in it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        engine = pw.chromium.launch(executable_path=chromium(), headless=True, args=FLAGS)
        yield engine
        engine.close()


@contextmanager
def with_profile(profile: Path, viewport: dict[str, int]) -> Iterator:
    """A Chromium on its own profile folder (playwright's persistent ``BrowserContext``: one context, its
    cookies kept between pages), pages ``viewport`` in size, until the block ends."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=chromium(), headless=True, args=FLAGS, viewport=viewport)
        yield context
        context.close()
