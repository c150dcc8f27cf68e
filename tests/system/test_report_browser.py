"""The daily report and the overview open in headless Chromium without errors, every chart
decodes, and a screenshot is taken. Chromium is the system's (`make browser` installs Debian's),
driven by playwright without its own browser download; CHROMIUM=/path picks another."""

from __future__ import annotations

from datetime import date

import pytest
from PIL import Image

from image_pipeline import analytics
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.core.storage import LocalStore
from support.browser import with_profile
from support.synthetic import gallery_docs, insert_docs

DAY = date(2026, 10, 2)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reports")
    store = LocalStore(tmp / "data")
    with SqliteCatalog(tmp / "catalog.sqlite3") as cat:
        insert_docs(cat, gallery_docs([date(2026, 10, 1), DAY], per_day=60, seed=2))
        for day in (date(2026, 10, 1), DAY):
            analytics.write_daily_report(store, cat, day, ["half_gray", "thumb", "web"])
    analytics.rollup(store)
    return store


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh profile: nothing from a previous run
    with with_profile(profile, {"width": 1200, "height": 900}) as context:
        yield context


@pytest.mark.parametrize("key, charts", [(f"reports/daily/dt={DAY}/report.html", 5), ("reports/overview/index.html", 2)])
def test_report_opens_without_errors(browser, reports, key, charts, tmp_path):
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type in {"error", "warning"} else None)
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda req: problems.append(f"request failed: {req.url}"))
    page.on("request", lambda req: problems.append(f"external request: {req.url}")
            if not req.url.startswith(("file:", "data:")) else None)
    response = page.goto(reports.path(key).as_uri(), wait_until="load")
    assert response is None or response.ok
    assert page.evaluate("Array.from(document.images).filter(i => i.complete && i.naturalWidth > 0).length") == charts
    assert page.evaluate("document.images.length") == charts
    assert page.locator("h1").inner_text().startswith("Gallery")
    assert int(page.locator('[data-metric="retrieved"]').inner_text()) > 0
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert problems == []
    with Image.open(shot) as im:
        assert im.format == "PNG" and im.width == 1200 and im.height > 1500
        assert len(im.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50  # not a blank page
