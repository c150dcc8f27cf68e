"""Processing against the fastest tools, side by side, on one core, on real photos.

    python benchmarks/bench_process.py IMAGES_DIR [--repeat N] [--json FILE] [--batch N]

Three parts, all in one run:

1. The seed-000 transform (half size, grayscale, JPEG q85) by the project's ``half_gray`` recipe
   and by the anchors: a naive Pillow script (open, resize, convert, save: every pixel decoded at
   full size), OpenCV's reduced decode (``IMREAD_REDUCED_GRAYSCALE_2``), pyvips with
   shrink-on-load, and ImageMagick's ``convert`` where it is installed. Contenders alternate image
   by image in one process pinned to one core (best of ``--repeat`` per image); each one's peak
   RSS is measured in a child process of its own.
2. The three shipped recipes together (one decode) against each alone.
3. Memory: peak RSS of the ``gallery process`` loop over ``--batch`` images (the corpus cycled)
   against 10 images, both starting with the largest files.

Prints a table (images/s, Mpx/s, peak RSS, ratios) and writes it as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
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

from image_pipeline.process.engine import process_image  # noqa: E402
from image_pipeline.core.errors import BadImage  # noqa: E402
from image_pipeline.process.recipes import get_recipe  # noqa: E402

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


def engine_runner(*names: str) -> Callable[[Path, Path], None]:
    recipes = [get_recipe(n) for n in names]

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
                    start = time.perf_counter()
                    try:
                        fn(path, out)
                    except (BadImage, subprocess.CalledProcessError):
                        continue
                    elapsed = time.perf_counter() - start
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


def child(mode: str, name: str, folder: Path, count: int) -> None:
    """A measured child process: one contender over the corpus, or the CLI loop over a batch."""
    pin_one_core()
    files = corpus(folder)
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


def corpus(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", type=Path)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/process.json"))
    parser.add_argument("--child", nargs=3, metavar=("MODE", "NAME", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.images, int(args.child[2]))
        print(vm_hwm_kib())
        return
    core = pin_one_core()
    files = corpus(args.images)
    mpx = megapixels(files)
    print(f"{len(files)} images, {sum(mpx.values()):.0f} Mpx in all, pinned to core {core}", file=sys.stderr)
    report: dict[str, object] = {"images": len(files), "megapixels": round(sum(mpx.values()), 1)}

    # 1. The seed-000 transform against the anchors.
    runners = contenders()
    for name, why in (("pyvips_shrink", "pyvips not installed (pip install -e '.[bench]')"),
                      ("imagemagick", "ImageMagick not installed")):
        if name not in runners:
            print(f"{why}: left out", file=sys.stderr)
    times = time_side_by_side(files, runners, args.repeat)
    common = set.intersection(*(set(t) for t in times.values()))  # images every contender could do
    rows = {}
    for name in runners:
        row = summarise({p: times[name][p] for p in common}, mpx)
        row["peak_rss_mib"] = round(peak_rss_mib([str(args.images), "--child", "contender", name, "0"]), 1)
        rows[name] = row
    naive = rows["naive_pillow"]["seconds"]
    for row in rows.values():
        row["speedup_vs_naive"] = round(naive / row["seconds"], 2)
    report["half_gray_vs_anchors"] = rows
    print_table("half size + grayscale + JPEG q85 (seed 000), one core", rows, "speedup_vs_naive")
    by_format: dict[str, dict[str, float]] = {}
    for suffix in sorted({p.suffix.lower() for p in common}):
        chosen = [p for p in common if p.suffix.lower() == suffix]
        naive_s = sum(times["naive_pillow"][p] for p in chosen)
        by_format[suffix.lstrip(".")] = {
            "images": len(chosen), **{name: round(naive_s / sum(times[name][p] for p in chosen), 2) for name in runners}}
    report["speedup_vs_naive_by_format"] = by_format
    for fmt, row in by_format.items():
        print(f"  {fmt} ({row['images']} images): " + ", ".join(f"{n} {row[n]}x" for n in runners))

    # 2. Three recipes from one decode against each alone.
    recipe_runners = {name: engine_runner(*names) for name, names in RECIPE_SETS.items()}
    rtimes = time_side_by_side(files, recipe_runners, args.repeat)
    rrows = {name: summarise(rtimes[name], mpx) for name in RECIPE_SETS}
    alone = {name: rrows[name]["seconds"] for name in ("half_gray", "web", "thumb")}
    together = rrows["half_gray+web+thumb"]["seconds"]
    for name, row in rrows.items():
        row["x_costliest_single"] = round(row["seconds"] / max(alone.values()), 2)
    report["recipes"] = {**rrows, "together_over_costliest_single": round(together / max(alone.values()), 2),
                         "together_over_sum_of_singles": round(together / sum(alone.values()), 2)}
    print_table("shipped recipes: together (one decode) against each alone", rrows, "x_costliest_single")
    print(f"together / costliest single = {report['recipes']['together_over_costliest_single']}x, "
          f"together / sum of singles = {report['recipes']['together_over_sum_of_singles']}x")

    # 3. Memory flat in batch size.
    small = peak_rss_mib([str(args.images), "--child", "batch", "half_gray", "10"])
    large = peak_rss_mib([str(args.images), "--child", "batch", "half_gray", str(args.batch)])
    report["memory"] = {"batch_10_peak_rss_mib": round(small, 1), f"batch_{args.batch}_peak_rss_mib": round(large, 1),
                        "ratio": round(large / small, 3)}
    print(f"\npeak RSS, gallery process half_gray: 10 images {small:.0f} MiB, {args.batch} images {large:.0f} MiB "
          f"(ratio {large / small:.3f})")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2))
    print(f"\nwritten: {args.json}")


def print_table(title: str, rows: dict[str, dict], ratio_key: str) -> None:
    print(f"\n{title}")
    print(f"{'':<22}{'images':>7}{'seconds':>9}{'img/s':>8}{'Mpx/s':>8}{'RSS MiB':>9}{ratio_key:>22}")
    for name, row in rows.items():
        rss = row.get("peak_rss_mib", "")
        print(f"{name:<22}{row['images']:>7}{row['seconds']:>9.2f}{row['images_per_s']:>8.2f}{row['mpx_per_s']:>8.1f}"
              f"{rss:>9}{row[ratio_key]:>22}")


if __name__ == "__main__":
    main()
