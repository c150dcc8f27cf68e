"""Schemathesis against the gallery's API served as in production: Airflow's own API server app (its
plugins mounted, the gallery at /gallery, the simple auth manager's JWTs), over HTTP on loopback, the
schema loaded from the served /gallery/openapi.json as an admin, every check, a fixed seed and a bounded
number of generated cases per operation: no failure. Twice: on the full install, and on an install
without the models' runtimes (hidden in the server's process, fewer cases): no route answers a 500.

Everything the fuzzer changes is thrown away: the gallery's store and catalog are a copy in a temporary
folder (uploads land in its inbox, the trash and tags in its catalog), and the runs POST /api/requests
starts are rows of the session's temporary Airflow metadata DB, which nothing executes.

Where a check cannot know what the schema cannot say, schemathesis.toml (written below) allows one more
status for that operation only, with the reason beside it. IMAGE_PIPELINE_SCHEMATHESIS_SEED and
IMAGE_PIPELINE_SCHEMATHESIS_EXAMPLES explore further.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from support.without_ml import without_ml

SEED = int(os.environ.get("IMAGE_PIPELINE_SCHEMATHESIS_SEED", "25"))
# Cases per operation and phase: with the coverage phase's own cases, about 40 s on two shared cores.
MAX_EXAMPLES = int(os.environ.get("IMAGE_PIPELINE_SCHEMATHESIS_EXAMPLES", "40"))
DAGS_DIR = Path(__file__).resolve().parents[3] / "dags"

POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis' own default


def config(shas: list[str]) -> str:
    """schemathesis.toml: real images for half the sha256s drawn (else every image route is a 404), and
    the operations whose valid requests may be refused for what JSON Schema cannot say."""
    allow = {
        # The cursor is opaque: one this API did not give is refused (400), whatever its text.
        ("GET", "/api/images"): ["400"],
        # Whether bytes are a picture (and within the pixel limit) is not a schema's to say.
        ("POST", "/api/similar"): ["400"],
        # A recipe's validity (a colour that parses, a picture that exists, parameters that go together)
        # is the recipe parser's: a chain it refuses is a 422 with its reason.
        ("POST", "/api/images/{sha256}/preview"): ["422"],
        ("POST", "/api/recipes"): ["422"],
        # conf is checked by Airflow against image_request's Params, which live in the DAG, not here.
        ("POST", "/api/requests"): ["400"],
    }
    lines = ['[dictionaries.images]', f'values = {json.dumps(shas)}', '',
             # Tags are printable text (the catalog's rule, str.isprintable), which JSON Schema cannot say:
             # valid tags are drawn from these (invalid ones are still generated, and must be refused).
             '[dictionaries.tags]', 'values = ["lighthouse", "best of 2026", "à revoir", "灯台", "sea-side"]', '',
             '[parameters]', '"path.sha256" = { dictionary = "images", probability = 0.5 }',
             '"body.sha256s[*]" = { dictionary = "images", probability = 0.5 }',
             '"body.tags[*]" = { dictionary = "tags", probability = 1.0 }', '']
    for (method, path), extra in allow.items():
        lines += ['[[operations]]', f'include-name = "{method} {path}"',
                  f'checks.positive_data_acceptance.expected-statuses = {json.dumps(POSITIVE_DEFAULT + extra)}', '']
    return "\n".join(lines)


@pytest.fixture(scope="module")
def image_request_in_db(auth_manager):
    """image_request parsed and serialized into the metadata DB, as the DAG processor does: POST
    /api/requests then creates real runs (queued, never run)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=str(DAGS_DIR / "image_request.py"))
    assert bag.import_errors == {}
    sync_bag_to_db(bag, "dags-folder", None)


@pytest.fixture(params=["full", "base"])
def airflow_api(request, auth_manager, image_request_in_db, gallery_files, tmp_path):
    """Airflow's API server app with the plugins (the gallery at /gallery), its gallery on a throw-away
    copy of the test gallery, served by uvicorn on a free loopback port; yields (base URL, sha256s).
    ``base``: without the models' runtimes, hidden while it serves (support/without_ml.py)."""
    import contextlib
    import shutil

    import uvicorn
    from airflow.api_fastapi.app import create_app
    from starlette.routing import Mount

    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import LocalStore
    from image_pipeline.settings import Settings
    from image_pipeline.ui.backends import Backends
    from support.synthetic import insert_docs

    original, docs = gallery_files
    store = LocalStore(shutil.copytree(original.root, tmp_path / "store"))
    path = tmp_path / "catalog.sqlite3"
    with SqliteCatalog(path) as catalog:
        insert_docs(catalog, docs)
    app = create_app(apps="core")
    gallery = next(r.app for r in app.routes if isinstance(r, Mount) and r.path == "/gallery")
    # The catalog from the settings, as in production (the similar-images index the process's, saved in
    # its cache folder).
    gallery.state.backends = Backends(Settings(store={"store_url": store.url}, catalog={"sqlite_path": str(path)}, models={"similar_cache_dir": str(tmp_path / "similar")}), store=store)
    from airflow_stack import free_port

    hidden = without_ml() if request.param == "base" else contextlib.nullcontext()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    with hidden:
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.1)
        try:
            yield f"http://127.0.0.1:{port}", [d["sha256"] for d in docs], request.param
        finally:
            server.should_exit = True
            thread.join(30)


@pytest.mark.timeout(300)
def test_schemathesis_finds_no_failure(airflow_api, tokens, tmp_path):
    base, shas, install = airflow_api
    examples = MAX_EXAMPLES if install == "full" else max(1, MAX_EXAMPLES // 4)  # base: every route, fewer cases
    (tmp_path / "schemathesis.toml").write_text(config(shas))
    command = [str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(tmp_path / "schemathesis.toml"),
               "run", f"{base}/gallery/openapi.json", "--url", f"{base}/gallery",
               "--header", f"Authorization: Bearer {tokens['admin']}", "--checks", "all",
               "--seed", str(SEED), "--max-examples", str(examples), "--workers", "1",
               "--generation-database", "none", "--no-color"]
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True, timeout=280, cwd=tmp_path,
                         env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    print(" ".join(command[:2] + ["<config>"] + command[3:]).replace(tokens["admin"], "<admin JWT>"))
    print(output[-6000:])
    print(f"{seconds:.0f} s")
    assert run.returncode == 0, output[-20000:]
    served = urllib.request.Request(f"{base}/gallery/openapi.json", headers={"Authorization": f"Bearer {tokens['admin']}"})
    with urllib.request.urlopen(served) as answer:
        operations = sum(len(methods) for methods in json.load(answer)["paths"].values())
    tested, cases = re.search(r"Tested: (\d+)", output), re.search(r"(\d+) generated, (\d+) passed", output)
    assert tested and int(tested.group(1)) == operations >= 25, output[-3000:]  # every operation, none skipped
    assert cases and cases.group(1) == cases.group(2) and int(cases.group(1)) > 25 * examples, output[-3000:]
