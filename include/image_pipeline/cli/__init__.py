"""``gallery``: every stage of the pipeline from the command line, without Airflow.

One command, one subcommand per stage; ``gallery --help`` lists them, ``gallery <command> --help``
explains each argument with examples. The modules: :mod:`.app` (the parser, ``--version``, the
``image-pipeline`` alias), :mod:`.folder` (``process`` on a folder with recipes or ad-hoc flags,
``recipes``), :mod:`.stages` (the gallery's stages on the configured store and catalog: ``upload``,
``retrieve``, ``process-pending``, ``report``, ``deliver``, ``last-delivery``, ``resolve-delivery``).
Backends come from the composition root, :mod:`image_pipeline.wiring`.
"""

from image_pipeline.cli.app import build_parser, legacy_main, main

__all__ = ["build_parser", "legacy_main", "main"]
