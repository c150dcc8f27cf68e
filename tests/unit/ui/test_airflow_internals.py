"""What the gallery relies on in Airflow's internals (ui/airflow_runs.py, ui/auth.py, ui/images.py),
checked name by name, so that an Airflow upgrade changing one fails here and says which, rather than
in a user's request. Every ``airflow`` name airflow_runs imports is listed in its docstring and here
(RELIED_ON), and checked by a test below. The calls themselves are exercised by test_requests.py (a
run created, counted, refused at the limit, two requests racing), test_upload_events.py (an upload's
event recorded, gallery_inbox due at once, the runs it started followed) and the API tests (every
route's auth); the created run's answer, Airflow's DAGRunResponse, is pinned by the committed
ui/openapi.json (test_openapi.py)."""

from __future__ import annotations

import ast
import inspect
import threading
import time

import pytest

# Each checked below, by the test named beside it.
RELIED_ON = {
    "airflow.api_fastapi.core_api.routes.public.dag_run.trigger_dag_run",  # ..._behind_the_rest_apis_trigger
    "airflow.api_fastapi.core_api.datamodels.dag_run.TriggerDAGRunPostBody",  # ..._behind_the_rest_apis_trigger
    "airflow.api_fastapi.core_api.datamodels.dag_run.DAGRunResponse",  # ..._answered_as_the_rest_api_answers
    "airflow.api_fastapi.common.dagbag.create_dag_bag",  # ..._behind_the_rest_apis_trigger
    "airflow.api_fastapi.core_api.routes.public.assets.create_asset_event",  # ..._post_of_asset_events
    "airflow.api_fastapi.core_api.datamodels.assets.CreateAssetEventsBody",  # ..._post_of_asset_events
    "airflow.models.dagrun.DagRun",  # ..._from_dag_run_columns_that_exist
    "airflow.models.asset.AssetModel",  # ..._asset_and_asset_event_columns_that_exist
    "airflow.models.asset.AssetEvent",  # ..._asset_and_asset_event_columns_that_exist
    "airflow.utils.state.DagRunState",  # ..._from_dag_run_columns_that_exist
    "airflow.utils.session.create_session",  # ..._behind_the_rest_apis_trigger
}


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_every_airflow_name_the_adapter_imports_is_listed_in_its_docstring_and_checked_here():
    """An import from Airflow added to airflow_runs without its line in the module's docstring and
    in RELIED_ON (with its test) fails here; so does a listed name no longer imported."""
    from image_pipeline.ui import airflow_runs

    tree = ast.parse(inspect.getsource(airflow_runs))
    imported = {f"{node.module}.{alias.name}" for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "airflow"
                for alias in node.names}
    assert not any(isinstance(node, ast.Import) and any(a.name.split(".")[0] == "airflow" for a in node.names)
                   for node in ast.walk(tree)), "import names from airflow modules (from ... import ...)"
    listed = {line.removeprefix("- ``").split("``")[0] for line in airflow_runs.__doc__.splitlines()
              if line.startswith("- ``airflow.")}
    assert imported == RELIED_ON
    assert listed == RELIED_ON


def test_runs_are_created_by_the_route_function_behind_the_rest_apis_trigger():
    """airflow_runs calls the function Airflow's POST /api/v2/dags/{dag_id}/dagRuns runs, by keyword,
    with a body it builds and a DagBag it makes: that route, those names, that body."""
    from airflow.api_fastapi.core_api.routes.public.dag_run import dag_run_router

    from image_pipeline.ui import airflow_runs

    routes = [(r.path, r.methods) for r in dag_run_router.routes
              if getattr(r, "endpoint", None) is airflow_runs.trigger_dag_run]
    assert routes == [("/dags/{dag_id}/dagRuns", {"POST"})]
    assert parameters(airflow_runs.trigger_dag_run) == ["dag_id", "body", "dag_bag", "user", "session", "request"]
    body = airflow_runs.TriggerDAGRunPostBody(conf={"keywords": ["x"]}, logical_date=None)
    assert body.conf == {"keywords": ["x"]} and body.logical_date is None and body.dag_run_id is None
    assert all(p.default is not p.empty for p in inspect.signature(airflow_runs.create_dag_bag).parameters.values())
    assert callable(getattr(airflow_runs.create_dag_bag(), "get_latest_version_of_dag", None))
    assert "scoped" in parameters(airflow_runs.create_session)


def test_a_users_runs_are_counted_from_dag_run_columns_that_exist(airflow_db):
    """The count reads dag_run's dag_id, triggering_user_name and run_after (a time with its zone),
    and the runs an upload started are answered from its run_id and state (a DagRunState's value),
    through the ORM model onto the migrated database's table."""
    import sqlalchemy
    from airflow.settings import engine

    from image_pipeline.ui.airflow_runs import DagRun, DagRunState

    assert DagRun.__table__.name == "dag_run"
    columns = {c["name"]: c["type"] for c in sqlalchemy.inspect(engine).get_columns("dag_run")}
    for name in ("dag_id", "run_id", "state", "triggering_user_name"):
        assert isinstance(columns[name], sqlalchemy.String), (name, columns[name])
    assert isinstance(columns["run_after"], (sqlalchemy.DateTime, sqlalchemy.TIMESTAMP)), columns["run_after"]
    assert DagRun.__table__.c.run_after.type.timezone is True  # compared with an aware time
    assert {"dag_id", "run_id", "state", "run_after"} <= set(vars(DagRun))  # the attributes read
    # The states the upload page tells apart (ended: success, failed), as the column holds them.
    assert {s.value for s in DagRunState} >= {"queued", "running", "success", "failed"}


