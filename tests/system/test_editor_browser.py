"""The gallery's editor and its management actions in Airflow's UI, as a person uses them:
`airflow standalone` with the plugin and the project's DAGs, Debian's Chromium driven by playwright,
one real photograph retrieved and processed by the real DAGs. On its page: Edit; grayscale then a
blur added from the palette, the preview checked on its pixels (grey after grayscale, less fine
detail after the blur); the chain saved as a new recipe, applied to the image by a real
`gallery_process` run, and the image's page then shows that recipe's output. A viewer previews but
is refused the save, with the server's message on the page. Tags added to a selection filter the
grid; details edited on the image's page are recorded in its history; the trash hides an image from
the gallery until it is restored.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from support.gallery_stack import PROCESS_TIMEOUT, api, camera_photo, retrieved_and_processed, standalone_with_logins
from support.gallery_ui import listed_with, preview_of, watching
from support.loopback import served

RECIPE = "editor_soft_gray"
BLUR_RADIUS = 4

# The preview's pixels: the largest and mean channel spread (0 for a grey image) and the mean
# absolute difference of neighbouring lumas (fine detail, which a blur lowers).
PIXELS = """img => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const w = canvas.width, h = canvas.height;
    const luma = i => 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
    let spread = 0, spreadSum = 0, energy = 0, pairs = 0;
    for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
            const i = (y * w + x) * 4;
            const s = Math.max(Math.abs(d[i] - d[i + 1]), Math.abs(d[i + 1] - d[i + 2]), Math.abs(d[i] - d[i + 2]));
            spread = Math.max(spread, s);
            spreadSum += s;
            if (x + 1 < w && y + 1 < h) {
                energy += Math.abs(luma(i) - luma(i + 4)) + Math.abs(luma(i) - luma(i + 4 * w));
                pairs += 1;
            }
        }
    }
    return {width: w, height: h, spread, meanSpread: spreadSum / (w * h), energy: energy / pairs};
}"""


@pytest.fixture(scope="module")
def site():
    """One real photograph (800x600, with EXIF) on loopback; returns its URL."""
    root = Path(tempfile.mkdtemp(prefix="image-pipeline-editor-www-"))
    camera_photo(root / "camera.jpg")
    with served(root) as base:
        yield f"{base}/camera.jpg"
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def airflow():
    env = {"GALLERY_ALLOWED_HOSTS": "127.0.0.1", "GALLERY_CRAWL_IDLE_TIMEOUT": "3",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer"}
    with standalone_with_logins(Path(tempfile.mkdtemp(prefix="image-pipeline-editor-ui-")), env) as server:
        yield server


@pytest.fixture(scope="module")
def image(airflow, site) -> str:
    """The photograph retrieved and processed by the real DAGs; its sha256."""
    return retrieved_and_processed(airflow, [site], "harbour")[0]["sha256"]


@pytest.fixture
def admin(browser, airflow, image):
    with watching(browser, airflow, "admin") as watched:
        yield watched


def open_editor(page, airflow, sha: str) -> None:
    page.goto(f"{airflow['url']}/plugin/gallery/images/{sha}")
    page.get_by_test_id("detail-page").wait_for()
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_test_id("editor-page").wait_for()


def test_an_edit_previewed_saved_and_applied_makes_the_images_new_output(admin, airflow, image, tmp_path):
    page = admin.page
    open_editor(page, airflow, image)
    original = preview_of(page, PIXELS)
    assert original["meanSpread"] > 5, original  # a colour photograph
    assert (original["width"], original["height"]) == (800, 600)

    page.get_by_role("button", name="Add Grayscale").click()
    gray = preview_of(page, PIXELS, "grayscale")
    assert gray["spread"] <= 3, gray  # R == G == B
    assert (gray["width"], gray["height"]) == (800, 600)

    page.get_by_role("button", name="Add Blur").click()
    steps = page.get_by_test_id("editor-step")
    assert steps.evaluate_all("ss => ss.map(s => s.dataset.name)") == ["grayscale", "blur"]
    steps.nth(1).get_by_label("Radius", exact=True).fill(str(BLUR_RADIUS))
    page.wait_for_function("r => JSON.parse(document.querySelector('[data-testid=editor-preview]').dataset.operations)"
                           ".some(o => o.blur && o.blur.radius === r)", arg=BLUR_RADIUS, timeout=60_000)
    blurred = preview_of(page, PIXELS, "grayscale", "blur")
    assert blurred["spread"] <= 3, blurred
    assert blurred["energy"] < 0.6 * gray["energy"], (blurred, gray)

    # Before/after: the original, then the preview again.
    page.get_by_role("button", name="Before", exact=True).click()
    page.get_by_test_id("editor-before").wait_for()
    page.get_by_role("button", name="After", exact=True).click()
    page.get_by_test_id("editor-preview").wait_for()

    # The recipe the chain makes, checked by the API as a file recipe is.
    page.get_by_label("Recipe name").fill(RECIPE)
    page.get_by_label("Recipe description").fill("Grey, softened")
    page.wait_for_function(f"() => document.querySelector('[data-testid=editor-yaml]').textContent.includes('{RECIPE}')")
    yaml = page.get_by_test_id("editor-yaml").inner_text()
    assert yaml.index("grayscale") < yaml.index("blur") and f"radius: {BLUR_RADIUS}" in yaml, yaml
    assert page.get_by_test_id("editor-errors").count() == 0
    page.screenshot(path=str(tmp_path / "editor.png"), full_page=True)

    page.get_by_role("button", name="Save recipe").click()
    page.get_by_test_id("editor-saved").wait_for()
    saved = {r["name"]: r for r in api(airflow, "/gallery/api/recipes")}
    assert saved[RECIPE]["origin"] == "saved"
    assert [next(iter(op)) if isinstance(op, dict) else op for op in saved[RECIPE]["operations"]] == ["grayscale", "blur"]

    page.get_by_role("button", name="Apply to this image").click()
    run = page.get_by_test_id("apply-run")
    run.wait_for()
    assert "/dags/gallery_process/runs/" in run.get_by_role("link").get_attribute("href")
    page.wait_for_function("() => ['success', 'failed'].includes("
                           "document.querySelector('[data-testid=apply-run]').dataset.state)",
                           timeout=PROCESS_TIMEOUT * 1000, polling=500)
    assert run.get_attribute("data-state") == "success"
    run_id = run.get_attribute("data-run-id")
    conf = airflow["rest"].get(f"/api/v2/dags/gallery_process/dagRuns/{run_id}")["conf"]
    assert conf["recipes"] == [RECIPE] and conf["images"] == [image]

    page.get_by_test_id("editor-applied").click()
    page.get_by_test_id("detail-page").wait_for()
    assert any(RECIPE in row for row in page.get_by_test_id("detail-output").all_inner_texts())
    page.get_by_role("tab", name=RECIPE).click()
    output = page.get_by_role("img", name=f"{RECIPE} output")
    page.wait_for_function("alt => { const i = document.querySelector(`img[alt='${alt}']`);"
                           " return i && i.complete && i.naturalWidth > 0; }", arg=f"{RECIPE} output")
    made = output.evaluate(PIXELS)
    assert made["spread"] <= 3 and (made["width"], made["height"]) == (800, 600), made
    page.screenshot(path=str(tmp_path / "applied.png"), full_page=True)


def test_a_viewer_previews_but_is_refused_the_save(browser, airflow, image, tmp_path):
    with watching(browser, airflow, "viewer", expected=("/gallery/api/recipes",)) as viewer:
        page = viewer.page
        open_editor(page, airflow, image)
        page.get_by_role("button", name="Add Grayscale").click()
        assert preview_of(page, PIXELS, "grayscale")["spread"] <= 3  # a viewer may preview
        page.get_by_label("Recipe name").fill("viewer_recipe")
        page.get_by_role("button", name="Save recipe").click()
        refused = page.get_by_test_id("editor-save-error")
        refused.wait_for()
        assert "refused" in refused.inner_text().lower(), refused.inner_text()
        assert "viewer_recipe" not in {r["name"] for r in api(airflow, "/gallery/api/recipes")}
        page.screenshot(path=str(tmp_path / "viewer-editor.png"), full_page=True)

        # A crop box drawn by dragging on the original (800x600): from 10% to 60% of each side.
        page.get_by_role("button", name="Add Crop").click()
        drawer = page.get_by_test_id("editor-box-drawer")
        drawer.locator("img").wait_for()
        page.wait_for_function("() => document.querySelector('[data-testid=editor-box-drawer] img').naturalWidth > 0")
        area = drawer.locator("img").bounding_box()
        page.mouse.move(area["x"] + 0.1 * area["width"], area["y"] + 0.1 * area["height"])
        page.mouse.down()
        page.mouse.move(area["x"] + 0.35 * area["width"], area["y"] + 0.35 * area["height"], steps=5)
        page.mouse.move(area["x"] + 0.6 * area["width"], area["y"] + 0.6 * area["height"], steps=5)
        page.mouse.up()
        cropped = preview_of(page, PIXELS, "grayscale", "crop")
        assert abs(cropped["width"] - 400) <= 3 and abs(cropped["height"] - 300) <= 3, cropped
        box = json.loads(page.get_by_test_id("editor-preview").get_attribute("data-operations"))[1]["crop"]["box"]
        assert all(abs(a - b) <= 3 for a, b in zip(box, [80, 60, 480, 360], strict=True)), box
        assert page.get_by_label("Box left").input_value() == str(box[0])

        # Starting from a recipe file loads its chain (half_gray: auto_orient, resize to 50%, grayscale).
        page.get_by_label("Start from a recipe").select_option("half_gray")
        steps = page.get_by_test_id("editor-step")
        assert steps.evaluate_all("ss => ss.map(s => s.dataset.name)") == ["auto_orient", "resize", "grayscale"]
        half = preview_of(page, PIXELS, "auto_orient", "resize", "grayscale")
        assert (half["width"], half["height"]) == (400, 300) and half["spread"] <= 3, half
        assert page.get_by_label("Recipe name").input_value() == ""  # a file's name is not saved over


def test_tags_filter_the_grid_details_are_recorded_and_the_trash_restores(admin, airflow, image, tmp_path):
    page = admin.page
    item = page.locator(f"[data-testid=gallery-item][data-sha256='{image}']")
    page.goto(f"{airflow['url']}/plugin/gallery/browse")
    item.get_by_role("checkbox").check()
    page.get_by_label("Tags for the selection").fill("pier, Dusk")
    page.get_by_role("button", name="Add tags").click()
    assert "1 image tagged" in page.get_by_test_id("gallery-bulk-status").inner_text()
    tag = page.get_by_label("Tag", exact=True)
    tag.locator("option[value=dusk]").wait_for(state="attached")
    tag.select_option("dusk")
    listed_with(page, "tag=dusk")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=gallery-item]').length === 1")
    assert set(item.get_attribute("data-tags").split(",")) == {"pier", "dusk"}

    # Details edited on the image's page, and who did it recorded.
    item.get_by_role("link").click()
    page.get_by_test_id("detail-page").wait_for()
    page.get_by_role("button", name="Edit details").click()
    page.get_by_label("Title", exact=True).fill("The harbour at dusk")
    page.get_by_label("Description", exact=True).fill("From the pier.")
    page.get_by_role("button", name="Save details").click()
    page.get_by_test_id("detail-title").get_by_text("The harbour at dusk").wait_for()
    history = page.get_by_test_id("detail-history-entry")
    history.first.wait_for()
    assert history.count() >= 2 and "admin" in page.get_by_test_id("detail-history").inner_text()
    record = api(airflow, f"/gallery/api/images/{image}")
    assert record["title"] == "The harbour at dusk" and set(record["tags"]) == {"pier", "dusk"}

    # The selection reprocessed with a recipe: one gallery_process run for exactly these images.
    page.goto(f"{airflow['url']}/plugin/gallery/browse")
    item.get_by_role("checkbox").check()
    bulk = page.get_by_test_id("gallery-bulk")
    bulk.get_by_label("Recipe to apply").locator("option[value=half_gray]").wait_for(state="attached")
    bulk.get_by_label("Recipe to apply").select_option("half_gray")
    bulk.get_by_role("button", name="Reprocess selected").click()
    run = bulk.get_by_test_id("apply-run")
    run.wait_for()
    page.wait_for_function("() => ['success', 'failed'].includes("
                           "document.querySelector('[data-testid=apply-run]').dataset.state)",
                           timeout=PROCESS_TIMEOUT * 1000, polling=500)
    assert run.get_attribute("data-state") == "success"
    conf = airflow["rest"].get(f"/api/v2/dags/gallery_process/dagRuns/{run.get_attribute('data-run-id')}")["conf"]
    assert conf == {"recipes": ["half_gray"], "images": [image], "force": True}

    # The trash: hidden from the gallery, listed in the Trash view, restored from there.
    page.get_by_role("button", name="Move to trash").click()
    page.get_by_test_id("gallery-empty").wait_for()
    assert api(airflow, f"/gallery/api/images/{image}")["trashed"]["by"] == "admin"
    page.get_by_role("link", name="Trash").click()
    item.wait_for()
    page.screenshot(path=str(tmp_path / "trash.png"), full_page=True)
    item.get_by_role("button", name=f"Restore image {image[:12]}").click()
    page.get_by_test_id("gallery-empty").wait_for()
    page.get_by_role("link", name="Browse").click()
    item.wait_for()
    assert api(airflow, f"/gallery/api/images/{image}")["trashed"] is None
