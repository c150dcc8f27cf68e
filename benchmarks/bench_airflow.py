"""Airflow's overhead: ``gallery_process`` in a real ``airflow standalone`` against the library alone,
both on the same images, on 2 cores, side by side in one run.

    python benchmarks/bench_airflow.py [--images N] [--corpus DIR] [--workers 2] [--json FILE] [--no-cli]

1. The images: ``N`` distinct photos (default 1,000) derived from the real-photo corpus (crops at a
   few megapixels, each source's format re-encoded: every file has its own sha256), made once and
   cached in ``.cache/bench-airflow/``.
2. The library on ``--workers`` processes: the same images ingested into a throw-away store and
   catalog, then ``process_batch`` (what each mapped task of the DAG runs: the DAG's default recipes,
   features and labels model from the same ``GALLERY_*`` settings) over them in a process pool that
   hands out a few images at a time, one engine thread per process, as ``gallery process --workers``
   does; each worker loads its models once. This is the denominator: the same work as the DAG's.
3. For reference, ``gallery process --workers N`` (the CLI's folder mode: the recipes alone, no
   catalog, no features) over the same files.
4. Airflow: the same images ingested into the store and catalog of an ``airflow standalone``
   (LocalExecutor, SQLite, the project's DAGs; ``make run``'s configuration in a throw-away home),
   ``gallery_process`` triggered through the REST API and timed from the trigger (the run's
   ``queued_at``) to its end (``end_date``). Where the time beyond the library's goes comes from the
   task instances (queued, start, end), and from each batch's own report of its processing seconds
   (its XCom): scheduling delays, the plan and summarize tasks, each task's start-up (process,
   imports, DAG file, model load), per-image time in a batch against the library's, and the idle
   core at the tail when the batches end unevenly.

The model load is timed alone too (one process, cold). Prints a table and writes it as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import itertools
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # airflow_stack: the standalone harness the system tests use

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
LONG_SIDE = (1600, 3200)  # the derived photos' longest side: 1.5-6 Mpx at 3:2
LIBRARY_CHUNK = 4  # images the library's pool hands a worker at a time


# --- the images ----------------------------------------------------------------------------------

def corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.suffix.lower() in SUFFIXES)


def _derive(job: tuple[str, list[tuple[int, str]]]) -> int:
    """Crops of one source photo (opened once), each scaled to a few megapixels and re-encoded in
    the source's format with its own seed: distinct contents, real-photo statistics."""
    from PIL import Image, ImageOps

    src, outputs = job
    with Image.open(src) as opened:
        opened.draft("RGB", (LONG_SIDE[1], LONG_SIDE[1]))  # JPEG: decode no larger than needed
        im = ImageOps.exif_transpose(opened).convert("RGB")
    for seed, dest in outputs:
        rng = random.Random(seed)
        area = rng.uniform(0.45, 0.9)
        w, h = max(64, int(im.width * area ** 0.5)), max(64, int(im.height * area ** 0.5))
        x, y = rng.randint(0, im.width - w), rng.randint(0, im.height - h)
        crop = im.crop((x, y, x + w, y + h))
        long_side = rng.randint(*LONG_SIDE)
        if max(w, h) > long_side:
            scale = long_side / max(w, h)
            crop = crop.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
        # A pixel of its own: a plain artwork's crops would otherwise be the same file.
        crop.putpixel((0, 0), (seed % 256, seed // 256 % 256, 255 - seed % 251))
        fmt = FORMATS[Path(dest).suffix]
        options = {"JPEG": {"quality": rng.randint(85, 93)}, "WEBP": {"quality": rng.randint(80, 90)},
                   "PNG": {"compress_level": 3}}[fmt]
        tmp = Path(dest).with_suffix(".part")
        crop.save(tmp, fmt, **options)
        tmp.replace(dest)  # a cache that an interrupted run leaves whole
    return len(outputs)


def make_images(corpus: Path, count: int, cache: Path, workers: int) -> Path:
    """``count`` derived photos (made once in ``cache/images``, the first ``count`` of them linked
    into ``cache/images-<count>``), each a distinct file."""
    every = cache / "images"
    sources = corpus_files(corpus)
    if not sources:
        raise SystemExit(f"no images in {corpus}")
    plan: dict[str, list[tuple[int, str]]] = {}
    for i in range(count):
        src = sources[i % len(sources)]
        suffix = ".jpg" if src.suffix.lower() == ".jpeg" else src.suffix.lower()
        dest = every / f"{i:05d}-{src.stem}{suffix}"
        if not dest.exists():
            plan.setdefault(str(src), []).append((i, str(dest)))
    if plan:
        every.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with ProcessPoolExecutor(workers) as pool:
            made = sum(pool.map(_derive, sorted(plan.items())))
        print(f"made {made} images in {every} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    folder = cache / f"images-{count}"
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(p for p in every.iterdir() if p.suffix in FORMATS)[:count]:
        if not (folder / path.name).exists():
            os.link(path, folder / path.name)
    files = sorted(p for p in folder.iterdir() if p.suffix in FORMATS)
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    if len(files) != count or len(digests) != count:
        raise SystemExit(f"{folder}: {len(files)} files, {len(digests)} distinct, {count} wanted")
    return folder


def describe_images(folder: Path) -> dict:
    from PIL import Image

    files = sorted(p for p in folder.iterdir() if p.suffix in FORMATS)
    mpx = []
    for p in files:
        with Image.open(p) as im:
            mpx.append(im.width * im.height / 1e6)
    by_format: dict[str, int] = {}
    for p in files:
        by_format[FORMATS[p.suffix]] = by_format.get(FORMATS[p.suffix], 0) + 1
    return {"images": len(files), "megapixels_mean": round(sum(mpx) / len(mpx), 2),
            "megapixels_max": round(max(mpx), 2), "bytes": sum(p.stat().st_size for p in files),
            "formats": by_format}


def ingest(folder: Path, store_root: Path, catalog_path: Path) -> int:
    """The images into a store and catalog, as an upload or a retrieval leaves them (not timed)."""
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import LocalStore
    from image_pipeline.retrieve import ingest_folder

    with SqliteCatalog(catalog_path) as catalog:
        ingest_folder(LocalStore(store_root), catalog, folder, keyword="bench", run_id="manual__bench")
        return len(catalog.find())


# --- the library ---------------------------------------------------------------------------------

_worker: dict = {}


def _library_worker_init(env: dict[str, str]) -> None:
    """One worker of the library's pool: the settings, one engine thread, the feature extractor
    (its models load on the first image and stay for the process's life)."""
    os.environ.update(env)
    import cv2

    from image_pipeline import wiring

    cv2.setNumThreads(1)
    cfg = wiring.settings()
    _worker["cfg"] = cfg
    _worker["extraction"] = wiring.feature_extraction(cfg)


def _library_chunk(recipes: list[str], sha256s: list[str]) -> dict:
    from image_pipeline import wiring
    from image_pipeline.process.batches import process_batch

    cfg = _worker["cfg"]
    started = time.perf_counter()
    with wiring.catalog(cfg) as catalog:
        counts = process_batch(wiring.object_store(cfg), catalog, recipes, sha256s, limits=wiring.limits(cfg),
                               book=wiring.recipe_book(cfg, catalog), **_worker["extraction"])
    return {**counts, "seconds": time.perf_counter() - started, "pid": os.getpid()}


def run_library(folder: Path, root: Path, workers: int) -> dict:
    """``process_batch`` over the images on ``workers`` processes, a few images at a time."""
    from image_pipeline import wiring
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.process.batches import plan_batches
    from image_pipeline.settings import Settings
    import multiprocessing

    env = {"GALLERY_STORE_URL": (root / "data").as_uri(), "GALLERY_SQLITE_PATH": str(root / "catalog.sqlite3")}
    ingest(folder, root / "data", root / "catalog.sqlite3")
    os.environ.update(env)
    cfg = Settings.from_env()
    recipes = wiring.processing_recipes(cfg, cfg.processing.recipe_names())
    with SqliteCatalog(root / "catalog.sqlite3") as catalog:
        chunks = plan_batches(catalog, recipes, LIBRARY_CHUNK, features_version=wiring.features_version(cfg),
                              book=wiring.recipe_book(cfg, catalog))
    totals = {"processed": 0, "quarantined": 0, "skipped": 0}
    busy = 0.0
    pids = set()
    started = time.perf_counter()
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_library_worker_init,
                             initargs=(env,)) as pool:
        queued = iter(chunks)
        running = {pool.submit(_library_chunk, recipes, c) for c in _take(queued, 2 * workers)}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                busy += result.pop("seconds")
                pids.add(result.pop("pid"))
                for k in totals:
                    totals[k] += result[k]
            running |= {pool.submit(_library_chunk, recipes, c) for c in _take(queued, len(done))}
    seconds = time.perf_counter() - started
    images = sum(len(c) for c in chunks)
    return {"seconds": round(seconds, 2), "images": images, **totals, "workers": workers, "processes": len(pids),
            "recipes": recipes, "features": cfg.models.features, "labels": cfg.models.labels,
            "embeddings": cfg.models.embeddings,
            "busy_seconds": round(busy, 2), "seconds_per_image": round(busy / max(images, 1), 4)}


def _take(iterator, n: int) -> list:
    return list(itertools.islice(iterator, n))


def run_cli(folder: Path, dest: Path, workers: int, recipes: list[str]) -> dict:
    """``gallery process SRC DEST --workers N`` with the DAG's recipes (folder mode: no features)."""
    argv = [str(Path(sys.executable).parent / "gallery"), "process", str(folder), str(dest), "--workers", str(workers)]
    for name in recipes:
        argv += ["--recipe", name]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"gallery process failed: {done.stderr[-2000:]}")
    totals = json.loads(done.stdout)  # the totals
    return {"seconds": round(seconds, 2), "workers": workers, "recipes": recipes, "ok": totals.get("ok")}


MODEL_LOAD = """
import time
t = time.perf_counter()
from image_pipeline.process.models import embedding
embedding.session()
print(time.perf_counter() - t)
"""


def model_load_seconds() -> float:
    """The labels/embedding network loaded in a fresh process (onnxruntime's import included), as each
    task process that computes features pays once."""
    done = subprocess.run([sys.executable, "-c", MODEL_LOAD], capture_output=True, text=True, check=True)
    return round(float(done.stdout.strip().splitlines()[-1]), 2)


# --- Airflow -------------------------------------------------------------------------------------

def _when(text: str | None) -> float | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None


def _xcom_value(value):
    """An XCom entry's value as the REST API gives it: JSON, or its JSON or Python text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        import ast

        return ast.literal_eval(value)


def run_airflow(folder: Path, home: Path, batch_size: int | None, extra_env: dict[str, str]) -> dict:
    from airflow_stack import airflow_standalone

    ingest(folder, home / "data", home / "catalog.sqlite3")  # the store and catalog the standalone's env names
    env = {  # make run's configuration (scripts/env.sh) in the throw-away home
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # Only gallery_process unpaused (below): the other DAGs' own runs would share the cores.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        # No hourly run in the middle: but unpaused, the DAG still starts one run of its own for the
        # cron's latest tick (catchup off), which may be the one that does the work (see below).
        "GALLERY_PROCESS_SCHEDULE": "0 0 1 1 *",
        **extra_env,
    }
    # On a busy shared machine the components can take longer than the tests allow to come up; their
    # start is not part of the measurement.
    with airflow_standalone(home, env, "gallery_process", start_timeout=900) as stack:
        rest = stack["rest_api"]()
        base = "/api/v2/dags/gallery_process"
        rest.patch(base, {"is_paused": False})
        conf = {"batch_size": batch_size} if batch_size else {}
        run = rest.post(f"{base}/dagRuns", {"logical_date": None, "conf": conf})
        triggered = time.time()
        while True:  # every run ended: the triggered one, and the one the schedule may have started first
            try:
                runs = rest.get(f"{base}/dagRuns?limit=100")["dag_runs"]
            except OSError:  # the API server too busy to answer in 30 s: ask again
                runs = []
            if runs and all(r["state"] in ("success", "failed") for r in runs):
                break
            if time.time() - triggered > 4 * 3600:
                raise SystemExit(f"gallery_process still running after 4 hours: see {home}")
            time.sleep(1)
        seen_end = time.time()
        # The measured run is the one that processed the images (both planned from the same catalog;
        # max_active_runs=1, so the second found nothing left): from its creation (queued_at, the
        # images already waiting) to its end.
        measured = None
        for candidate in sorted(runs, key=lambda r: r["queued_at"]):
            url = f"{base}/dagRuns/{candidate['dag_run_id']}"
            tis = rest.get(f"{url}/taskInstances?limit=1000")["task_instances"]
            # A run that found nothing left maps process_batch over nothing: one instance, map_index -1.
            if any(ti["task_id"] == "process_batch" and ti["map_index"] >= 0 for ti in tis):
                measured, run_url, info = candidate, url, rest.get(url)
                break
        if measured is None:
            raise SystemExit(f"no run of gallery_process processed the images (runs: {runs}); see {home}")
        reports = {}
        for ti in tis:
            if ti["task_id"] == "process_batch" and ti["state"] == "success":
                entry = rest.get(f"{run_url}/taskInstances/process_batch/xcomEntries/return_value"
                                 f"?map_index={ti['map_index']}")
                reports[ti["map_index"]] = _xcom_value(entry["value"])
        other_runs = [{"run_id": r["dag_run_id"], "run_type": r["run_type"], "state": r["state"]}
                      for r in runs if r["dag_run_id"] != info["dag_run_id"]]
        load = os.getloadavg()
    if info["state"] != "success":
        raise SystemExit(f"gallery_process ended {info['state']}: see {home}/standalone.log and its task logs")
    return {"run": info, "triggered_run": run["dag_run_id"], "task_instances": tis, "batch_reports": reports,
            "triggered": triggered,
            "seen_end": seen_end, "other_runs": other_runs, "load_after": load}


def breakdown(airflow: dict, library: dict) -> dict:
    """Where Airflow's time goes, from its task instances (server clock, one machine)."""
    run = airflow["run"]
    queued, end = _when(run["queued_at"]), _when(run["end_date"])
    start = _when(run["start_date"])
    tis = airflow["task_instances"]
    by_task: dict[str, list] = {}
    for ti in tis:
        by_task.setdefault(ti["task_id"], []).append(ti)
    plan = by_task["plan_batches"][0]
    summary = by_task["summarize"][0]
    batches = sorted((ti for ti in by_task.get("process_batch", []) if ti["map_index"] >= 0 and ti["end_date"]),
                     key=lambda ti: ti["map_index"])
    reports = airflow["batch_reports"]
    rows = []
    for ti in batches:
        report = reports.get(ti["map_index"], {})
        images = sum(report.get(k, 0) for k in ("processed", "quarantined", "skipped"))
        duration = _when(ti["end_date"]) - _when(ti["start_date"])
        body = report.get("seconds")
        rows.append({"map_index": ti["map_index"], "images": images,
                     "queued_to_start": round(_when(ti["start_date"]) - _when(ti["queued_when"]), 2),
                     "duration": round(duration, 2), "body_seconds": body,
                     "start_overhead": round(duration - body, 2) if body is not None else None,
                     "seconds_per_image": round(body / images, 4) if body and images else None})
    first_batch_start = min(_when(ti["start_date"]) for ti in batches) if batches else None
    last_batch_end = max(_when(ti["end_date"]) for ti in batches) if batches else None
    batch_ends = sorted(_when(ti["end_date"]) for ti in batches)
    body_total = sum(r["body_seconds"] or 0 for r in rows)
    images = sum(r["images"] for r in rows)

    def span(a, b):
        return round(b - a, 2) if a is not None and b is not None else None

    return {
        "total": span(queued, end),
        "trigger_to_run_start": span(queued, start),
        "run_start_to_plan_start": span(start, _when(plan["start_date"])),
        "plan_task": span(_when(plan["start_date"]), _when(plan["end_date"])),
        "plan_end_to_first_batch_start": span(_when(plan["end_date"]), first_batch_start),
        "batches_wall": span(first_batch_start, last_batch_end),
        "last_batch_end_to_summarize_start": span(last_batch_end, _when(summary["start_date"])),
        "summarize_task": span(_when(summary["start_date"]), _when(summary["end_date"])),
        "summarize_end_to_run_end": span(_when(summary["end_date"]), end),
        # The second core idle at the end: the last batch's end after the second-to-last's.
        "tail_one_core_idle": round(batch_ends[-1] - batch_ends[-2], 2) if len(batch_ends) > 1 else 0.0,
        "batches": len(batches),
        "batch_images": [r["images"] for r in rows],
        "batch_body_seconds_total": round(body_total, 2),
        "batch_start_overhead_total": round(sum(r["start_overhead"] or 0 for r in rows), 2),
        "batch_queued_to_start_total": round(sum(r["queued_to_start"] for r in rows), 2),
        "batch_seconds_per_image": round(body_total / images, 4) if images else None,
        "library_seconds_per_image": library["seconds_per_image"],
        "per_batch": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="distinct images (default 1000)")
    parser.add_argument("--corpus", type=Path, default=None, help="real photos (default: .cache/wallpapers or "
                        "$IMAGE_PIPELINE_CORPUS, built by scripts/fetch-corpus)")
    parser.add_argument("--workers", type=int, default=2, help="the library's processes (the cores: 2)")
    parser.add_argument("--batch-size", type=int, default=None, help="the DAG form's batch size (default: automatic)")
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI folder-mode reference")
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "bench-airflow")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "airflow.json")
    parser.add_argument("--keep", action="store_true", help="keep the throw-away homes (their logs)")
    args = parser.parse_args()

    corpus = args.corpus
    if corpus is None:
        from airflow_stack import corpus_dir

        corpus = next((c for c in (ROOT / ".cache" / "wallpapers",) if (c / "MANIFEST.tsv").is_file()), None) \
            or corpus_dir()
    load_before = os.getloadavg()
    print(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; {os.cpu_count()} cores",
          file=sys.stderr)
    folder = make_images(corpus, args.images, args.cache, args.workers)
    images = describe_images(folder)
    work = Path(tempfile.mkdtemp(prefix="bench-airflow-"))
    print(f"work in {work}", file=sys.stderr)

    model_load = model_load_seconds()
    print("library ...", file=sys.stderr)
    library = run_library(folder, work / "library", args.workers)
    print(f"library: {library['seconds']} s", file=sys.stderr)
    cli = None
    if not args.no_cli:
        print("cli ...", file=sys.stderr)
        cli = run_cli(folder, work / "cli", args.workers, library["recipes"])
        print(f"cli: {cli['seconds']} s", file=sys.stderr)
    print("airflow ...", file=sys.stderr)
    airflow = run_airflow(folder, work / "airflow", args.batch_size,
                          {k: v for k, v in os.environ.items() if k.startswith("GALLERY_") and k not in (
                              "GALLERY_STORE_URL", "GALLERY_SQLITE_PATH")})
    raw = args.json.with_name(args.json.stem + "-raw.json")  # what the breakdown is computed from
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"library": library, "cli": cli, "airflow": airflow}, indent=2, default=str))
    parts = breakdown(airflow, library)
    load_after = airflow["load_after"]
    ratio = parts["total"] / library["seconds"]

    report = {
        "images": images, "corpus": str(corpus), "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "library": library, "cli_reference": cli, "model_load_seconds": model_load,
        "airflow": {"seconds": parts["total"], "batch_size": args.batch_size or "auto",
                    "measured_run": airflow["run"]["dag_run_id"], "triggered_run": airflow["triggered_run"],
                    "other_runs": airflow["other_runs"], "breakdown": parts},
        "ratio_airflow_to_library": round(ratio, 3),
        "target": 1.3,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print_table(report)
    print(f"\nwritten: {args.json}")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def print_table(report: dict) -> None:
    lib, parts = report["library"], report["airflow"]["breakdown"]
    im = report["images"]
    print(f"\nAirflow's overhead: {im['images']} images ({im['megapixels_mean']} Mpx mean, {im['formats']}), "
          f"{report['cores']} cores, load {report['load_average_before'][0]} before / "
          f"{report['load_average_after'][0]} after")
    print(f"recipes {','.join(lib['recipes'])}; features {lib['features']}, labels {lib['labels']}, "
          f"embeddings {lib['embeddings']}")
    rows = [("library: process_batch on %d processes" % lib["workers"], lib["seconds"], "1.00")]
    if report["cli_reference"]:
        cli = report["cli_reference"]
        rows.append(("  reference: gallery process --workers %d (recipes only)" % cli["workers"], cli["seconds"],
                     f"{cli['seconds'] / lib['seconds']:.2f}"))
    rows.append((f"gallery_process under airflow standalone ({parts['batches']} batches)", parts["total"],
                 f"{report['ratio_airflow_to_library']:.2f}"))
    width = max(len(r[0]) for r in rows)
    print(f"\n{'':{width}}  {'seconds':>8}  {'ratio':>6}")
    for name, seconds, ratio in rows:
        print(f"{name:{width}}  {seconds:8.1f}  {ratio:>6}")
    print(f"\nmeasured run: {report['airflow']['measured_run']} (triggered: {report['airflow']['triggered_run']})")
    print("where Airflow's time goes (seconds):")
    for key in ("trigger_to_run_start", "run_start_to_plan_start", "plan_task", "plan_end_to_first_batch_start",
                "batches_wall", "tail_one_core_idle", "last_batch_end_to_summarize_start", "summarize_task",
                "summarize_end_to_run_end"):
        print(f"  {key:36} {parts[key]}")
    print(f"  batches: images {parts['batch_images']}; queued->start {parts['batch_queued_to_start_total']} s "
          f"in all; task start-up (duration - processing) {parts['batch_start_overhead_total']} s in all")
    print(f"  per image: {parts['batch_seconds_per_image']} s in a batch, {parts['library_seconds_per_image']} s "
          f"in the library's pool; model load {report['model_load_seconds']} s per process "
          f"({parts['batches']} task processes, {lib['processes']} library processes)")


if __name__ == "__main__":
    main()
