"""Folder mode: the processing engine over a folder of files, outside Airflow (``gallery process``,
:mod:`image_pipeline.cli.folder`, is its command line).

:func:`run` walks SRC recursively and mirrors it in DEST: with one recipe ``DEST/<path>.<ext>``,
with several ``DEST/<recipe>/<path>.<ext>`` (each image decoded once for all of them). Outputs
appear atomically (written aside, then renamed), so an interrupted run leaves no half files. A
progress bar with rate and ETA goes to standard error; the report (JSON with ``report=FILE``)::

    {"files": [{"source": <path relative to SRC>, "status": "ok" | "failed" | "quarantined", "reason": <text or null>,
                "target_met": <true | false; null without a size target or when quarantined>,
                "outputs": [{"recipe", "path" (relative to DEST), "format", "width", "height", "bytes",
                             "quality", "target_bytes" (or null), "target_met" (or null)}],
                "seconds"}],
     "totals": {"files", "ok", "quarantined", "outputs", "bytes_in", "bytes_out", "target_met",
                "target_missed", "seconds", "images_per_second"}}

A recipe's ``target_bytes`` (``--max-size``) makes the engine search the highest quality that fits;
``target_met`` is false when even its ``min_quality`` is too big (the output is then the smallest the
recipe allows). Failures are classified as the DAGs classify them (:mod:`image_pipeline.core.errors`):
a file that is not an image, or breaks a limit, is ``quarantined`` with the reason, and so is one whose
processing fails unexpectedly (a bug: the other files go on); a recipe that fails on a file (its
RecipeError: a crop outside the image) makes that file ``failed``, its reason naming the recipe, its
other outputs written; the machine failing (a full disk, memory, a model's runtime: what
``is_environmental`` recognises) stops the run, as every file would fail alike. Exit status of the
command: 0 when every file was processed, 1 when any was quarantined or failed, 2 on a usage error.
Limits come from the same settings as the DAGs (``GALLERY_DOWNLOAD_MAX_PIXELS``, ``GALLERY_MAX_FRAMES``,
``GALLERY_IMAGE_TIME_LIMIT``).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, TextIO

USAGE_ERROR = 2


class UsageError(Exception):
    pass


def plan_outputs(src: Path, dest: Path, recipes: list[Any]) -> list[tuple[Path, dict[str, Path]]]:
    """Each file under ``src`` (sorted, hidden ones left out) with its output path per recipe.

    Outputs keep the source's relative path with the recipe's extension; when two sources in one
    folder share a stem (``a.jpg``, ``a.png``) their original extension stays in the name."""
    files = sorted(p for p in src.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(src).parts))
    stems = Counter((p.parent, p.stem) for p in files)
    planned = []
    for path in files:
        rel = path.relative_to(src)
        base = rel.name if stems[(path.parent, path.stem)] > 1 else rel.stem
        outs = {}
        for recipe in recipes:
            folder = dest / rel.parent if len(recipes) == 1 else dest / recipe.name / rel.parent
            outs[recipe.name] = folder / f"{base}.{recipe.ext}"
        planned.append((path, outs))
    return planned


def process_one(src: Path, outs: dict[str, Path], recipes: list[Any], limits: Any, dest: Path) -> dict[str, Any]:
    """Process one file with ``recipes`` (:class:`~image_pipeline.process.recipes.Recipe` objects,
    pickled to worker processes); returns its report entry (paths absolute). Outputs are written in
    a hidden folder inside ``dest`` (same file system), then renamed."""
    from image_pipeline.process.engine import process_image
    from image_pipeline.core.errors import BadImage, is_environmental

    started = time.perf_counter()
    entry: dict[str, Any] = {"source": str(src), "status": "ok", "reason": None, "target_met": None, "outputs": [],
                             "bytes_in": src.stat().st_size}
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".gallery-", dir=dest) as tmp:
        try:
            result = process_image(src, recipes, lambda r: Path(tmp) / f"{r.name}.{r.ext}", limits=limits)
        except BadImage as exc:  # the image's fault
            entry.update(status="quarantined", reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - the file's boundary: one file's bug never stops the run, the machine's does
            if is_environmental(exc):
                raise  # a full disk, memory, a model's runtime: every file would fail alike
            entry.update(status="quarantined", reason=f"processing failed: {type(exc).__name__}: {exc}")
        else:
            if result.failures:  # the recipes' fault: their outputs are not written, the others are
                entry.update(status="failed", reason="; ".join(f["reason"] for f in result.failures.values()))
            for recipe in recipes:
                if recipe.name in result.failures:
                    continue
                facts = result.outputs[recipe.name]
                final = outs[recipe.name]
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(facts["path"], final)  # atomic: the file appears whole or not at all
                entry["outputs"].append({"recipe": recipe.name, "path": str(final), "format": facts["format"],
                                         "width": facts["width"], "height": facts["height"], "bytes": facts["bytes"],
                                         "quality": facts["quality"], "target_bytes": facts.get("target_bytes"),
                                         "target_met": facts.get("target_met")})
            targeted = [o["target_met"] for o in entry["outputs"] if o["target_bytes"] is not None]
            entry["target_met"] = all(targeted) if targeted else None
    entry["seconds"] = round(time.perf_counter() - started, 6)
    return entry


def _worker_init() -> None:
    """One image at a time per worker process: OpenCV's own thread pool would only contend with the
    other workers for the same cores."""
    import cv2

    cv2.setNumThreads(1)


WORKER_PRELOAD = ("image_pipeline.process.folder", "image_pipeline.process.engine", "numpy", "cv2")


def _run_in_pool(planned: list[tuple[Path, dict[str, Path]]], recipes: list[Any], limits: Any, dest: Path,
                 workers: int, progress: Progress) -> list[dict[str, Any]]:
    """``planned`` over ``workers`` processes: the largest files first (a 40 Mpx photo started last
    would leave the other workers idle while it finishes), at most two files queued per worker
    (memory stays flat in the folder's size, and a worker that is free takes the next file)."""
    by_size = sorted(planned, key=lambda item: -item[0].stat().st_size)
    entries: list[dict[str, Any]] = []
    # Workers forked from a fresh server process, never from this one: a fork of a process whose
    # libraries run threads (OpenCV's pool, after a first image) can inherit a lock held forever.
    context = multiprocessing.get_context("forkserver")
    # The server imports the engine and its native libraries once, before any worker is forked from it:
    # each worker starts warm instead of paying those imports (about a second) on its first image.
    # Importing starts no thread (only decoding does), so forking the server stays safe.
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_worker_init) as pool:
        queued = iter(by_size)
        running = {pool.submit(process_one, path, outs, recipes, limits, dest)
                   for path, outs in itertools.islice(queued, 2 * workers)}
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                entries.append(future.result())
                progress.advance()
            for path, outs in itertools.islice(queued, len(done)):
                running.add(pool.submit(process_one, path, outs, recipes, limits, dest))
    return entries


