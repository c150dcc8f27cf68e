"""Seconds from an upload to the gallery, through the real API server and scheduler (issue 28).

    python benchmarks/bench_upload.py [--singles 20] [--batch 20] [--baseline REF | --no-baseline]
                                      [--json FILE]

For each code under test (this checkout, then the baseline: ``REF`` checked out into a temporary
``git worktree``, by default the commit before issue 28's first change), an ``airflow standalone``
as ``make run`` starts it (its metadata on PostgreSQL, the project's DAGs and plugin, the Airflow
settings ``scripts/env.sh`` gives it: ``config/airflow.env`` where the code has one), in a throw-away
home with the embedded default's store and catalog. Every DAG is active as under ``make run`` (the
analytics and the delivery follow each processed upload, and the inbox's watcher polls; the saved
searches and subscriptions ship empty, so nothing reaches the internet), but ``gallery_process``'s
hourly schedule is moved out of the way; the measurement starts once the runs the DAGs start on
their own have ended.

1. ``--singles`` photos uploaded one after another through ``POST /gallery/api/uploads`` as the
   ``admin`` user (a JWT from ``/auth/token``): for each, the seconds from the request until its
   record says processed and its thumbnail is served (``GET /gallery/api/images/{sha256}`` every
   0.1 s, then the thumbnail's URL); p50 and p95. Each upload waits until the runs the one before
   started have all ended (its analytics and delivery too), so each finds the pipeline idle as a
   person's next photo would; ``--back-to-back`` sends the next as soon as the last is seen.
2. ``--batch`` photos in one upload: the seconds until every one is processed and its thumbnail served.

The photos are the corpus's JPEGs of at most 8.5 megapixels (1-8.3 Mpx), each made a file of its own
by a JPEG comment naming its upload (same pixels, a sha256 of its own); both codes get the same bytes.

Where the seconds went, per hop, from Airflow's own records (dag runs' ``queued_at``, task instances'
``queued_when``/``start_date``/``end_date``) and each task's log (when its process began, parsed the
DAG file, finished its body): the upload's answer; until the ``gallery_inbox`` run is created
(the watcher's poll, or the upload's event); the run's scheduling until its task starts; the task's
start-up, DAG parse, work and wrap-up; until ``gallery_process``'s run is created; then each of its
tasks the same way, up to the batch that processed the photo; until the benchmark saw it. Medians
over the single uploads. The machine's load average is printed beside the figures.

Targets (issue 28), on an idle machine of two cores: one photo p50 <= 6 s, p95 <= 10 s; twenty <= 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # airflow_stack: the standalone harness the system tests use

# The commit before issue 28's first change (3a9130c, "Uploads start gallery_inbox at once").
BASELINE = "3a9130c~1"
MAX_MEGAPIXELS = 8.5
POLL_SECONDS = 0.1
TIMEOUT = 600.0
HARNESS_ONLY = ("AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL", "AIRFLOW__CORE__PARALLELISM")
TARGETS = {"single_p50": 6.0, "single_p95": 10.0, "batch": 30.0}


# --- the photos ----------------------------------------------------------------------------------

def corpus_jpegs() -> list[Path]:
    from airflow_stack import corpus_dir

    folder = corpus_dir()
    rows = [line.split("\t") for line in (folder / "MANIFEST.tsv").read_text().splitlines()[1:] if line]
    return [folder / r[0] for r in sorted(rows)
            if r[0].lower().endswith((".jpg", ".jpeg")) and int(r[2]) * int(r[3]) <= MAX_MEGAPIXELS * 1e6]


def with_comment(data: bytes, text: str) -> bytes:
    """The JPEG with a comment segment (COM) right after its start marker: a file of its own, same pixels."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    body = text.encode()
    return data[:2] + b"\xff\xfe" + (len(body) + 2).to_bytes(2, "big") + body + data[2:]


def photos(count: int, offset: int, label: str) -> list[tuple[str, bytes]]:
    jpegs = corpus_jpegs()
    chosen = [jpegs[(offset + i) % len(jpegs)] for i in range(count)]
    return [(f"{label}-{i:02d}-{p.name}", with_comment(p.read_bytes(), f"bench_upload {label} {i}"))
            for i, p in enumerate(chosen)]


