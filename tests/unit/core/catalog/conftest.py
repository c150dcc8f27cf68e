"""The catalog contract tests: one module per role (``test_catalog_<role>_contract.py``, each naming its
roles in ``ROLES``), every test of them run on each backend through the ``catalog`` fixture; the SQLite
file's own schema and migrations in test_catalog_sqlite_schema.py; test_catalog_roles.py checks the
roles themselves (every method in exactly one, each backend playing every one, each one tested)."""

from __future__ import annotations

import pytest

from support.catalog_records import BACKENDS, open_backend


@pytest.fixture(params=BACKENDS)
def catalog(request, tmp_path):
    cat = open_backend(request.param, tmp_path, request.addfinalizer)
    yield cat
    cat.close()
