"""What the DAG tests share: the project's DAGs, parsed afresh for each test."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture
def dags(airflow_db):
    """Parsed afresh for each test: dag.test() leaves a run's conf in the DAG object's params."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    return bag