class Progress:
    """``[#####.....] 12/73  16%  3.2 img/s  ETA 0:00:19`` on one line of standard error."""

    def __init__(self, total: int, stream: TextIO = sys.stderr, width: int = 30):
        self.total, self.stream, self.width = total, stream, width
        self.done = 0
        self.started = time.perf_counter()
        self.last_draw = 0.0

    def advance(self) -> None:
        self.done += 1
        now = time.perf_counter()
        if now - self.last_draw >= 0.1 or self.done == self.total:
            self.last_draw = now
            self.draw(now)

    def draw(self, now: float) -> None:
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate else 0.0
        filled = round(self.width * self.done / max(1, self.total))
        minutes, secs = divmod(round(left), 60)
        eta = f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if self.done < self.total else "done"
        self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
                          f"{100 * self.done / max(1, self.total):3.0f}%  {rate:.1f} img/s  ETA {eta}   ")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def run(src: Path, dest: Path, recipes: list[Any], workers: int = 1, report: Path | None = None,
        progress_stream: TextIO = sys.stderr, limits: Any = None) -> tuple[int, dict[str, Any]]:
    """Process the folder ``src`` into ``dest``; returns (exit status, report). ``recipes`` are
    :class:`~image_pipeline.process.recipes.Recipe` objects (or names and YAML paths, looked up in
    the shipped recipes); ``limits`` default to :class:`Limits`' (the CLI passes the settings')."""
    from image_pipeline.process.limits import Limits
    from image_pipeline.core.errors import InvalidRequest, RecipeError
    from image_pipeline.process.recipes import get_recipe

    if not src.is_dir():
        raise UsageError(f"SRC is not a folder: {src}")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    try:
        recipes = [get_recipe(r) if isinstance(r, str) else r for r in recipes]
        limits = limits or Limits()
    except (InvalidRequest, RecipeError) as exc:  # an unknown or broken recipe
        raise UsageError(str(exc)) from None
    if len({r.name for r in recipes}) != len(recipes):
        raise UsageError("a recipe is named twice")
    src, dest = src.resolve(), dest.resolve()
    if dest == src or src in dest.parents:
        raise UsageError("DEST must not be inside SRC (it would be walked as input)")
    planned = plan_outputs(src, dest, recipes)
    progress = Progress(len(planned), progress_stream)
    started = time.perf_counter()
    entries = []
    if workers == 1:
        for path, outs in planned:
            entries.append(process_one(path, outs, recipes, limits, dest))
            progress.advance()
    else:
        entries = _run_in_pool(planned, recipes, limits, dest, workers, progress)
    seconds = time.perf_counter() - started
    files = []
    for entry in sorted(entries, key=lambda e: e["source"]):
        entry["source"] = str(Path(entry["source"]).relative_to(src))
        for out in entry["outputs"]:
            out["path"] = str(Path(out["path"]).relative_to(dest))
        files.append(entry)
    quarantined = sum(1 for e in files if e["status"] == "quarantined")
    failed = sum(1 for e in files if e["status"] == "failed")
    totals = {
        "files": len(files), "ok": len(files) - quarantined - failed, "quarantined": quarantined, "failed": failed,
        "outputs": sum(len(e["outputs"]) for e in files), "bytes_in": sum(e.pop("bytes_in") for e in files),
        "bytes_out": sum(o["bytes"] for e in files for o in e["outputs"]),
        "target_met": sum(1 for e in files if e["target_met"] is True),
        "target_missed": sum(1 for e in files if e["target_met"] is False), "seconds": round(seconds, 3),
        "images_per_second": round(len(files) / seconds, 3) if seconds else None,
    }
    result = {"files": files, "totals": totals}
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        partial = report.with_name(f".{report.name}.part")
        partial.write_text(json.dumps(result, indent=2))
        os.replace(partial, report)
    return (1 if quarantined or failed else 0), result
