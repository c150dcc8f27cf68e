"""The ``gallery`` command's parser and entry points: ``main`` (``gallery``), ``legacy_main``
(``image-pipeline``, the deprecated alias kept for one release: the old command names, a one-line
note on standard error, then the same code).

Each command writes its result to standard output (JSON, but for ``last-delivery`` and ``recipes``)
and everything else (progress, summaries, warnings, what libraries print) to standard error.
Exit status: 0 on success, 1 when the work ran but something failed (a quarantined file, no
delivery yet), 2 on a usage error (a bad argument, recipe or request, before any side effect),
130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import redirect_stdout
from importlib.metadata import PackageNotFoundError, version as _dist_version

from image_pipeline.cli import folder, stages

PROG = "gallery"
DISTRIBUTION = "image-pipeline"

DESCRIPTION = """\
The image pipeline's stages from the command line, without Airflow: process a folder of images
(recipes or ad-hoc flags), or work on the gallery (the store and catalog the DAGs use, from the
same GALLERY_* settings): upload, retrieve, process what is pending, report, deliver."""

EPILOG = """\
examples:
  gallery process ~/Pictures /tmp/out --resize 800x600 --format webp --quality 80 --max-size 200KB
  gallery process ~/Pictures /tmp/out --recipe web --recipe thumb --workers 4 --report report.json
  gallery recipes
  gallery upload ~/Pictures && gallery retrieve --engine inbox --keyword holiday
  gallery process-pending && gallery report && gallery deliver --keyword holiday --to you@example.com

`gallery COMMAND --help` explains a command's arguments."""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs as written (examples keep their lines), help in a wider column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def package_version() -> str:
    try:
        return _dist_version(DISTRIBUTION)
    except PackageNotFoundError:  # imported from a source tree that was never installed
        return "unknown (not installed)"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION, epilog=EPILOG, formatter_class=HelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}",
                        help="print the version of the image-pipeline package and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    folder.register(sub, HelpFormatter)
    stages.register(sub, HelpFormatter)
    return parser


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)  # a usage error exits with status 2
    # The command's own output goes to standard output (args.out); anything else printed there (a
    # library announcing its model weights, ...) goes to standard error, so the JSON can be piped.
    args.out = sys.stdout
    try:
        with redirect_stdout(sys.stderr):
            return args.handler(args)
    except KeyboardInterrupt:
        return 130


# image-pipeline's commands whose name changed in gallery; every other one kept its name.
LEGACY_RENAMES = {"process": "process-pending"}


def legacy_main(argv: list[str] | None = None) -> int:
    """``image-pipeline``: deprecated, removed in the next release. Runs ``gallery`` with the old names."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in LEGACY_RENAMES:
        argv[0] = LEGACY_RENAMES[argv[0]]
    command = argv[0] if argv and not argv[0].startswith("-") else "--help"
    print(f"image-pipeline is deprecated and goes in the next release: use `gallery {command}`", file=sys.stderr)
    return main(argv, prog="image-pipeline")


if __name__ == "__main__":
    sys.exit(main())
