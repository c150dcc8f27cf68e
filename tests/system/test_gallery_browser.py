"""The gallery inside Airflow's UI, used as a person uses it: `airflow standalone` with the plugin and
the project's DAGs, Debian's Chromium driven by playwright. Images come in through the real DAGs
(a loopback URL list, uploads into the inbox), then: "Gallery" in the nav, one thumbnail per
processed image, a filter narrowing the grid, an image's EXIF, labels, outputs and provenance, three
files dropped on the upload page followed to "processed" without a reload, a request that runs
`image_request` and shows its steps and archive, the analytics page against the day's metrics
document, and a viewer who may browse but not upload. No page error, no unexpected console error; a
screenshot of each page (in the test's tmp folder).
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

from support.gallery_stack import (PROCESS_TIMEOUT, api, camera_photo, finished, retrieved_and_processed,
                                   standalone_with_logins, trigger)
from support.gallery_ui import open_gallery, listed_with, watching
from support.loopback import served
from support.samples import make_samples

TODAY = datetime.now(timezone.utc).date().isoformat()


@pytest.fixture(scope="module")
def site():
    """Sample images (one with a camera's EXIF and GPS) on loopback; returns (base URL, their URLs)."""
    root = Path(tempfile.mkdtemp(prefix="image-pipeline-gallery-www-"))
    files = [p for p in make_samples(root) if p.name not in ("broken.jpg", "truncated.jpg")]
    files.append(camera_photo(root / "camera.jpg"))
    with served(root) as base:
        yield base, [f"{base}/{p.name}" for p in files]
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def airflow(site):
    env = {"GALLERY_ALLOWED_HOSTS": "127.0.0.1", "GALLERY_CRAWL_IDLE_TIMEOUT": "3",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer"}
    with standalone_with_logins(Path(tempfile.mkdtemp(prefix="image-pipeline-gallery-ui-")), env) as server:
        yield server


@pytest.fixture(scope="module")
def gallery(airflow, site):
    """The loopback images retrieved and processed by the real DAGs, and the day's analytics."""
    _, urls = site
    items = retrieved_and_processed(airflow, urls, "harbour")
    analytics = trigger(airflow["rest"], "gallery_analytics", {"day": TODAY})
    assert finished(airflow["rest"], "gallery_analytics", analytics) == "success"
    return items


@pytest.fixture
def admin(browser, airflow, gallery):
    with watching(browser, airflow, "admin") as watched:
        yield watched


def test_the_grid_shows_each_processed_image_and_a_filter_narrows_it(admin, airflow, gallery, tmp_path):
    page = admin.page
    open_gallery(page, airflow["url"])
    page.get_by_label("Status").select_option("processed")
    listed_with(page, "status=processed")
    items = page.get_by_test_id("gallery-item")
    page.wait_for_function("n => document.querySelectorAll('[data-testid=gallery-item]').length === n", arg=len(gallery))
    assert sorted(items.evaluate_all("es => es.map(e => e.dataset.sha256)")) == sorted(i["sha256"] for i in gallery)
    assert str(len(gallery)) in page.get_by_test_id("gallery-count").inner_text()
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=gallery-item] img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    page.screenshot(path=str(tmp_path / "gallery.png"), full_page=True)

    pngs = [i for i in gallery if i["format"] == "PNG"]
    assert 0 < len(pngs) < len(gallery)
    page.get_by_label("Format").select_option("PNG")
    listed_with(page, "format=PNG")
    page.wait_for_function("n => document.querySelectorAll('[data-testid=gallery-item]').length === n", arg=len(pngs))
    assert sorted(items.evaluate_all("es => es.map(e => e.dataset.sha256)")) == sorted(i["sha256"] for i in pngs)

    # Two images chosen, zipped by the delivery code and downloaded.
    for item in (items.nth(0), items.nth(1)):
        item.get_by_role("checkbox").check()
    assert "2 selected" in page.get_by_test_id("gallery-selected").inner_text()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download ZIP").click()
    with zipfile.ZipFile(download.value.path()) as zf:
        chosen = sorted(m["sha256"] for m in json.loads(zf.read("manifest.json")))
    assert chosen == sorted(items.evaluate_all("es => es.slice(0, 2).map(e => e.dataset.sha256)"))


def test_the_detail_page_shows_exif_labels_outputs_and_provenance(admin, airflow, gallery, site, tmp_path):
    page = admin.page
    (camera,) = [i for i in gallery if i["width"] == 800 and i["height"] == 600]
    record = api(airflow, f"/gallery/api/images/{camera['sha256']}")
    open_gallery(page, airflow["url"])
    page.locator(f"[data-testid=gallery-item][data-sha256='{camera['sha256']}']").get_by_role("link").click()
    page.get_by_test_id("detail-page").wait_for()
    exif = page.get_by_test_id("detail-exif").inner_text()
    assert "Canon" in exif and "EOS 5D" in exif and "EF 24-105mm" in exif
    gps = page.get_by_test_id("detail-exif").get_by_role("link")
    assert "openstreetmap" in gps.first.get_attribute("href")
    assert "1/250 s" in exif and "f/8" in exif  # the exposure and aperture the camera wrote
    # The dominant colours the API answers, as swatches in its order, each named by its hex (the page
    # once read a field the API never sent and showed none).
    colours = record["features"]["dominant_colors"]
    assert colours and all(c.startswith("#") for c in colours)
    swatches = page.get_by_test_id("detail-colors").get_by_test_id("detail-color")
    assert swatches.evaluate_all("es => es.map(e => e.getAttribute('aria-label'))") == colours
    assert page.get_by_test_id("detail-colors").get_by_role("img", name=colours[0], exact=True).get_attribute("title") == colours[0]
    labels = page.get_by_test_id("detail-label")
    assert labels.count() == len(record["features"]["labels"]) > 0
    assert {o["recipe"] if isinstance(o, dict) else o for o in record["outputs"]} <= set(
        page.get_by_test_id("detail-outputs").inner_text().split())
    assert page.get_by_test_id("detail-output").count() == len(record["outputs"])
    provenance = page.get_by_test_id("detail-provenance").inner_text()
    assert f"{site[0]}/camera.jpg" in provenance and "harbour" in provenance
    run_link = page.get_by_test_id("detail-provenance").get_by_role("link", name="manual__", exact=False)
    assert "/dags/gallery_retrieve/runs/" in (run_link.first.get_attribute("href") or "")
    page.screenshot(path=str(tmp_path / "detail.png"), full_page=True)


def test_three_files_dropped_on_the_upload_page_end_processed_without_a_reload(admin, airflow, tmp_path):
    page = admin.page
    open_gallery(page, airflow["url"])
    page.get_by_role("link", name="Upload").click()
    navigations = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    files = []
    for i, colour in enumerate([(200, 40, 40), (40, 200, 40), (40, 40, 200)]):
        out = io.BytesIO()
        Image.new("RGB", (500 + 10 * i, 400), colour).save(out, "PNG")
        files.append({"name": f"dropped-{i}.png", "type": "image/png", "b64": base64.b64encode(out.getvalue()).decode()})
    transfer = page.evaluate_handle("""files => {
        const dt = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.b64), c => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name, {type: f.type}));
        }
        return dt;
    }""", files)
    page.get_by_test_id("upload-dropzone").dispatch_event("drop", {"dataTransfer": transfer})
    rows = page.get_by_test_id("upload-row")
    rows.nth(2).wait_for()
    assert rows.count() == 3
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('[data-testid=upload-row]')).every(r => r.dataset.phase === 'processed')",
        timeout=PROCESS_TIMEOUT * 1000, polling=500)
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=upload-row] "
                           "[data-testid=upload-picture][data-source=thumbnail]'))"
                           ".filter(i => i.complete && i.naturalWidth > 0).length === 3")  # each row's thumbnail
    assert navigations == []  # followed to the end without a reload
    shas = rows.evaluate_all("rs => rs.map(r => r.dataset.sha256)")
    for sha in shas:
        record = api(airflow, f"/gallery/api/images/{sha}")
        assert record["status"] == "processed" and record["sources"][0]["uploaded_by"] == "admin"
    page.screenshot(path=str(tmp_path / "upload.png"), full_page=True)


