"""Failures and recovery in the gallery, as a person meets them (issue 24): `airflow standalone` with
the plugin and the project's DAGs, Debian's Chromium driven by playwright, sample images retrieved and
processed by the real DAGs.

A recipe whose watermark names a picture that is missing on the workers (saved while the picture was
in ``GALLERY_RECIPES_DIR``, then the picture deleted) is applied to three images selected in the grid:
the run succeeds, the images stay processed with their other outputs, and the Problems view and each
image's page show the failed output with its reason and run. The recipe corrected (a text watermark)
and applied again: the outputs exist and the problems are gone. Then three images quarantined as
"unexpected" (written into the stack's catalog with the current release, as the batch does after
too many attempts) come back with Retry: one from its page, one selected in the grid, the last from the
Problems view.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from support.gallery_stack import PROCESS_TIMEOUT, api, finished, retrieved_and_processed, standalone_with_logins
from support.gallery_ui import watching
from support.loopback import served
from support.samples import make_samples

RECIPE = "brand_mark"
PICTURE = "marks/logo.png"
DONE = re.compile("^(success|failed)$")


@pytest.fixture(scope="module")
def site():
    """The sample images (the broken ones left out) on loopback; their URLs."""
    root = Path(tempfile.mkdtemp(prefix="image-pipeline-problems-www-"))
    files = [p for p in make_samples(root) if p.name not in ("broken.jpg", "truncated.jpg")]
    with served(root) as base:
        yield [f"{base}/{p.name}" for p in files]
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def recipes_dir():
    """GALLERY_RECIPES_DIR: where a recipe's pictures may come from."""
    folder = Path(tempfile.mkdtemp(prefix="image-pipeline-problems-recipes-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def airflow(recipes_dir):
    env = {"GALLERY_ALLOWED_HOSTS": "127.0.0.1", "GALLERY_CRAWL_IDLE_TIMEOUT": "3",
           "GALLERY_RECIPES_DIR": str(recipes_dir), "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin"}
    with standalone_with_logins(Path(tempfile.mkdtemp(prefix="image-pipeline-problems-ui-")), env) as server:
        yield server


@pytest.fixture(scope="module")
def gallery(airflow, site) -> list[str]:
    """The sample images retrieved and processed by the real DAGs; their sha256, sorted."""
    return sorted(i["sha256"] for i in retrieved_and_processed(airflow, site, "harbour"))


@pytest.fixture
def admin(browser, airflow, gallery):
    with watching(browser, airflow, "admin") as watched:
        yield watched


def save_recipe(airflow, watermark: dict) -> dict:
    """The recipe saved through the gallery's API, as the editor saves it: half size, then the mark."""
    return airflow["rest"].post("/gallery/api/recipes", {
        "name": RECIPE, "description": "Our mark in a corner",
        "operations": [{"resize": {"scale": 50}}, {"watermark": {**watermark, "position": "bottom-right"}}],
        "output": {"format": "jpeg", "quality": 85}})


def apply_in_the_grid(page, airflow, chosen: list[str]) -> str:
    """The recipe applied to ``chosen``, ticked in the grid; the run followed to its end (its id)."""
    page.goto(f"{airflow['url']}/plugin/gallery/browse")
    page.locator(f"[data-testid=gallery-item][data-sha256='{chosen[-1]}']").wait_for()
    for sha in chosen:
        page.locator(f"[data-testid=gallery-item][data-sha256='{sha}']").get_by_role("checkbox").check()
    assert f"{len(chosen)} selected" in page.get_by_test_id("gallery-selected").inner_text()
    bulk = page.get_by_test_id("gallery-bulk")
    bulk.get_by_label("Recipe to apply").locator(f"option[value={RECIPE}]").wait_for(state="attached")
    bulk.get_by_label("Recipe to apply").select_option(RECIPE)
    bulk.get_by_role("button", name="Reprocess selected").click()
    return followed(page, bulk.get_by_test_id("apply-run"))


def followed(page, run) -> str:
    """A run shown on the page (``apply-run``) waited for until it ends; its id, after checking it succeeded."""
    from playwright.sync_api import expect

    run.wait_for()
    expect(run).to_have_attribute("data-state", DONE, timeout=PROCESS_TIMEOUT * 1000)
    assert run.get_attribute("data-state") == "success"
    assert "/dags/gallery_process/runs/" in run.get_by_role("link").get_attribute("href")
    return run.get_attribute("data-run-id")


def run_started_from(page, container) -> str:
    """The run a Retry started (the page drops it once the problem is gone): its id, from the page."""
    run = container.get_by_test_id("apply-run")
    run.wait_for()
    return run.get_attribute("data-run-id")


def test_a_recipe_naming_a_missing_picture_fails_its_outputs_not_the_images(admin, airflow, gallery, recipes_dir,
                                                                           tmp_path):
    page = admin.page
    chosen = gallery[:3]
    before = {sha: set(api(airflow, f"/gallery/api/images/{sha}")["outputs"]) for sha in chosen}
    assert all(outputs >= {"thumb", "half_gray", "web"} for outputs in before.values()), before

    # Saved while the picture is there (the save checks it), then the picture is gone from the workers.
    (recipes_dir / PICTURE).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (60, 20), (255, 0, 0, 160)).save(recipes_dir / PICTURE)
    first = save_recipe(airflow, {"image": PICTURE})
    (recipes_dir / PICTURE).unlink()

    run_id = apply_in_the_grid(page, airflow, chosen)  # the run succeeds: a recipe's failure fails no task
    reasons = set()
    for sha in chosen:
        record = api(airflow, f"/gallery/api/images/{sha}")
        assert record["status"] == "processed" and record["quarantine"] is None
        assert set(record["outputs"]) == before[sha]  # the other outputs remain; no brand_mark output
        failure = record["failures"][RECIPE]
        assert failure["operation"] == "watermark" and failure["run_id"] == run_id, failure
        assert failure["reason"].startswith(f"{RECIPE}: watermark:"), failure
        assert failure["run"]["airflow_url"].endswith(f"/dags/gallery_process/runs/{quote(run_id, safe='')}")
        reasons.add(failure["reason"])
    (reason,) = reasons  # the same cause: one group

    # The Problems view: one group for the recipe, its three images, the run.
    page.get_by_role("link", name="Problems").click()
    group = page.locator(f"[data-testid=problems-group][data-recipe={RECIPE}]")
    group.wait_for()
    assert page.get_by_test_id("problems-group").count() == 1
    assert (group.get_attribute("data-kind"), group.get_attribute("data-count")) == ("recipe", "3")
    assert group.get_by_test_id("problems-reason").inner_text() == reason
    assert "3 images" in group.get_by_test_id("problems-count").inner_text()
    assert "3 failed outputs on 3 images" in page.get_by_test_id("problems-totals").inner_text()
    samples = group.get_by_test_id("problems-sample")
    assert sorted(samples.evaluate_all("ss => ss.map(s => s.dataset.sha256)")) == chosen
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=problems-sample] img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")  # the thumbnails: still there
    (link,) = group.get_by_test_id("problems-run").all()
    assert link.get_attribute("href").endswith(f"/dags/gallery_process/runs/{quote(run_id, safe='')}")
    page.screenshot(path=str(tmp_path / "problems.png"), full_page=True)

    # Each image's page: the failed output with its reason, beside the outputs that worked.
    for index, sha in enumerate(chosen):
        if index == 0:  # from the Problems view's sample
            group.locator(f"[data-testid=problems-sample][data-sha256='{sha}']").click()
        else:
            page.goto(f"{airflow['url']}/plugin/gallery/images/{sha}")
        page.get_by_test_id("detail-page").wait_for()
        assert page.get_by_test_id("detail-status").inner_text() == "processed"
        failed = page.get_by_test_id("detail-output-failed")
        assert failed.count() == 1 and failed.get_attribute("data-recipe") == RECIPE
        assert failed.get_by_test_id("detail-output-reason").inner_text() == reason
        assert failed.get_by_test_id("detail-output-reason").get_attribute("data-operation") == "watermark"
        assert failed.get_by_role("link").get_attribute("href").endswith(quote(run_id, safe=""))
        worked = page.get_by_test_id("detail-output")
        assert sorted(worked.evaluate_all("rs => rs.map(r => r.dataset.recipe)")) == sorted(before[sha])
        assert page.get_by_test_id("detail-retry").get_by_role("button", name="Retry").is_visible()
        assert page.get_by_test_id("detail-quarantine").count() == 0
        if index == 0:
            page.get_by_test_id("detail-outputs").screenshot(path=str(tmp_path / "detail-outputs-failed.png"))

    # The recipe corrected (a text watermark: a new version) and applied again.
    second = save_recipe(airflow, {"text": "harbour"})
    assert second["version"] != first["version"]
    again = apply_in_the_grid(page, airflow, chosen)
    for sha in chosen:
        record = api(airflow, f"/gallery/api/images/{sha}")
        assert record["status"] == "processed" and record["failures"] == {}, record["failures"]
        assert set(record["outputs"]) == before[sha] | {RECIPE}
    page.get_by_role("link", name="Problems").click()
    page.get_by_test_id("problems-empty").wait_for()
    assert page.get_by_test_id("problems-totals").inner_text() == "No problems"
    page.goto(f"{airflow['url']}/plugin/gallery/images/{chosen[0]}")
    page.get_by_test_id("detail-page").wait_for()
    page.locator(f"[data-testid=detail-output][data-recipe={RECIPE}]").wait_for()
    assert page.get_by_test_id("detail-output-failed").count() == 0
    assert page.get_by_test_id("detail-retry").count() == 0
    page.get_by_role("tab", name=RECIPE).click()
    page.wait_for_function("alt => { const i = document.querySelector(`img[alt='${alt}']`);"
                           " return i && i.complete && i.naturalWidth > 0; }", arg=f"{RECIPE} output")
    conf = airflow["rest"].get(f"/api/v2/dags/gallery_process/dagRuns/{again}")["conf"]
    assert conf == {"recipes": [RECIPE], "images": chosen, "force": True}


