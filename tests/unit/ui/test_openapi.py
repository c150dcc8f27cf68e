"""The committed OpenAPI document (ui/openapi.json, what the UI's TypeScript client is generated from)
is the one the app serves: a route or a model changed without regenerating it fails here."""

from __future__ import annotations

from pathlib import Path

COMMITTED = Path(__file__).resolve().parents[3] / "ui" / "openapi.json"
REGENERATE = "python -m image_pipeline.ui.openapi ui/openapi.json (then regenerate the UI's client)"


def test_the_committed_document_is_the_apps():
    from image_pipeline.ui.openapi import document, dumps

    assert COMMITTED.read_text(encoding="utf-8") == dumps(document()), f"ui/openapi.json is stale: {REGENERATE}"


def test_the_writer_is_deterministic(tmp_path):
    from image_pipeline.ui.openapi import main

    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert main([str(first)]) == 0 and main([str(second)]) == 0
    assert first.read_bytes() == second.read_bytes() and first.read_text().endswith("}\n")
    assert main([]) == 2
