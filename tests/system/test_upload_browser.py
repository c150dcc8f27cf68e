"""A photo dropped on the gallery's Upload page, in Chromium against `airflow standalone`: its picture is
on its row within a second of the drop (the file as the browser has it), the upload's own Asset event
starts gallery_inbox (not the watcher's poll), and the row follows the image to processed, where the
pipeline's thumbnail replaces the dropped file, with the runs it went through. The stack is
test_gallery_browser.py's fixtures, the browser tests/system/conftest.py's."""

from __future__ import annotations

import base64

from airflow_stack import corpus_dir, wait_for
from support.gallery_stack import PROCESS_TIMEOUT
from support.gallery_ui import watching
from system.test_gallery_browser import airflow, site  # noqa: F401

PICTURE_WITHIN_MS = 1000

DROP_AND_WAIT_FOR_THE_PICTURE = """async ({b64, name, limitMs}) => {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, {type: "image/jpeg"}));
    const zone = document.querySelector("[data-testid=upload-dropzone]");
    const dropped = performance.now();
    zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    return await new Promise((resolve) => {
        const look = () => {
            const img = document.querySelector("[data-testid=upload-row] [data-testid=upload-picture]");
            const waited = performance.now() - dropped;
            if (img && img.complete && img.naturalWidth > 0) {
                resolve({ms: waited, source: img.dataset.source, width: img.naturalWidth, height: img.naturalHeight});
            } else if (waited > 10 * limitMs) {
                resolve({ms: waited, source: img ? img.dataset.source : null, width: 0, height: 0});
            } else {
                requestAnimationFrame(look);
            }
        };
        look();
    });
}"""


def test_a_dropped_photo_is_shown_at_once_then_followed_to_its_thumbnail(browser, airflow, tmp_path):  # noqa: F811
    from PIL import Image

    photo = min((p for p in corpus_dir().iterdir() if p.suffix.lower() == ".jpg"), key=lambda p: p.stat().st_size)
    with Image.open(photo) as im:
        size = im.size
    with watching(browser, airflow, "admin") as admin:
        page = admin.page
        page.goto(f"{airflow['url']}/plugin/gallery/upload")  # an empty gallery: straight to the page
        page.get_by_test_id("upload-dropzone").wait_for()

        shown = page.evaluate(DROP_AND_WAIT_FOR_THE_PICTURE, {"b64": base64.b64encode(photo.read_bytes()).decode(),
                                                              "name": photo.name, "limitMs": PICTURE_WITHIN_MS})
        # The dropped file itself, whole, before the server has answered or the pipeline run.
        assert shown["source"] == "local" and (shown["width"], shown["height"]) == size, shown
        assert shown["ms"] < PICTURE_WITHIN_MS, f"the picture took {shown['ms']:.0f} ms to show"
        print(f"the dropped photo's picture on its row {shown['ms']:.0f} ms after the drop")
        page.screenshot(path=str(tmp_path / "dropped.png"), full_page=True)

        row = page.get_by_test_id("upload-row").first
        page.wait_for_function("() => document.querySelector('[data-testid=upload-row]').dataset.phase === 'processed'",
                               timeout=PROCESS_TIMEOUT * 1000, polling=250)
        picture = row.get_by_test_id("upload-picture")
        page.wait_for_function("() => { const i = document.querySelector('[data-testid=upload-row] "
                               "[data-testid=upload-picture]'); return i.dataset.source === 'thumbnail' && "
                               "i.complete && i.naturalWidth > 0; }")
        assert picture.evaluate("i => i.naturalWidth") < size[0]  # the pipeline's thumbnail, not the file
        # The runs the upload's event started, followed until they end: gallery_inbox's first.
        runs = page.get_by_test_id("upload-run")
        first = wait_for(lambda: runs.count() and runs.first.get_attribute("data-state") == "success" and runs.first,
                         60, "gallery_inbox's run ended on the page")
        assert first.inner_text().startswith("gallery_inbox")
        page.screenshot(path=str(tmp_path / "processed.png"), full_page=True)

    # gallery_inbox ran on the upload's own event (the uploader in its extra), not the watcher's.
    rest = airflow["rest"]
    (run,) = rest.get("/api/v2/dags/gallery_inbox/dagRuns")["dag_runs"]
    events = rest.get(f"/api/v2/dags/gallery_inbox/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")["asset_events"]
    assert [e["extra"].get("uploaded_by") for e in events] == ["admin"]