def test_a_quarantined_image_comes_back_with_retry(admin, airflow, gallery, tmp_path):
    from image_pipeline import RELEASE
    from image_pipeline.core.catalog import SqliteCatalog, utcnow_iso

    page = admin.page
    mine, selected, other = gallery[3:6]
    reason = "failed 3 times: RuntimeError: injected"
    # As the batch records an image after GALLERY_MAX_ATTEMPTS unexpected failures, by this release (so no
    # upgrade lifts it by itself); the cause is gone (there was none).
    with SqliteCatalog(airflow["home"] / "catalog.sqlite3") as catalog:
        for sha in (mine, selected, other):
            catalog.record_quarantine(sha, reason, "process", "", utcnow_iso(), kind="unexpected", release=RELEASE,
                                      run_id="manual__injected", attempts=3)
    assert api(airflow, f"/gallery/api/images/{mine}")["status"] == "quarantined"

    page.goto(f"{airflow['url']}/plugin/gallery/images/{mine}")
    page.get_by_test_id("detail-page").wait_for()
    quarantine = page.get_by_test_id("detail-quarantine")
    assert quarantine.get_attribute("data-kind") == "unexpected"
    assert "after 3 attempts" in quarantine.inner_text() and reason in quarantine.inner_text()
    assert page.get_by_test_id("detail-status").inner_text() == "quarantined"
    page.screenshot(path=str(tmp_path / "detail-quarantined.png"), full_page=True)
    retry = page.get_by_test_id("detail-retry")
    retry.get_by_role("button", name="Retry").click()
    run_id = run_started_from(page, retry)
    assert finished(airflow["rest"], "gallery_process", run_id) == "success"
    # The page reloads the record when the run ends: processed, no quarantine, nothing left to retry.
    page.get_by_test_id("detail-status").get_by_text("processed", exact=True).wait_for(timeout=60_000)
    assert page.get_by_test_id("detail-quarantine").count() == 0 and page.get_by_test_id("detail-retry").count() == 0
    record = api(airflow, f"/gallery/api/images/{mine}")
    assert record["status"] == "processed" and record["quarantine"] is None
    assert record["history"][-1]["action"] == "retry" and record["history"][-1]["by"] == "admin"
    conf = airflow["rest"].get(f"/api/v2/dags/gallery_process/dagRuns/{run_id}")["conf"]
    assert conf["images"] == [mine] and conf["retry"] is True and RECIPE not in conf["recipes"]

    # One selected in the grid: Retry selected, and the grid shows it processed when the run ends.
    page.get_by_role("link", name="Browse").click()
    item = page.locator(f"[data-testid=gallery-item][data-sha256='{selected}']")
    assert item.get_attribute("data-status") == "quarantined"
    item.get_by_role("checkbox").check()
    retry = page.get_by_test_id("gallery-retry")
    retry.get_by_role("button", name="Retry selected").click()
    run_id = followed(page, retry.get_by_test_id("apply-run"))
    page.locator(f"[data-testid=gallery-item][data-sha256='{selected}'][data-status=processed]").wait_for(timeout=60_000)
    assert airflow["rest"].get(f"/api/v2/dags/gallery_process/dagRuns/{run_id}")["conf"]["images"] == [selected]

    # The last one from the Problems view: its group, Retry, then no problems.
    page.get_by_role("link", name="Problems").click()
    group = page.locator("[data-testid=problems-group][data-kind=unexpected]")
    group.wait_for()
    assert group.get_attribute("data-count") == "1" and group.get_attribute("data-reason") == reason
    assert group.get_by_test_id("problems-sample").get_attribute("data-sha256") == other
    assert group.get_by_test_id("problems-run").inner_text() == "manual__injected"  # no such run in Airflow
    group.get_by_role("button", name="Retry").click()
    run_id = run_started_from(page, group)
    assert finished(airflow["rest"], "gallery_process", run_id) == "success"
    page.get_by_test_id("problems-empty").wait_for(timeout=60_000)
    assert api(airflow, f"/gallery/api/images/{other}")["status"] == "processed"
    assert api(airflow, "/gallery/api/problems")["totals"]["images"] == 0
