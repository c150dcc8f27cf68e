"""Processing against the fastest tools, side by side, on one core, on real photos.

    python benchmarks/bench_process.py IMAGES_DIR [--repeat N] [--json FILE] [--batch N] [--webp N] [--clock cpu|wall]

Why one module: one run, one table; every part shares the corpus, the clock and the side-by-side timer.

The corpus is IMAGES_DIR plus WebP copies of its first ``--webp`` JPEGs (made once, next to it in
``IMAGES_DIR-webp``), so that each input format is measured. Times are CPU seconds of the process
(and of its children, for ImageMagick) by default: on a shared machine wall time mostly measures
the neighbours; ``--clock wall`` on a quiet one. Parts, all in one run:

1. The seed-000 transform (half size, grayscale, JPEG q85) by the project's ``half_gray`` recipe
   and by the anchors: a naive Pillow script (open, resize, convert, save: every pixel decoded at
   full size), OpenCV's reduced decode (``IMREAD_REDUCED_GRAYSCALE_2``), pyvips with
   shrink-on-load, and ImageMagick's ``convert`` where it is installed. Contenders alternate image
   by image in one process pinned to one core (best of ``--repeat`` per image); each one's peak
   RSS is measured in a child process of its own. Ratios per format (JPEG, PNG, WebP) and overall.
2. ``web`` (1920 px WebP q80) and ``thumb`` (320 px progressive JPEG q80) against the anchors doing
   the same transform with the same encoder settings: a naive Pillow script, Pillow's ``thumbnail``
   with its draft mode, OpenCV (reduced decode, Lanczos resize) and pyvips' ``thumbnail``; where
   ``web``'s time goes (decode, resize, encode). Like the recipes, every anchor keeps transparency
   in WebP and lays it on white in JPEG, and resizes with Lanczos; the recipes with ``filter: box``
   are compared apart with OpenCV's area resize (the same box filter).
3. The three shipped recipes together (one decode) against each alone; features alone; the
   gallery's processing (``process_batch``: object store, catalog, features without and with the
   labels model) against the CLI's three recipes plus the features alone (target: at most 1.25x).
4. Memory: peak RSS of the ``gallery process`` loop over ``--batch`` images (the corpus cycled)
   against 10 images, both starting with the largest files.

Prints tables (images/s, Mpx/s, peak RSS, ratios) and writes them as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("VIPS_CONCURRENCY", "1")  # one core for every contender
os.environ.setdefault("OMP_NUM_THREADS", "1")

from PIL import Image  # noqa: E402

from image_pipeline.core.errors import BadImage  # noqa: E402
from image_pipeline.process.engine import process_image  # noqa: E402
from image_pipeline.process.recipes import get_recipe  # noqa: E402


def cpu_seconds() -> float:
    """CPU time of this process and its waited-for children (ImageMagick runs as one)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