def test_a_created_run_is_answered_as_the_rest_api_answers_it():
    """The request endpoint's response model is the one Airflow's POST .../dagRuns answers with."""
    from airflow.api_fastapi.core_api.routes.public.dag_run import dag_run_router

    from image_pipeline.ui import airflow_runs

    (route,) = [r for r in dag_run_router.routes if getattr(r, "endpoint", None) is airflow_runs.trigger_dag_run]
    assert route.response_model is airflow_runs.DAGRunResponse is airflow_runs.RunResponse
    assert {"dag_id", "dag_run_id", "state", "triggered_by"} <= set(airflow_runs.DAGRunResponse.model_fields)


def test_the_inbox_event_is_recorded_by_the_route_function_behind_the_rest_apis_post_of_asset_events():
    """airflow_runs calls the function behind POST /api/v2/assets/events by keyword, with a body it
    builds, and reads the recorded event's id and timestamp."""
    from airflow.api_fastapi.core_api.routes.public.assets import assets_router

    from image_pipeline.ui import airflow_runs

    routes = [(r.path, r.methods) for r in assets_router.routes
              if getattr(r, "endpoint", None) is airflow_runs.create_asset_event]
    assert routes == [("/assets/events", {"POST"})]
    assert parameters(airflow_runs.create_asset_event) == ["body", "session", "user"]
    body = airflow_runs.CreateAssetEventsBody(asset_id=1, extra={"files": 1})
    assert body.asset_id == 1 and body.extra["files"] == 1
    (route,) = [r for r in assets_router.routes if getattr(r, "endpoint", None) is airflow_runs.create_asset_event]
    assert {"id", "timestamp"} <= set(route.response_model.model_fields)


def test_an_events_runs_are_read_from_asset_and_asset_event_columns_that_exist(airflow_db):
    """The upload's Asset is found by asset's name and uri; the runs an event fed through its
    created_dagruns, and the raw-images events an inbox run emitted by source_dag_id and source_run_id."""
    import sqlalchemy
    from airflow.settings import engine

    from image_pipeline.ui.airflow_runs import AssetEvent, AssetModel, DagRun

    tables = sqlalchemy.inspect(engine)
    assert AssetModel.__table__.name == "asset" and AssetEvent.__table__.name == "asset_event"
    assert {"id", "name", "uri"} <= {c["name"] for c in tables.get_columns("asset")}
    assert {"id", "asset_id", "extra", "source_dag_id", "source_run_id", "timestamp"} <= {
        c["name"] for c in tables.get_columns("asset_event")}
    assert AssetEvent.created_dagruns.property.mapper.class_ is DagRun


def test_the_gallerys_permissions_are_the_auth_managers_dag_checks():
    """ui/auth.py: Airflow's FastAPI dependencies for a user and a DAG's permission, as it calls them."""
    import typing

    from airflow.api_fastapi.auth.managers.models.base_user import BaseUser
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
    from fastapi.params import Depends

    from image_pipeline.ui import auth

    assert parameters(auth.requires_access_dag)[:3] == ["method", "access_entity", "param_dag_id"]
    assert DagAccessEntity.RUN.name == "RUN"
    user_type, dependency = typing.get_args(auth.GetUserDep)
    assert issubclass(user_type, BaseUser) and isinstance(dependency, Depends)
    assert callable(BaseUser.get_name)


def test_run_pages_are_found_under_the_configured_base_url():
    """ui/images.py's airflow_base reads [api] base_url through Airflow's configuration."""
    from airflow.configuration import conf

    assert isinstance(conf.get("api", "base_url", fallback=""), str)


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of its own (Airflow's metadata DB in production), fsync off."""
    from image_pipeline.localservers import LocalPostgres

    with LocalPostgres.temporary() as server:
        yield server


def test_on_postgresql_a_request_waits_for_the_one_counting_and_creating_before_it(postgres):
    """Two API server processes (two connections) asking at once: the second holds the lock only once
    the first one's transaction has committed its run, so it counts that run; a rollback (a 429, a
    refused form) releases it too, and another DAG's requests are not held up."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from image_pipeline.ui.airflow_runs import hold_runs_of

    engine = create_engine(postgres.url("postgres", driver="postgresql+psycopg2"))
    held = []

    def second_process():
        with Session(engine) as session:
            hold_runs_of(session, "image_request")
            held.append(("second", time.monotonic()))
            session.rollback()

    with Session(engine) as first:
        hold_runs_of(first, "image_request")
        waiting = threading.Thread(target=second_process)
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive() and held == [], "the second request counted while the first was creating its run"
        with Session(engine) as other_dag:
            hold_runs_of(other_dag, "gallery_inbox")
            other_dag.commit()
        committed = time.monotonic()
        first.commit()
    waiting.join(30)
    assert [who for who, _ in held] == ["second"] and held[0][1] >= committed
    with Session(engine) as after_rollback:  # the second request rolled back: free again at once
        after_rollback.execute(text("SET lock_timeout = '2s'"))
        hold_runs_of(after_rollback, "image_request")
        after_rollback.rollback()
    engine.dispose()


def test_only_postgresql_and_sqlite_are_served():
    """On another database the gallery refuses to count rather than count without a lock."""
    from types import SimpleNamespace

    from image_pipeline.ui.airflow_runs import hold_runs_of

    session = SimpleNamespace(get_bind=lambda: SimpleNamespace(dialect=SimpleNamespace(name="mysql")))
    with pytest.raises(NotImplementedError, match="PostgreSQL or SQLite, not mysql"):
        hold_runs_of(session, "image_request")
