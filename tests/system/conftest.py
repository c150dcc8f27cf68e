"""What the system tests share: one Chromium per module for the tests that open the gallery's pages,
each in contexts of its own (support/gallery_ui.py's Watched). A module whose tests need one profile
kept between pages (support/browser.py's with_profile) defines its own ``browser``."""

from __future__ import annotations

import pytest

from support.browser import launched


@pytest.fixture(scope="module")
def browser():
    with launched() as engine:
        yield engine