def test_a_request_runs_image_request_and_shows_its_steps_and_archive(admin, airflow, site, tmp_path):
    page = admin.page
    _, urls = site
    open_gallery(page, airflow["url"])
    page.get_by_role("link", name="Request").click()
    page.get_by_label("Keywords").fill("pier")
    page.get_by_label("Your email").fill("you@example.com")
    page.get_by_role("button", name="Advanced: other sources").click()
    page.get_by_label("Source", exact=True).select_option("urls")
    page.get_by_label("Image URLs").fill("\n".join(urls[:3]))
    page.get_by_role("button", name="Send request").click()
    state = page.get_by_test_id("request-run-state")
    state.wait_for()
    page.wait_for_function("() => ['success', 'failed'].includes("
                           "document.querySelector('[data-testid=request-run-state]').textContent.trim())",
                           timeout=PROCESS_TIMEOUT * 1000, polling=500)
    assert state.inner_text().strip() == "success"
    tasks = page.get_by_test_id("request-task")
    assert set(tasks.evaluate_all("ts => ts.map(t => t.dataset.taskId)")) >= {
        "check_request", "retrieve_images", "plan_processing", "process_batch", "deliver_archive"}
    states = dict(zip(tasks.evaluate_all("ts => ts.map(t => t.dataset.taskId)"),
                      tasks.evaluate_all("ts => ts.map(t => t.dataset.state)"), strict=True))
    # The images were in the gallery already: no batch to process (skipped), the rest succeeded.
    assert states["deliver_archive"] == "success" and set(states.values()) <= {"success", "skipped"}
    delivery = page.get_by_test_id("request-delivery")
    assert "you@example.com" in delivery.inner_text()
    with page.expect_download() as download:
        delivery.get_by_role("link", name="Download the archive").click()
    with zipfile.ZipFile(download.value.path()) as zf:
        assert len([n for n in zf.namelist() if n.startswith("images/")]) == 3
    page.screenshot(path=str(tmp_path / "request.png"), full_page=True)


