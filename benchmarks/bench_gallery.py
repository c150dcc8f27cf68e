"""The gallery's API at scale: a filtered page of 60 from 100,000 images, and a thumbnail.

    python benchmarks/bench_gallery.py [--images N] [--requests N]

Generates N realistic catalog documents over 100 days (tests/support/synthetic.py, the tests'
generator: keywords, labels, sources, formats, faces, near-duplicates, quarantines) into a SQLite
catalog, writes real thumbnail files for a few hundred of them into a local store, then asks the
gallery's FastAPI app (``image_pipeline.ui.create_app``, in process, through Starlette's TestClient)
for filtered pages (keyword, label, source, status, format, faces, near-duplicates, date ranges;
first pages and pages further on through the cursor; each with its count) and for thumbnails
(``/api/images/{sha256}/thumb``, streamed from the local file). Targets, at p95: a page under
100 ms, a thumbnail under 10 ms.

Authentication: the app's own read-permission dependency is overridden (``app.dependency_overrides``)
so the figures are the gallery's own work; in Airflow, checking the JWT and the permission adds the
auth manager's cost (a signature check and, for DAG permissions, one metadata-DB query).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE_TARGET_MS, THUMB_TARGET_MS = 100.0, 10.0


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from fastapi.testclient import TestClient
    from PIL import Image
    from support.synthetic import gallery_docs, insert_docs

    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import LocalStore
    from image_pipeline.settings import Settings
    from image_pipeline.ui import create_app
    from image_pipeline.ui.auth import can_read
    from image_pipeline.ui.backends import Backends

    tmp = Path(tempfile.mkdtemp(prefix="bench-gallery-"))
    db, store = tmp / "catalog.sqlite3", LocalStore(tmp / "store")
    started = time.perf_counter()
    days = 100
    with SqliteCatalog(db) as catalog:
        count = insert_docs(catalog, gallery_docs([date(2026, 1, 1) + timedelta(days=i) for i in range(days)],
                                                  args.images // days))
        with_thumbs = [d for d in catalog.list_images({"status": "processed"}, limit=500)[0] if "thumb" in d["outputs"]]
        facets = catalog.facets()
    load_seconds = time.perf_counter() - started
    rng = random.Random(3)
    for doc in with_thumbs:
        out = io.BytesIO()
        Image.new("RGB", (320, 214), tuple(rng.randrange(256) for _ in range(3))).save(out, "JPEG", quality=85)
        store.put_bytes(doc["outputs"]["thumb"]["key"], out.getvalue())

    app = create_app(Backends(Settings(store={"store_url": store.url}, catalog={"sqlite_path": str(db)}), store=store,
                              catalog=lambda: SqliteCatalog(db)))
    app.dependency_overrides[can_read] = lambda: None  # see the docstring: the gallery's own cost
    names = lambda kind: [f["name"] for f in facets[kind][:8]]  # noqa: E731
    filters = [
        lambda: {"keyword": rng.choice(names("keywords"))},
        lambda: {"label": rng.choice(names("labels"))},
        lambda: {"source": rng.choice(names("sources")), "since": "2026-02-01", "until": "2026-02-28"},
        lambda: {"status": "processed", "has_faces": "true"},
        lambda: {"format": "PNG", "sort": "oldest"},
        lambda: {"duplicates": "true"},
        lambda: {"keyword": rng.choice(names("keywords")), "label": rng.choice(names("labels")), "status": "processed"},
        lambda: {"status": "quarantined"},
        lambda: {},
    ]
    pages, thumbs = [], []
    with TestClient(app) as client:
        for i in range(args.requests):
            params = {**filters[i % len(filters)](), "limit": 60}
            t = time.perf_counter()
            body = client.get("/api/images", params=params).json()
            for _ in range(i % 3):  # a page further on, through the cursor
                if not body["next_cursor"]:
                    break
                t = time.perf_counter()
                body = client.get("/api/images", params={**params, "cursor": body["next_cursor"]}).json()
            pages.append((time.perf_counter() - t) * 1000)
            assert len(body["items"]) <= 60 and "count" in body
        for i in range(args.requests * 2):
            doc = with_thumbs[i % len(with_thumbs)]
            t = time.perf_counter()
            response = client.get(f"/api/images/{doc['sha256']}/thumb")
            thumbs.append((time.perf_counter() - t) * 1000)
            assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    rows = [("filtered page of 60 (with count)", pages, PAGE_TARGET_MS),
            ("thumbnail from local files", thumbs, THUMB_TARGET_MS)]
    print(f"\ngallery API over {count:,} images in SQLite (generated and indexed in {load_seconds:.0f} s)")
    print(f"{'request':<36}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}{'target':>9}  ok")
    results = {"images": count, "requests": {}}
    ok = True
    for name, values, target in rows:
        line_ok = p95(values) < target
        ok &= line_ok
        print(f"{name:<36}{len(values):>6}{statistics.median(values):>9.2f}{p95(values):>9.2f}{max(values):>9.2f}"
              f"{'< ' + format(target, 'g'):>9}  {'yes' if line_ok else 'NO'}")
        results["requests"][name] = {"n": len(values), "p50_ms": round(statistics.median(values), 3),
                                     "p95_ms": round(p95(values), 3), "target_ms": target}
    out = ROOT / "benchmarks" / "results" / "gallery.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