# --- the gallery's API ---------------------------------------------------------------------------

class Gallery:
    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/"), token

    def call(self, path: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}", **(headers or {})})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()

    def upload(self, files: list[tuple[str, bytes]]) -> dict:
        boundary = uuid.uuid4().hex
        parts = [f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
                 f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n" for name, data in files]
        body = b"".join(parts) + f"--{boundary}--\r\n".encode()
        _, answer = self.call("/gallery/api/uploads", "POST", body,
                              {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return json.loads(answer)

    def record(self, sha256: str) -> dict | None:
        try:
            return json.loads(self.call(f"/gallery/api/images/{sha256}")[1])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def served(self, url: str) -> bool:
        path = url if url.startswith("/") else "/" + url
        return self.call(path)[0] == 200


def until_processed(gallery: Gallery, shas: list[str], started: float) -> dict[str, float]:
    """Seconds from ``started`` until each image is processed and its thumbnail served."""
    left, done = set(shas), {}
    while left:
        if time.monotonic() - started > TIMEOUT:
            raise SystemExit(f"{len(left)} uploads not processed after {TIMEOUT:.0f} s")
        for sha in sorted(left):
            doc = gallery.record(sha)
            if doc and doc["status"] in ("processed", "quarantined") and doc.get("thumb_url") \
                    and gallery.served(doc["thumb_url"]):
                done[sha] = time.monotonic() - started
                left.discard(sha)
            elif doc and doc["status"] == "quarantined":
                raise SystemExit(f"{sha} was quarantined: {doc.get('quarantine')}")
        time.sleep(POLL_SECONDS)
    return done


# --- the stack -----------------------------------------------------------------------------------

def code_env(code: Path) -> dict[str, str]:
    """What ``make run`` (scripts/env.sh) gives Airflow for the code in ``code``: its DAGs and plugin,
    no examples, and the Airflow settings of its ``config/airflow.env`` when it has one."""
    env = {"AIRFLOW__CORE__DAGS_FOLDER": str(code / "dags"), "AIRFLOW__CORE__PLUGINS_FOLDER": str(code / "plugins"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONPATH": str(code / "include"),
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # make run's
           "GALLERY_PROCESS_SCHEDULE": "0 0 1 1 *"}  # no hourly run in the middle
    from airflow_stack import AIRFLOW_ENV_FILE, read_env_file

    settings = code / "config" / "airflow.env"
    own = read_env_file(settings) if settings.is_file() else {}
    # The harness gives every stack this checkout's config/airflow.env: what the code under test does
    # not set itself goes back to Airflow's default, as its own make run had it.
    env.update({key: airflow_default(key) for key in read_env_file(AIRFLOW_ENV_FILE) if key not in own})
    # The harness's own choices for tests (DAG files parsed once, 4 executor processes) back to make run's.
    env.update({key: airflow_default(key) for key in HARNESS_ONLY})
    return {**env, **own}


def airflow_default(key: str) -> str:
    """Airflow's default for ``AIRFLOW__SECTION__OPTION``."""
    from airflow.configuration import conf

    section, option = key.removeprefix("AIRFLOW__").split("__", 1)
    return str(conf.get_default_value(section.lower(), option.lower()))


@contextmanager
def stack(code: Path) -> Iterator[dict]:
    from airflow_stack import airflow_standalone

    home = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    try:
        with airflow_standalone(home, code_env(code), "gallery_process", start_timeout=900) as server:
            rest = server["rest_api"]()
            server.update(rest=rest, gallery=Gallery(server["url"], rest.token))
            quiet(rest)
            yield server
    finally:
        shutil.rmtree(home, ignore_errors=True)


def quiet(rest, timeout: float = 600) -> None:
    """Until no run of any DAG is queued or running (each scheduled DAG starts a run of its own at first)."""
    deadline = time.monotonic() + timeout
    time.sleep(5)
    while time.monotonic() < deadline:
        busy = rest.get("/api/v2/dags/~/dagRuns?state=queued&state=running&limit=1")["total_entries"]
        if not busy:
            return
        time.sleep(1)
    raise SystemExit("the DAGs' first runs did not end")


# --- where the seconds went ----------------------------------------------------------------------

def when(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def task_log(home: Path, dag_id: str, run_id: str, task_id: str, map_index: int) -> dict[str, float]:
    """Times from a task's log: its first line, the DAG file's parse (begun, done), its body's end."""
    folder = home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
    if map_index >= 0:
        folder = folder / f"map_index={map_index}"
    logs = sorted(folder.glob("attempt=*.log"))
    marks: dict[str, float] = {}
    if not logs:
        return marks
    for line in logs[-1].read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        at, event = when(entry.get("timestamp")), str(entry.get("event", ""))
        if at is None:
            continue
        marks.setdefault("first", at)
        if event.startswith("Filling up the DagBag"):
            marks["parse"] = at
        elif event.startswith("Worker startup parse complete"):
            marks["parsed"] = at
        elif event.startswith(("Done. Returned value", "Skipping task", "Task failed")):
            marks["body_done"] = at
    return marks


def task_hops(home: Path, prefix: str, ti: dict, ready: float) -> dict[str, float]:
    """One task instance's seconds: waiting to start (from ``ready``), start-up, DAG parse, body, wrap-up."""
    start, end = when(ti["start_date"]), when(ti["end_date"])
    marks = task_log(home, ti["dag_id"], ti["dag_run_id"], ti["task_id"], ti["map_index"])
    hops = {f"{prefix}: until it starts": start - ready}
    if {"parse", "parsed", "body_done"} <= set(marks):
        hops[f"{prefix}: process start-up"] = marks["parse"] - start
        hops[f"{prefix}: DAG file parse (imports)"] = marks["parsed"] - marks["parse"]
        hops[f"{prefix}: body (work)"] = marks["body_done"] - marks["parsed"]
        hops[f"{prefix}: wrap-up (XCom, events, state)"] = end - marks["body_done"]
    else:
        hops[f"{prefix}: runs"] = end - start
    return hops


def task_instances(rest, dag_id: str, run_id: str) -> dict[str, list[dict]]:
    tis = rest.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000")["task_instances"]
    by_task: dict[str, list[dict]] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    return by_task


def hops_of(server: dict, upload: dict) -> dict[str, float]:
    """Where one single upload's seconds went, hop by hop (see the module's docstring)."""
    rest, home, gallery = server["rest"], server["home"], server["gallery"]
    doc = gallery.record(upload["sha256"])
    inbox_run = rest.get(f"/api/v2/dags/gallery_inbox/dagRuns/{doc['run_ids'][0]['run_id']}")
    processed_at = when(max(o["processed_at"] for o in doc["outputs"].values()))
    answered, seen = upload["answered_at"], upload["seen_at"]
    hops = {"upload: the API's answer": upload["answer_seconds"],
            "gallery_inbox: run created": when(inbox_run["queued_at"]) - answered}
    inbox = task_instances(rest, "gallery_inbox", inbox_run["dag_run_id"])["ingest_inbox"][0]
    hops.update(task_hops(home, "ingest_inbox", inbox, when(inbox_run["queued_at"])))
    # The gallery_process run whose task wrote the outputs: a batch, or plan_batches itself (a small plan).
    runs = rest.get("/api/v2/dags/gallery_process/dagRuns?limit=200&order_by=-run_after")["dag_runs"]
    for run in runs:
        tis = task_instances(rest, "gallery_process", run["dag_run_id"])
        wrote = [t for task_id in ("plan_batches", "process_batch") for t in tis.get(task_id, [])
                 if t["start_date"] and t["end_date"] and when(t["start_date"]) <= processed_at <= when(t["end_date"])]
        if wrote:
            break
    else:
        return hops
    hops["gallery_process: run created"] = when(run["queued_at"]) - when(inbox["end_date"])
    ready = when(run["queued_at"])
    for ti in [*tis.get("plan_batches", [])[:1], *[t for t in wrote if t["task_id"] == "process_batch"]]:
        hops.update(task_hops(home, ti["task_id"], ti, ready))
        ready = when(ti["end_date"])
    hops["seen processed (from the last output written: poll, thumbnail)"] = seen - processed_at
    return hops


# --- the scenarios -------------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure(code: Path, label: str, singles: int, batch: int, back_to_back: bool = False) -> dict[str, Any]:
    print(f"\n== {label}: {code}", flush=True)
    with stack(code) as server:
        gallery = server["gallery"]
        uploads = []
        for i, (name, data) in enumerate(photos(singles, 0, "single")):
            t0, wall0 = time.monotonic(), time.time()
            answer = gallery.upload([(name, data)])
            answered, wall_answered = time.monotonic(), time.time()
            (sha,) = [f["sha256"] for f in answer["files"]]
            seconds = until_processed(gallery, [sha], t0)[sha]
            uploads.append({"sha256": sha, "seconds": seconds, "answer_seconds": answered - t0,
                            "answered_at": wall_answered, "seen_at": wall0 + seconds,
                            "event": answer.get("event")})
            print(f"  single {i + 1:2d}/{singles}: {seconds:6.2f} s  (load {os.getloadavg()[0]:.1f})", flush=True)
            if not back_to_back:
                quiet(server["rest"])
        t0 = time.monotonic()
        answer = gallery.upload(photos(batch, singles, "batch"))
        done = until_processed(gallery, [f["sha256"] for f in answer["files"]], t0)
        batch_seconds = max(done.values())
        print(f"  {batch} in one upload: {batch_seconds:.2f} s", flush=True)
        hops = [hops_of(server, u) for u in uploads]
    names = list(dict.fromkeys(k for h in hops for k in h))
    seconds = [u["seconds"] for u in uploads]
    return {"code": str(code), "singles": seconds, "single_p50": statistics.median(seconds),
            "single_p95": pct(seconds, 0.95), "batch": batch_seconds, "batch_size": batch,
            "hops": {n: statistics.median([h[n] for h in hops if n in h]) for n in names},
            "load_average_after": os.getloadavg()}


def baseline_worktree(ref: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="bench-upload-baseline-"))
    target.rmdir()
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(target), ref], check=True,
                   capture_output=True)
    return target


def table(results: dict[str, dict]) -> str:
    labels = list(results)
    names = list(dict.fromkeys(n for r in results.values() for n in r["hops"]))
    width = max(len(n) for n in names) + 2
    lines = [f"{'hop (median of the single uploads, s)':<{width}}" + "".join(f"{lab:>12}" for lab in labels)]
    for name in names:
        lines.append(f"{name:<{width}}" + "".join(
            f"{results[lab]['hops'][name]:12.2f}" if name in results[lab]["hops"] else f"{'-':>12}" for lab in labels))
    for key, title in (("single_p50", "one photo p50"), ("single_p95", "one photo p95"), ("batch", "batch, all")):
        lines.append(f"{title:<{width}}" + "".join(f"{results[lab][key]:12.2f}" for lab in labels)
                     + f"   target <= {TARGETS[key]:.0f} s")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--back-to-back", action="store_true",
                        help="upload the next photo as soon as the last is seen processed")
    parser.add_argument("--baseline", default=BASELINE, help="the code to compare with (a git ref)")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "upload.json")
    args = parser.parse_args()
    # Airflow's configuration is read here for its defaults (code_env): not from a home of the user's.
    os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bench-upload-airflow-home-"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    results = {"this": measure(ROOT, "this checkout", args.singles, args.batch, args.back_to_back)}
    if not args.no_baseline:
        base = baseline_worktree(args.baseline)
        try:
            results["baseline"] = measure(base, f"baseline {args.baseline}", args.singles, args.batch,
                                          args.back_to_back)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    print("\n" + table(results))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    this = results["this"]
    met = this["single_p50"] <= TARGETS["single_p50"] and this["single_p95"] <= TARGETS["single_p95"] \
        and this["batch"] <= TARGETS["batch"]
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