def test_the_analytics_page_shows_the_days_metrics(admin, airflow, tmp_path):
    page = admin.page
    (metrics,) = [m for m in api(airflow, "/gallery/api/metrics") if m["day"] == TODAY]
    page.goto(f"{airflow['url']}/plugin/gallery/analytics?day={TODAY}")
    page.get_by_test_id("analytics-day").wait_for()
    for name in ("retrieved", "processed", "quarantined"):
        shown = page.get_by_test_id(f"headline-{name}").inner_text()
        assert f"{metrics[name]:,}" in shown or str(metrics[name]) in shown, (name, shown, metrics[name])
    assert page.get_by_test_id("analytics-by-source").locator("[data-testid=chart-bar], [data-testid=chart-point]").count() > 0
    page.screenshot(path=str(tmp_path / "analytics.png"), full_page=True)


def test_a_viewer_browses_but_is_refused_an_upload(browser, airflow, gallery, tmp_path):
    runs_before = airflow["rest"].get("/api/v2/dags/image_request/dagRuns?limit=100")["total_entries"]
    with watching(browser, airflow, "viewer") as viewer:
        page = viewer.page
        open_gallery(page, airflow["url"])
        page.get_by_test_id("gallery-item").first.wait_for()
        page.get_by_role("link", name="Upload").click()
        out = io.BytesIO()
        Image.new("RGB", (300, 200), (10, 10, 10)).save(out, "PNG")
        picked = tmp_path / "viewer.png"
        picked.write_bytes(out.getvalue())
        page.get_by_label("Files to upload").set_input_files([str(picked)])
        refused = page.get_by_test_id("upload-refused")
        refused.wait_for()
        assert "refused" in refused.inner_text().lower()
        assert page.get_by_test_id("upload-row").first.get_attribute("data-phase") == "refused"
        page.screenshot(path=str(tmp_path / "viewer-upload.png"), full_page=True)

        # ... nor a request: the gallery's request endpoint (Airflow's trigger right) refuses it, and the page says so.
        page.get_by_role("link", name="Request").click()
        page.get_by_label("Keywords").fill("pier")
        page.get_by_label("Your email").fill("viewer@example.com")
        page.get_by_role("button", name="Send request").click()
        error = page.get_by_test_id("request-error")
        error.wait_for()
        assert "may not trigger image_request" in error.inner_text(), error.inner_text()
        assert airflow["rest"].get("/api/v2/dags/image_request/dagRuns?limit=100")["total_entries"] == runs_before
