"""The gallery API's OpenAPI document as a file: what the UI's client is generated from.

``python -m image_pipeline.ui.openapi ui/openapi.json`` writes :func:`document` (``create_app().openapi()``)
with sorted keys and a final newline, so the same code always writes the same bytes and a change to the
API shows as a diff of the committed file (``tests/unit/ui/test_openapi.py`` compares the two). A path is
required: importing Airflow may log to standard output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def document() -> dict[str, Any]:
    """The schema the app serves at ``/openapi.json`` (no backend is opened: they are built on first use)."""
    from image_pipeline.ui.api import create_app

    return create_app().openapi()


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m image_pipeline.ui.openapi PATH  (writes the gallery API's OpenAPI document, "
              "e.g. ui/openapi.json)", file=sys.stderr)
        return 2
    Path(args[0]).write_text(dumps(document()), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
