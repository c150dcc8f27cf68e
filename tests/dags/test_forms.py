"""The trigger forms: what each DAG's form asks for, read off the parsed DAGs, and ``dag.test()`` runs
given only what a person must fill, which behave as the form's defaults promise. The same forms are
driven in Chromium by tests/system/test_trigger_forms_browser.py."""

from __future__ import annotations

import email
import json
import zipfile
from datetime import datetime, timedelta, timezone
from email import policy

import jsonschema
import pytest

from dags.test_dags import RETRIEVE_INBOX, catalog_docs, run, task_states

# What a person must fill before the Trigger button wakes up; every other field has a valid default.
REQUIRED = {"image_request": {"keywords", "email"}}
FORM_DAGS = ("gallery_retrieve", "gallery_inbox", "gallery_process", "gallery_analytics", "gallery_deliver",
             "image_request")


@pytest.mark.parametrize("dag_id", FORM_DAGS)
def test_only_the_required_fields_are_required_in_the_form(dags, dag_id):
    """Airflow's form treats a field as missing when it is empty (``""``, ``[]``, ``{}``, ``None``)
    or its default fails the schema: optional fields must be nullable with a ``None`` default."""
    params = dags.get_dag(dag_id).params
    blocking = set()
    for name in params:
        param = params.get_param(name)
        if param.value in ("", [], {}) or not _valid(param.value, param.schema):  # None is valid when nullable
            blocking.add(name)
        assert param.schema.get("title"), f"{dag_id}.{name} has no title"
        assert param.description, f"{dag_id}.{name} has no description"
    assert blocking == REQUIRED.get(dag_id, set())


def _valid(value, schema) -> bool:
    try:
        jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
        return True
    except jsonschema.ValidationError:
        return False


def test_shared_fields_are_asked_the_same_way_everywhere(dags):
    def schema(dag_id, name):  # what the field accepts and how it is shown, but for its section
        return {k: v for k, v in dags.get_dag(dag_id).params.get_param(name).schema.items() if k != "section"}

    for name in ("engine", "filters", "site_url", "urls"):
        assert schema("gallery_retrieve", name) == schema("image_request", name)
    for name in ("keyword", "label", "since", "until"):
        assert schema("gallery_process", name) == schema("gallery_deliver", name)
        assert schema("gallery_process", name)["type"] == ["null", "string"]
    for dag_id, name in (("gallery_process", "since"), ("gallery_deliver", "until"), ("gallery_analytics", "day")):
        assert schema(dag_id, name)["format"] == "date"  # the form shows a date picker
    assert schema("image_request", "recipe") == schema("gallery_deliver", "recipe")


@pytest.mark.parametrize("dag_id, conf, field", [
    ("gallery_process", {"since": "2026-02-30"}, "since"),
    ("gallery_process", {"batch_size": 0}, "batch_size"),
    ("gallery_deliver", {"until": "next week"}, "until"),
    ("gallery_deliver", {"recipe": "not a recipe name"}, "recipe"),
    ("gallery_analytics", {"day": "2026-13-01"}, "day"),
    ("image_request", {"keywords": ["x"], "email": "you@example.com", "count": 100000}, "count"),
    ("image_request", {"keywords": ["x"], "email": "you@example.com", "urls": ["javascript:alert(1)"]}, "urls"),
    ("image_request", {"email": "you@example.com"}, "keywords"),
])
def test_the_form_schema_refuses_malformed_values(dags, dag_id, conf, field):
    with pytest.raises(Exception, match=field):
        dags.get_dag(dag_id).test(run_conf=conf)


def test_analytics_with_an_empty_form_reports_on_the_runs_data_interval(dags, pipeline_env, inbox):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    dag_run = run(dags, "gallery_analytics")
    day = dag_run.data_interval_start.astimezone(timezone.utc).date().isoformat()
    assert (pipeline_env / "reports" / "daily" / f"dt={day}" / "metrics.json").is_file()
    assert [p.name for p in (pipeline_env / "reports" / "daily").iterdir()] == [f"dt={day}"]


def test_process_with_an_empty_form_does_every_image_with_the_default_recipes(dags, pipeline_env, inbox, tmp_path):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process")
    processed = [d for d in catalog_docs(tmp_path)[0] if d["status"] == "processed"]
    default_recipes = set(dags.get_dag("gallery_process").params["recipes"])
    assert default_recipes and len(processed) == 6 and all(set(d["outputs"]) == default_recipes for d in processed)


def test_deliver_with_only_a_keyword_sends_to_the_default_recipient(dags, pipeline_env, inbox):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process")
    run(dags, "gallery_deliver", {"keyword": "demo"})
    (eml,) = (pipeline_env / "outbox").iterdir()
    msg = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert msg["To"] == "gallery@localhost"  # GALLERY_EMAIL_TO's default


def test_deliver_with_an_open_date_range_takes_everything_since_that_day(dags, pipeline_env, inbox, tmp_path):
    run(dags, "gallery_retrieve", RETRIEVE_INBOX)
    run(dags, "gallery_process")
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    run(dags, "gallery_deliver", {"since": yesterday, "recipient": "you@example.com"})
    (archive,) = (pipeline_env / "archives").iterdir()
    with zipfile.ZipFile(archive) as zf:
        assert len(json.loads(zf.read("manifest.json"))) == 6
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    nothing = run(dags, "gallery_deliver", {"since": tomorrow, "recipient": "you@example.com"}, expect="failed")
    assert task_states(nothing)[("plan_deliveries", -1)][0] == "failed"  # since must come before until
