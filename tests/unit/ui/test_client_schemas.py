"""The UI's generated client is made from two committed OpenAPI documents (ui/src/client/client.test.ts,
a Vitest run by `make test`, checks the TypeScript against them). This checks the second one against
what it stands for: ui/airflow-openapi.json is the part of the installed Airflow's REST API document
that the UI calls, so an Airflow upgrade that changes a shape the UI reads fails here, not in a browser.
On failure: `make ui-client`, then `make ui`, and commit."""

from __future__ import annotations

import json
import importlib.util
from importlib.machinery import SourceFileLoader
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
_loader = SourceFileLoader("airflow_openapi", str(ROOT / "scripts" / "airflow-openapi"))
_spec = importlib.util.spec_from_loader(_loader.name, _loader)
SCRIPT = importlib.util.module_from_spec(_spec)
_loader.exec_module(SCRIPT)
COMMITTED = ROOT / "ui" / "airflow-openapi.json"


def test_committed_airflow_document_is_the_installed_airflows():
    assert COMMITTED.read_text(encoding="utf-8") == SCRIPT.render(SCRIPT.installed_document()), (
        "ui/airflow-openapi.json differs from the installed Airflow's API: make ui-client, make ui, commit"
    )


def test_airflow_document_keeps_the_operations_the_ui_calls_and_what_they_reference():
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert {(path, method) for path, item in document["paths"].items() for method in item if method != "parameters"} == set(
        SCRIPT.OPERATIONS
    )
    schemas = document["components"]["schemas"]
    assert {"DAGRunResponse", "TaskInstanceCollectionResponse", "TriggerDAGRunPostBody"} <= set(schemas)
    dangling = {ref for ref in SCRIPT.refs(document) if ref not in schemas}
    assert dangling == set()
    # Nothing the operations do not reach: the subset stays small.
    full = SCRIPT.installed_document()
    assert len(schemas) < len(full["components"]["schemas"]) / 5
