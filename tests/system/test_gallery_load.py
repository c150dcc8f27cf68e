"""The gallery under load while processing runs: 50 locust clients browse the gallery's pages,
facets, details and thumbnails for 30 s through a real `airflow standalone` (the plugin's API behind
Airflow's auth), while gallery_process works through a large batch (the load starts once a batch is
being processed). No request may fail; the figures (requests, failures, p95) are printed and kept in
the test's folder."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

from airflow_stack import airflow_standalone, wait_for

# 30 s of load: some 2,000 requests at the 70 req/s two shared cores serve (500 asked), enough for
# a p95; the processing under way meanwhile (about 0.2 image/s under the load) still processes some.
USERS, SECONDS = 50, 30
BROWSABLE, PENDING = 60, 600  # processed before the load (thumbnails to browse), and left for gallery_process
LOCUSTFILE = Path(__file__).resolve().parents[1] / "support" / "locustfile.py"


def make_images(folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        im = Image.new("RGB", (2400, 1800), ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256))
        draw = ImageDraw.Draw(im)
        draw.ellipse([100 + i % 200, 100, 1400, 1000 - i % 300], fill=((i * 13) % 256, 200, 90))
        draw.text((40, 40), f"load image {i}", fill=(255, 255, 255))
        im.save(folder / f"load-{i:04d}.jpg", "JPEG", quality=90)


def prepare_gallery(home: Path) -> None:
    """Images in the store and catalog the standalone uses: some processed (the gallery shows them),
    the rest pending for gallery_process."""
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import LocalStore
    from image_pipeline.process import plan_batches, process_batch
    from image_pipeline.retrieve import ingest_folder

    make_images(home / "images", BROWSABLE + PENDING)
    store = LocalStore(home / "data")
    with SqliteCatalog(home / "catalog.sqlite3") as catalog:
        ingest_folder(store, catalog, home / "images", keyword="load", run_id="manual__load")
        first = plan_batches(catalog, ["half_gray", "thumb"], BROWSABLE)[0]
        process_batch(store, catalog, ["half_gray", "thumb"], first)


def test_fifty_clients_browse_while_processing_runs():
    home = Path(tempfile.mkdtemp(prefix="image-pipeline-load-"))
    prepare_gallery(home)
    # Features on (labels off: no model), the web recipe too: about half a second of work per image.
    env = {"GALLERY_FEATURES": "true", "GALLERY_LABELS": "none", "GALLERY_RECIPES": "half_gray,web",
           "AIRFLOW__CORE__PARALLELISM": "2"}
    with airflow_standalone(home, env, "gallery_process") as stack:
        rest = stack["rest_api"]()
        # The DAG, unpaused, starts a run of its own (its schedule); else this one works through the batch.
        rest.post("/api/v2/dags/gallery_process/dagRuns", {"logical_date": None, "conf": {"batch_size": 50}})
        runs = "/api/v2/dags/gallery_process/dagRuns?state=running"
        wait_for(lambda: rest.get(runs)["total_entries"] > 0, 120, "gallery_process to start")
        run_url = f"/api/v2/dags/gallery_process/dagRuns/{rest.get(runs)['dag_runs'][0]['dag_run_id']}"

        def batch_running() -> bool:
            tis = rest.get(f"{run_url}/taskInstances?limit=100")["task_instances"]
            return any(t["task_id"] == "process_batch" and t["state"] == "running" for t in tis)
        # The load starts once a batch is being processed (not while the run still plans it), so the
        # whole load overlaps the processing it is meant to compete with.
        wait_for(batch_running, 120, "a gallery_process batch to run", interval=0.5)

        def processed() -> int:
            return rest.get("/gallery/api/images?status=processed&limit=1")["count"]
        before = processed()
        prefix = home / "locust"
        started = time.monotonic()
        done = subprocess.run(
            [str(Path(sys.executable).parent / "locust"), "-f", str(LOCUSTFILE), "--headless", "-u", str(USERS),
             "-r", "25", "-t", f"{SECONDS}s", "--host", stack["url"], "--csv", str(prefix), "--only-summary",
             "--stop-timeout", "5"],
            env={**os.environ, "LOAD_TOKEN": rest.token}, capture_output=True, text=True, timeout=SECONDS + 120)
        elapsed = time.monotonic() - started
        after = processed()
        state_after = rest.get(run_url)["state"]
    with open(f"{prefix}_stats.csv", newline="") as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    total = rows["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    p95, median = total["95%"], total["50%"]
    print(f"\ngallery load: {USERS} clients for {SECONDS} s: {requests} requests, {failures} errors, "
          f"p95 {p95} ms, median {median} ms, {float(total['Requests/s']):.1f} req/s; "
          f"gallery_process processed {after - before} images meanwhile ({before} -> {after}), now {state_after}")
    assert done.returncode in (0, 1), done.stderr[-2000:]  # locust exits 1 when a request failed
    assert requests > 500 and failures == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert elapsed >= SECONDS
    # Processing was really going on during the load: images were processed while the clients browsed.
    assert after > before