CLOCKS = {"cpu": cpu_seconds, "wall": time.perf_counter}
clock = cpu_seconds  # main() sets the one --clock names

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def naive_pillow(src: Path, dest: Path) -> None:
    """The hand-written script: open, resize, convert, save."""
    with Image.open(src) as im:
        small = im.resize((max(1, im.width // 2), max(1, im.height // 2)))
        small.convert("L").save(dest, "JPEG", quality=85)


def opencv_reduced(src: Path, dest: Path) -> None:
    import cv2

    im = cv2.imread(str(src), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    if im is None:
        raise BadImage("opencv cannot read it")
    cv2.imwrite(str(dest), im, [cv2.IMWRITE_JPEG_QUALITY, 85])


def pyvips_shrink(src: Path, dest: Path) -> None:
    import pyvips

    header = pyvips.Image.new_from_file(str(src))
    # thumbnail shrinks on load (JPEG DCT scaling, WebP and others' own reduce) then resamples.
    im = pyvips.Image.thumbnail(str(src), max(1, header.width // 2), height=max(1, header.height // 2), size="force")
    im.colourspace("b-w").jpegsave(str(dest), Q=85, strip=True)


def imagemagick(src: Path, dest: Path) -> None:
    subprocess.run([IMAGEMAGICK, str(src), "-resize", "50%", "-colorspace", "Gray", "-quality", "85", str(dest)],
                   check=True, capture_output=True)


# --- web and thumb against the anchors: the same transform, the same encoder settings -----------

FIT = {"web": 1920, "thumb": 320}  # longest side, never enlarged


def fit_size(size: tuple[int, int], longest: int) -> tuple[int, int]:
    f = min(1.0, longest / max(size))
    return max(1, round(size[0] * f)), max(1, round(size[1] * f))


def pillow_save(im: Image.Image, dest: Path, kind: str) -> None:
    if kind == "web":
        im.save(dest.with_suffix(".webp"), "WEBP", quality=80, method=4)
    else:
        im.save(dest, "JPEG", quality=80, progressive=True, optimize=True)


# Transparency, as the recipes treat it: ``web`` (WebP) keeps it, ``thumb`` (JPEG) lays it on white.
# An anchor that dropped the alpha channel would do less work and a different transform (a
# transparent logo's hidden colours shown), so every anchor does the same.

def transparent(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info


def pillow_pixels(im: Image.Image, kind: str) -> Image.Image:
    if not transparent(im):
        return im.convert("RGB")
    rgba = im.convert("RGBA")
    if kind == "web":
        return rgba
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat


def naive_fit(kind: str) -> Callable[[Path, Path], None]:
    def run(src: Path, dest: Path) -> None:
        with Image.open(src) as im:
            pixels = pillow_pixels(im, kind)
            pillow_save(pixels.resize(fit_size(pixels.size, FIT[kind]), Image.Resampling.LANCZOS), dest, kind)
    return run


def pillow_thumbnail(kind: str) -> Callable[[Path, Path], None]:
    def run(src: Path, dest: Path) -> None:
        with Image.open(src) as im:
            # draft (JPEG DCT scaling), then reduce + LANCZOS, the recipes' filter (its default is BICUBIC)
            im.thumbnail((FIT[kind], FIT[kind]), Image.Resampling.LANCZOS)
            pillow_save(pillow_pixels(im, kind), dest, kind)
    return run


def opencv_fit(kind: str, cv2_filter: str = "lanczos") -> Callable[[Path, Path], None]:
    """OpenCV: the reduced decode, then its Lanczos (8x8 taps) or its area resize (a box filter)."""
    def run(src: Path, dest: Path) -> None:
        import cv2
        import numpy as np

        with Image.open(src) as im:  # the header: the reduced decode's factor, and whether there is alpha
            size, alpha = im.size, transparent(im)
        target = fit_size(size, FIT[kind])
        if alpha:  # no reduced decode keeps the alpha channel
            pixels = cv2.imread(str(src), cv2.IMREAD_UNCHANGED)
            if pixels is not None and pixels.dtype != np.uint8:
                pixels = (pixels >> 8).astype(np.uint8)
            if pixels is not None and pixels.ndim == 2:
                pixels = cv2.cvtColor(pixels, cv2.COLOR_GRAY2BGR)
        else:
            factor = next((k for k in (8, 4, 2) if size[0] // k >= target[0] and size[1] // k >= target[1]), 1)
            flag = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                    8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
            pixels = cv2.imread(str(src), flag)
        if pixels is None:
            raise BadImage("opencv cannot read it")
        interpolation = cv2.INTER_AREA if cv2_filter == "area" else cv2.INTER_LANCZOS4
        pixels = cv2.resize(pixels, target, interpolation=interpolation)
        if pixels.ndim == 3 and pixels.shape[2] == 4 and kind != "web":  # laid on white, after the resize
            a = pixels[:, :, 3:].astype(np.float32) / 255
            pixels = (pixels[:, :, :3] * a + 255 * (1 - a)).round().astype(np.uint8)
        if kind == "web":
            cv2.imwrite(str(dest.with_suffix(".webp")), pixels, [cv2.IMWRITE_WEBP_QUALITY, 80])
        else:
            cv2.imwrite(str(dest), pixels, [cv2.IMWRITE_JPEG_QUALITY, 80, cv2.IMWRITE_JPEG_PROGRESSIVE, 1,
                                            cv2.IMWRITE_JPEG_OPTIMIZE, 1])
    return run


def pyvips_thumbnail(kind: str) -> Callable[[Path, Path], None]:
    def run(src: Path, dest: Path) -> None:
        import pyvips

        im = pyvips.Image.thumbnail(str(src), FIT[kind], height=FIT[kind], size="down")  # shrink-on-load
        if kind == "web":
            im.webpsave(str(dest.with_suffix(".webp")), Q=80, effort=4, strip=True)
        else:
            if im.hasalpha():
                im = im.flatten(background=255)
            im.jpegsave(str(dest), Q=80, interlace=True, optimize_coding=True, strip=True)
    return run


def fit_contenders(kind: str) -> dict[str, Callable[[Path, Path], None]]:
    """The recipe and the anchors doing its transform (Lanczos: the recipes' filter), then the pair
    that both use a box filter (OpenCV's area resize): the recipe with ``filter: box``, and OpenCV."""
    found = {kind: engine_runner(kind), "naive_pillow": naive_fit(kind), "pillow_thumbnail": pillow_thumbnail(kind),
             "opencv": opencv_fit(kind)}
    if pyvips_available():
        found["pyvips_thumbnail"] = pyvips_thumbnail(kind)
    found[f"{kind}_box"] = recipe_runner(box_filter(get_recipe(kind)))
    found["opencv_area"] = opencv_fit(kind, cv2_filter="area")
    return found


def box_filter(recipe):
    """``recipe`` resizing with a box filter instead of its own."""
    import dataclasses

    steps = tuple((op, {**p, "filter": "box"}) if op == "resize" else (op, p) for op, p in recipe.steps)
    return dataclasses.replace(recipe, name=f"{recipe.name}_box", steps=steps)


def pyvips_available() -> bool:
    try:
        import pyvips  # noqa: F401
    except (ImportError, OSError):
        return False
    return True


def web_split(files: list[Path]) -> dict[str, float]:
    """Where ``web``'s time goes: the engine's own per-step timings, summed over the corpus."""
    recipe = get_recipe("web")
    spent: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            result = process_image(path, [recipe], lambda r: Path(tmp) / f"out.{r.ext}")
            for step, seconds in result.outputs["web"]["timings"].items():
                spent[step] = spent.get(step, 0.0) + seconds
    total = sum(spent.values())
    return {step: round(seconds / total, 3) for step, seconds in spent.items()}


# --- features, and the gallery's processing with them ---------------------------------------------

THREE = ("half_gray", "web", "thumb")


def features_alone(labeler) -> Callable[[Path, Path], float]:
    """The features' own work on the decode the three recipes share (the decode itself not counted)."""
    from image_pipeline.process.decode import open_source
    from image_pipeline.process.engine import feature_input
    from image_pipeline.process.features import extract_features

    recipes = [get_recipe(n) for n in THREE]

    def run(src: Path, dest: Path) -> float:
        with open_source(src) as source:
            exif = source.exif()
            scale = max(r.needed_scale(source.size, 1) for r in recipes)
            decoded = source.decode(scale, False)
            start = clock()
            extract_features(feature_input(decoded, source.icc), exif, labeler=labeler)
            return clock() - start
    return run


class Gallery:
    """The gallery's processing of one image (``process_batch``: raw from the object store, the three
    recipes and the features, outputs to the store, one catalog write), on a local store and catalog."""

    def __init__(self, root: Path, files: list[Path]):
        from image_pipeline.core import keys
        from image_pipeline.core.catalog import SqliteCatalog
        from image_pipeline.core.storage import LocalStore

        self.store, self.catalog = LocalStore(root / "store"), SqliteCatalog(root / "catalog.sqlite3")
        self.sha256 = {}
        for path in files:
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            raw = keys.raw_key(sha256, path.suffix.lstrip(".").lower())
            self.store.put_file(raw, path)
            with Image.open(path) as im:
                self.catalog.record_image(sha256, raw_key=raw, format=im.format, width=im.width, height=im.height,
                                          bytes=path.stat().st_size, source="bench", uri=str(path), keyword="bench",
                                          run_id="bench", seen_at="2026-11-01T00:00:00+00:00")
            self.sha256[path] = sha256

    def runner(self, labeler) -> Callable[[Path, Path], None]:
        from image_pipeline.process.batches import process_batch
        from image_pipeline.process.features import FEATURES_VERSION, extract_features, near_duplicate_of

        def run(src: Path, dest: Path) -> None:
            counts = process_batch(self.store, self.catalog, list(THREE), [self.sha256[src]], force=True,
                                   features=lambda im, exif: extract_features(im, exif, labeler=labeler),
                                   features_version=FEATURES_VERSION, near_duplicate=near_duplicate_of)
            if counts["processed"] != 1:
                raise BadImage(f"not processed: {counts}")
        return run


def local_labeler():
    from image_pipeline.process.features import LocalLabeler, local_labels_available

    return LocalLabeler().load() if local_labels_available() else None


def engine_runner(*names: str) -> Callable[[Path, Path], None]:
    return recipe_runner(*[get_recipe(n) for n in names])


def recipe_runner(*recipes) -> Callable[[Path, Path], None]:
    def run(src: Path, dest: Path) -> None:
        process_image(src, recipes, lambda r: dest.with_name(f"{dest.stem}-{r.name}.{r.ext}"))
    return run


def find_imagemagick() -> str | None:
    for name in ("magick", "convert"):
        path = shutil.which(name)
        if path:
            probe = subprocess.run([path, "-version"], capture_output=True, text=True)
            if "ImageMagick" in probe.stdout:
                return path
    return None


IMAGEMAGICK = find_imagemagick()


def contenders() -> dict[str, Callable[[Path, Path], None]]:
    found = {"half_gray": engine_runner("half_gray"), "naive_pillow": naive_pillow, "opencv_reduced": opencv_reduced}
    try:
        import pyvips  # noqa: F401

        found["pyvips_shrink"] = pyvips_shrink
    except (ImportError, OSError):
        pass  # reported once by main()
    if IMAGEMAGICK:
        found["imagemagick"] = imagemagick
    return found


RECIPE_SETS = {"half_gray": ("half_gray",), "web": ("web",), "thumb": ("thumb",),
               "half_gray+web+thumb": ("half_gray", "web", "thumb")}


def pin_one_core() -> int:
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def time_side_by_side(files: list[Path], runners: dict[str, Callable], repeat: int) -> dict[str, dict[Path, float]]:
    """Best of ``repeat`` seconds per image per contender; contenders alternate image by image."""
    best: dict[str, dict[Path, float]] = {name: {} for name in runners}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jpg"
        for _ in range(repeat):
            for path in files:
                for name, fn in runners.items():
                    start = clock()
                    try:
                        took = fn(path, out)  # a float: the seconds it measured itself
                    except (BadImage, subprocess.CalledProcessError):
                        continue
                    elapsed = took if isinstance(took, float) else clock() - start
                    best[name][path] = min(best[name].get(path, float("inf")), elapsed)
    return best


def peak_rss_mib(args: list[str]) -> float:
    """Peak RSS of a child running this script with ``args``: its own ``VmHWM``, read by the child
    at its end (the rusage of a child also counts the parent's pages it was forked with)."""
    proc = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True)
    return int(proc.stdout.strip().splitlines()[-1]) / 1024


def vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def megapixels(files: list[Path]) -> dict[Path, float]:
    sizes = {}
    for path in files:
        with Image.open(path) as im:
            sizes[path] = im.width * im.height / 1e6
    return sizes


def summarise(times: dict[Path, float], mpx: dict[Path, float]) -> dict[str, float]:
    seconds = sum(times.values())
    return {"images": len(times), "seconds": round(seconds, 3),
            "images_per_s": round(len(times) / seconds, 3) if seconds else 0.0,
            "mpx_per_s": round(sum(mpx[p] for p in times) / seconds, 2) if seconds else 0.0}


def child(mode: str, name: str, folder: Path, count: int, webp: int, limit: int) -> None:
    """A measured child process: one contender over the corpus, or the CLI loop over a batch."""
    pin_one_core()
    files = corpus(folder, webp, limit)
    if mode == "contender":
        runner = contenders()[name] if name in contenders() else engine_runner(*RECIPE_SETS[name])
        with tempfile.TemporaryDirectory() as tmp:
            for path in files:
                try:
                    runner(path, Path(tmp) / "out.jpg")
                except (BadImage, subprocess.CalledProcessError):
                    pass
    else:  # batch: the gallery CLI's own loop over `count` files, largest first, corpus cycled
        from image_pipeline.process.folder import run

        sizes = megapixels(files)
        by_size = sorted(files, key=lambda p: -sizes[p])  # the largest decodes first, in both batches
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "src"
            src.mkdir()
            for i in range(count):
                original = by_size[i % len(by_size)]
                (src / f"{i:05d}{original.suffix}").symlink_to(original.resolve())
            status, result = run(src, Path(tmp) / "out", [name], progress_stream=open(os.devnull, "w"))
            if result["totals"]["ok"] != count:
                raise SystemExit(f"batch of {count}: only {result['totals']['ok']} processed")


def corpus(folder: Path, webp: int = 0, limit: int = 0) -> list[Path]:
    """The images of ``folder`` and WebP copies of its first ``webp`` JPEGs (made once, in
    ``folder-webp``); with ``limit``, that many spread over the sorted list (every format kept)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    copies = folder.with_name(f"{folder.name}-webp")
    for jpeg in [p for p in files if p.suffix.lower() in (".jpg", ".jpeg")][:webp]:
        copy = copies / f"{jpeg.stem}.webp"
        if not copy.exists():
            copies.mkdir(exist_ok=True)
            with Image.open(jpeg) as im:
                im.save(copy.with_suffix(".part"), "WEBP", quality=90)
            copy.with_suffix(".part").rename(copy)
        files.append(copy)
    files.sort(key=lambda p: (p.suffix.lower(), p.name))
    if limit and limit < len(files):
        files = [files[i * len(files) // limit] for i in range(limit)]
    return files


def ratio_rows(times: dict[str, dict[Path, float]], names: list[str], mpx: dict[Path, float],
               baseline: str, key: str) -> dict[str, dict]:
    """A summary row per contender over the images every one of them did, with ``key``: the
    baseline's seconds over the contender's (above 1: faster than the baseline)."""
    common = set.intersection(*(set(times[n]) for n in names))
    rows = {name: summarise({p: times[name][p] for p in common}, mpx) for name in names}
    for row in rows.values():
        row[key] = round(rows[baseline]["seconds"] / row["seconds"], 2) if row["seconds"] else 0.0
    return rows


def by_format(times: dict[str, dict[Path, float]], names: list[str], baseline: str) -> dict[str, dict[str, float]]:
    """Per input format and overall: the baseline's seconds over each contender's."""
    common = set.intersection(*(set(times[n]) for n in names))
    groups: dict[str, list[Path]] = {"all": list(common)}
    for path in common:
        groups.setdefault(path.suffix.lower().lstrip("."), []).append(path)
        if has_alpha(path):  # an alpha channel must be decoded and laid on white: OpenCV's gray decode drops it
            groups.setdefault(f"{path.suffix.lower().lstrip('.')} with alpha", []).append(path)
    out = {}
    for fmt, chosen in sorted(groups.items()):
        base = sum(times[baseline][p] for p in chosen)
        out[fmt] = {"images": len(chosen), **{n: round(base / sum(times[n][p] for p in chosen), 2) for n in names}}
    return out


def has_alpha(path: Path) -> bool:
    with Image.open(path) as im:
        return transparent(im)


def print_formats(title: str, rows: dict[str, dict[str, float]], names: list[str]) -> None:
    print(title)
    for fmt, row in rows.items():
        print(f"  {fmt} ({row['images']} images): " + ", ".join(f"{n} {row[n]}x" for n in names))


PARTS = ("anchors", "fit", "gallery", "memory", "workers")


def main() -> None:
    global clock
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--webp", type=int, default=12, help="WebP copies of this many of the corpus' JPEGs")
    parser.add_argument("--limit", type=int, default=0, help="at most this many images (spread over the corpus)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/process.json"))
    parser.add_argument("--child", nargs=3, metavar=("MODE", "NAME", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    if args.child:
        child(args.child[0], args.child[1], args.images, int(args.child[2]), args.webp, args.limit)
        print(vm_hwm_kib())
        return
    corpus_args = [str(args.images), "--webp", str(args.webp), "--limit", str(args.limit)]
    core = pin_one_core()
    files = corpus(args.images, args.webp, args.limit)
    mpx = megapixels(files)
    load = os.getloadavg()
    print(f"{len(files)} images, {sum(mpx.values()):.0f} Mpx in all, pinned to core {core}, {args.clock} seconds, "
          f"load average {load[0]:.1f} on {os.cpu_count()} cores", file=sys.stderr)
    report: dict[str, object] = {"images": len(files), "megapixels": round(sum(mpx.values()), 1), "clock": args.clock,
                                 "load_average": [round(v, 2) for v in load]}

    if "anchors" in args.parts:
        seed_transform(files, mpx, corpus_args, args.repeat, report)
    if "fit" in args.parts:
        web_and_thumb(files, mpx, args.repeat, report)
    if "gallery" in args.parts:
        recipes_and_gallery(files, mpx, args.repeat, report)
    if "memory" in args.parts:
        memory(corpus_args, args.batch, report)
    if "workers" in args.parts:
        report["workers"] = workers_scaling(files, args.repeat)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.json}")


def seed_transform(files, mpx, corpus_args, repeat, report) -> None:
    """1. The seed-000 transform against the anchors."""
    runners = contenders()
    for name, why in (("pyvips_shrink", "pyvips not installed (pip install -e '.[bench]')"),
                      ("imagemagick", "ImageMagick not installed")):
        if name not in runners:
            print(f"{why}: left out", file=sys.stderr)
    times = time_side_by_side(files, runners, repeat)
    rows = ratio_rows(times, list(runners), mpx, "naive_pillow", "speedup_vs_naive")
    for name, row in rows.items():
        row["peak_rss_mib"] = round(peak_rss_mib([*corpus_args, "--child", "contender", name, "0"]), 1)
    report["half_gray_vs_anchors"] = rows
    print_table("half size + grayscale + JPEG q85 (seed 000), one core", rows, "speedup_vs_naive")
    report["speedup_vs_naive_by_format"] = by_format(times, list(runners), "naive_pillow")
    print_formats("speedup over the naive Pillow script, per input format:", report["speedup_vs_naive_by_format"],
                  list(runners))
    opencv = by_format(times, ["half_gray", "opencv_reduced"], "opencv_reduced")
    report["half_gray_vs_opencv_reduced"] = {fmt: {"images": r["images"], "speedup": r["half_gray"]}
                                             for fmt, r in opencv.items()}
    print("half_gray against OpenCV's reduced decode (above 1: half_gray faster): "
          + ", ".join(f"{fmt} {r['half_gray']}x" for fmt, r in opencv.items()))



def web_and_thumb(files, mpx, repeat, report) -> None:
    """2. web and thumb against the anchors doing the same."""
    for kind in ("web", "thumb"):
        fit = fit_contenders(kind)
        ftimes = time_side_by_side(files, fit, repeat)
        frows = ratio_rows(ftimes, list(fit), mpx, kind, f"{kind}_over_it")
        report[f"{kind}_vs_anchors"] = {"all": frows, "by_format": by_format(ftimes, list(fit), kind)}
        print_table(f"{kind}: longest side {FIT[kind]} px, same encoder settings (ratio: {kind}'s seconds over "
                    "each one's; above 1: that one is faster)", frows, f"{kind}_over_it")
        print_formats(f"{kind}'s seconds over each one's (above 1: that one is faster), per input format:",
                      report[f"{kind}_vs_anchors"]["by_format"], list(fit))
        box = by_format(ftimes, [f"{kind}_box", "opencv_area"], "opencv_area")
        report[f"{kind}_box_vs_opencv_area"] = box
        print(f"with a box filter, {kind}_box against OpenCV's area resize (above 1: {kind}_box faster): "
              + ", ".join(f"{fmt} {r[f'{kind}_box']}x" for fmt, r in box.items()))
    split = web_split(files)
    report["web_time_split"] = split
    print("web's time (engine step timings): " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in split.items()))



def recipes_and_gallery(files, mpx, repeat, report) -> None:
    """3. Three recipes from one decode against each alone; features; the gallery's processing."""
    labeler = local_labeler()
    with tempfile.TemporaryDirectory() as tmp:
        gallery = Gallery(Path(tmp), files)
        recipe_runners = {name: engine_runner(*names) for name, names in RECIPE_SETS.items()}
        recipe_runners.update({"features": features_alone(None), "gallery_process": gallery.runner(None)})
        if labeler is not None:
            recipe_runners.update({"features+labels": features_alone(labeler),
                                   "gallery_process+labels": gallery.runner(labeler)})
        else:
            print("labels extra not installed: the labels model left out", file=sys.stderr)
        rtimes = time_side_by_side(files, recipe_runners, repeat)
        gallery.catalog.close()
    rrows = ratio_rows(rtimes, list(recipe_runners), mpx, "half_gray+web+thumb", "x_three_together")
    for row in rrows.values():
        row["x_three_together"] = round(1 / row["x_three_together"], 2) if row["x_three_together"] else 0.0
    alone = {name: rrows[name]["seconds"] for name in THREE}
    together = rrows["half_gray+web+thumb"]["seconds"]
    overhead = {}
    for suffix in ("", "+labels"):
        if f"gallery_process{suffix}" in rrows:
            overhead[f"gallery_process{suffix}"] = round(
                rrows[f"gallery_process{suffix}"]["seconds"] / (together + rrows[f"features{suffix}"]["seconds"]), 3)
    report["recipes"] = {**rrows, "together_over_costliest_single": round(together / max(alone.values()), 2),
                         "together_over_sum_of_singles": round(together / sum(alone.values()), 2),
                         "gallery_over_cli_plus_features": overhead}
    print_table("recipes together (one decode) and alone; features; the gallery's processing", rrows,
                "x_three_together")
    print(f"together / costliest single = {report['recipes']['together_over_costliest_single']}x, "
          f"together / sum of singles = {report['recipes']['together_over_sum_of_singles']}x")
    print("gallery processing / (three recipes + features alone), target <= 1.25: "
          + ", ".join(f"{k} {v}x" for k, v in overhead.items()))



def memory(corpus_args, batch, report) -> None:
    """4. Memory flat in batch size."""
    small = peak_rss_mib([*corpus_args, "--child", "batch", "half_gray", "10"])
    large = peak_rss_mib([*corpus_args, "--child", "batch", "half_gray", str(batch)])
    report["memory"] = {"batch_10_peak_rss_mib": round(small, 1), f"batch_{batch}_peak_rss_mib": round(large, 1),
                        "ratio": round(large / small, 3)}
    print(f"\npeak RSS, gallery process half_gray: 10 images {small:.0f} MiB, {batch} images {large:.0f} MiB "
          f"(ratio {large / small:.3f})")


def workers_scaling(files: list[Path], repeat: int) -> dict[str, float]:
    """5. ``gallery process --workers N``: wall seconds of the three recipes over the corpus with 1
    and with every core's worker, alternating (best of ``repeat``); the throughput ratio."""
    from image_pipeline.process.folder import run

    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))  # every core again
    cores = len(os.sched_getaffinity(0))
    best = {1: float("inf"), cores: float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for path in files:
            (src / path.name).symlink_to(path.resolve())
        for i in range(repeat):
            for workers in best:
                start = time.perf_counter()
                run(src, Path(tmp) / f"out-{workers}-{i}", list(THREE), workers=workers,
                    progress_stream=open(os.devnull, "w"))
                best[workers] = min(best[workers], time.perf_counter() - start)
    ratio = best[1] / best[cores]
    load = os.getloadavg()[0]
    print(f"\ngallery process --workers: 1 worker {best[1]:.1f} s, {cores} workers {best[cores]:.1f} s: {ratio:.2f}x "
          f"(wall time; load average {load:.1f} on {cores} cores)")
    return {"workers_1_seconds": round(best[1], 2), f"workers_{cores}_seconds": round(best[cores], 2),
            "speedup": round(ratio, 2), "load_average": round(load, 2)}


def print_table(title: str, rows: dict[str, dict], ratio_key: str) -> None:
    print(f"\n{title}")
    print(f"{'':<22}{'images':>7}{'seconds':>9}{'img/s':>8}{'Mpx/s':>8}{'RSS MiB':>9}{ratio_key:>22}")
    for name, row in rows.items():
        rss = row.get("peak_rss_mib", "")
        print(f"{name:<22}{row['images']:>7}{row['seconds']:>9.2f}{row['images_per_s']:>8.2f}{row['mpx_per_s']:>8.1f}"
              f"{rss:>9}{row[ratio_key]:>22}")


if __name__ == "__main__":
    main()
