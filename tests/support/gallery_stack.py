"""The gallery's `airflow standalone` stack as the browser tests use it: started with its users'
passwords and a REST client, images retrieved and processed by the real DAGs, runs triggered and
followed, the gallery's API read with the REST client's token."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PIL import Image

from airflow_stack import airflow_standalone, corpus_dir, dag_parsed, wait_for

PROCESS_TIMEOUT = 420


@contextmanager
def standalone_with_logins(home: Path, env: dict[str, str], dag_id: str = "gallery_process") -> Iterator[dict]:
    """:func:`airflow_standalone` in ``home`` (removed afterwards) with ``passwords`` (each user's, as
    standalone generated them: AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS) and ``rest`` (a RestApi as admin)."""
    try:
        with airflow_standalone(home, env, dag_id) as server:
            server["passwords"] = json.loads((home / "simple_auth_manager_passwords.json.generated").read_text())
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
            time.sleep(3)
    raise AssertionError(f"could not trigger {dag_id}")


def finished(rest, dag_id: str, run_id: str, timeout: float = PROCESS_TIMEOUT) -> str:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"
    return wait_for(lambda: (s := rest.get(path)["state"]) in ("success", "failed") and s, timeout, f"{dag_id} {run_id}")


def retrieved_and_processed(airflow, urls: list[str], keyword: str) -> list[dict]:
    """``urls`` retrieved by a gallery_retrieve run and processed by gallery_process, the last of its runs
    followed to its end; the processed images' records."""
    # The stack waits for gallery_process's parsing; the DAG processor may serialize gallery_retrieve after it.
    wait_for(lambda: dag_parsed(airflow["rest"], "gallery_retrieve"), 120, "gallery_retrieve to be parsed", interval=0.5)
    run_id = trigger(airflow["rest"], "gallery_retrieve", {"engine": "urls", "keywords": [keyword], "urls": urls})
    assert finished(airflow["rest"], "gallery_retrieve", run_id) == "success"
    wait_for(lambda: api(airflow, "/gallery/api/images?status=processed")["count"] == len(urls), PROCESS_TIMEOUT,
             "gallery_process to process every retrieved image")
    runs = airflow["rest"].get("/api/v2/dags/gallery_process/dagRuns?order_by=-run_after&limit=1")["dag_runs"]
    finished(airflow["rest"], "gallery_process", runs[0]["dag_run_id"])
    return api(airflow, "/gallery/api/images?status=processed&limit=100")["items"]


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
