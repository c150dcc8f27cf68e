"""The gallery's pages in Airflow's UI, driven by playwright: a logged-in page whose page errors and
unexpected console errors are collected, and the steps on the pages that several tests take."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from support import trigger_form

# Non-2xx answers the pages ask for on purpose (Chromium logs each as a console error).
EXPECTED_REFUSALS = ("/gallery/api/uploads", "/gallery/api/requests")  # a viewer's 403s, shown on the page

# The editor's preview shown is the one of the chain whose operation names are `names` (and it has loaded).
PREVIEW_OF = """names => {
    const img = document.querySelector('[data-testid=editor-preview]');
    if (!img || img.dataset.state !== 'ready' || !img.complete || img.naturalWidth === 0) return false;
    const ops = JSON.parse(img.dataset.operations);
    return JSON.stringify(ops.map(o => Object.keys(o)[0])) === JSON.stringify(names);
}"""


class Watched:
    """A logged-in page whose page errors and unexpected console errors are collected; the non-2xx
    answers of ``expected`` (URL parts), besides EXPECTED_REFUSALS, are refusals the test asks for."""

    def __init__(self, browser, airflow, user: str, expected: tuple[str, ...] = ()):
        self.expected = EXPECTED_REFUSALS + expected
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("console", self._console)
        trigger_form.login(self.page, airflow["url"], user, airflow["passwords"][user])

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        where = (msg.location or {}).get("url", "")
        if any(part in where for part in self.expected):
            return
        self.problems.append(f"console error: {msg.text} ({where})")

    def close(self) -> None:
        self.context.close()


@contextmanager
def watching(browser, airflow, user: str, expected: tuple[str, ...] = ()) -> Iterator[Watched]:
    """A :class:`Watched` page for the block, closed after it; a block that ends without an error of its
    own then fails on any problem the page had."""
    watched = Watched(browser, airflow, user, expected)
    try:
        yield watched
    finally:
        watched.close()
    assert watched.problems == []


def open_gallery(page, url: str) -> None:
    page.goto(url)
    page.get_by_role("link", name="Gallery").first.click()
    page.get_by_test_id("gallery-grid").wait_for()


def listed_with(page, fragment: str) -> None:
    """Wait until the grid shows the items listed with a filter (its data-filters), not the ones before it."""
    page.wait_for_function("f => (document.querySelector('[data-testid=gallery-grid]').dataset.filters || '')"
                           ".includes(f)", arg=fragment)


def preview_of(page, pixels: str, *names: str) -> dict:
    """Once the editor's preview is that of the chain of ``names``: what the script ``pixels`` measures of it."""
    page.wait_for_function(PREVIEW_OF, arg=list(names), timeout=60_000)
    return page.get_by_test_id("editor-preview").evaluate(pixels)
