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
import threading
import urllib.request
import zipfile
from datetime import datetime, timezone
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from airflow_stack import airflow_standalone, corpus_dir, wait_for
from support import trigger_form
from support.samples import make_samples
from system.test_report_browser import FLAGS, chromium

TODAY = datetime.now(timezone.utc).date().isoformat()
PROCESS_TIMEOUT = 420
# Non-2xx answers the pages ask for on purpose (Chromium logs each as a console error).
EXPECTED_REFUSALS = ("/gallery/api/uploads", "/gallery/api/requests")  # a viewer's 403s, shown on the page


def camera_photo(path: Path) -> Path:
    """A real photograph of the corpus (so the labeller has something to name) at 800x600, with a
    camera's EXIF: make, model, lens, exposure, taken-at and GPS."""
    photos = sorted((p for p in corpus_dir().iterdir() if p.suffix.lower() in (".jpg", ".jpeg")),
                    key=lambda p: p.stat().st_size)
    with Image.open(photos[len(photos) // 2]) as original:
        im = original.convert("RGB").resize((800, 600))
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "EOS 5D"
    exif[0x0132] = "2026:08:01 12:34:56"
    exif.get_ifd(0x8769).update({0x829A: 1 / 250, 0x829D: 8.0, 0x8827: 100, 0xA434: "EF 24-105mm"})
    exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 23.0, 24.0), 3: "W", 4: (4.0, 29.0, 9.0)})
    im.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return path


@pytest.fixture(scope="module")
def site():
    """Sample images (one with a camera's EXIF and GPS) on loopback; returns (base URL, their URLs)."""
    root = Path(tempfile.mkdtemp(prefix="image-pipeline-gallery-www-"))
    files = [p for p in make_samples(root) if p.name not in ("broken.jpg", "truncated.jpg")]
    files.append(camera_photo(root / "camera.jpg"))
    handler = partial(SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[assignment]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield base, [f"{base}/{p.name}" for p in files]
    server.shutdown()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def airflow(site):
    home = Path(tempfile.mkdtemp(prefix="image-pipeline-gallery-ui-"))
    env = {"GALLERY_ALLOWED_HOSTS": "127.0.0.1", "GALLERY_CRAWL_IDLE_TIMEOUT": "3",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer"}
    try:
        with airflow_standalone(home, env, "gallery_process") as server:
            passwords = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
            server["passwords"] = passwords
            server["rest"] = server["rest_api"]()
            yield server
    finally:
        shutil.rmtree(home, ignore_errors=True)


def api(airflow, path: str):
    request = urllib.request.Request(airflow["url"] + path, headers={"Authorization": f"Bearer {airflow['rest'].token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def trigger(rest, dag_id: str, conf: dict) -> str:
    for _attempt in range(10):  # SQLite has one writer: the scheduler may hold it for a moment
        try:
            return rest.post(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]
        except AssertionError as exc:
            if "HTTP 500" not in str(exc):
                raise
            import time

            time.sleep(3)
    raise AssertionError(f"could not trigger {dag_id}")


def finished(rest, dag_id: str, run_id: str, timeout: float = PROCESS_TIMEOUT) -> str:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
    return wait_for(lambda: (s := rest.get(path)["state"]) in ("success", "failed") and s, timeout, f"{dag_id} {run_id}")


@pytest.fixture(scope="module")
def gallery(airflow, site):
    """The loopback images retrieved and processed by the real DAGs, and the day's analytics."""
    _, urls = site
    run_id = trigger(airflow["rest"], "gallery_retrieve", {"engine": "urls", "keywords": ["harbour"], "urls": urls})
    assert finished(airflow["rest"], "gallery_retrieve", run_id) == "success"
    wait_for(lambda: api(airflow, "/gallery/api/images?status=processed")["count"] == len(urls), PROCESS_TIMEOUT,
             "gallery_process to process every retrieved image")
    runs = airflow["rest"].get("/api/v2/dags/gallery_process/dagRuns?order_by=-run_after&limit=1")["dag_runs"]
    finished(airflow["rest"], "gallery_process", runs[0]["dag_run_id"])
    analytics = trigger(airflow["rest"], "gallery_analytics", {"day": TODAY})
    assert finished(airflow["rest"], "gallery_analytics", analytics) == "success"
    return api(airflow, "/gallery/api/images?status=processed&limit=100")["items"]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        engine = pw.chromium.launch(executable_path=chromium(), headless=True, args=FLAGS)
        yield engine
        engine.close()


class Watched:
    """A logged-in page whose page errors and unexpected console errors are collected."""

    def __init__(self, browser, airflow, user: str):
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
        if any(part in where for part in EXPECTED_REFUSALS):
            return
        self.problems.append(f"console error: {msg.text} ({where})")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def admin(browser, airflow, gallery):
    watched = Watched(browser, airflow, "admin")
    yield watched
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
    viewer = Watched(browser, airflow, "viewer")
    try:
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
    finally:
        viewer.close()
    assert viewer.problems == []
