"""Every DAG's trigger form, used as a person uses it: `airflow standalone` with the project's DAGs,
Debian's Chromium driven by playwright (tests/support/trigger_form.py), log in, open the DAG, press Trigger,
fill only what the documentation's walkthrough says, press Trigger, and the run exists with the conf the
form promised and gets past its first task. Malformed values are refused by the form, by the API
server (the params' schema) or by the run's first task, before anything is fetched.

The walkthrough table in docs/index.md (the Quick start) is the test's input, so the documentation is checked
against the real form. Searches go to a Bing-format results page on loopback (``GALLERY_BING_URL``); no test reaches
the internet.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from airflow_stack import ROOT, wait_for
from support import trigger_form as form
from support.browser import with_profile
from support.gallery_stack import standalone_with_logins
from support.loopback import served
from unit.retrieve.test_crawl import bing_results

FORM_DAGS = {"image_request", "gallery_retrieve", "gallery_inbox", "gallery_process", "gallery_analytics",
             "gallery_deliver"}


def walkthrough() -> list[tuple[str, dict[str, str]]]:
    """The Quick start's trigger walkthrough: (dag_id, {field title: value}) for each row of its table."""
    text = (ROOT / "docs" / "index.md").read_text()
    table = text.split("<!-- trigger-walkthrough")[1].split("<!-- /trigger-walkthrough -->")[0]
    rows = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            fills = dict(re.findall(r"\*\*(.+?)\*\*: `(.+?)`", cells[1]))
            assert fills or cells[1] == "nothing", f"docs/index.md walkthrough: cannot read {cells[1]!r}"
            rows.append((cells[0].strip("`"), fills))
    return rows


class RecordingHandler(SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):
        RecordingHandler.requests.append(self.path)


@pytest.fixture(scope="module")
def web():
    """The sample images and a Bing-format results page listing them, on loopback."""
    from support.samples import make_samples

    root = Path(tempfile.mkdtemp(prefix="image-pipeline-forms-www-"))
    make_samples(root / "img")
    with served(root, RecordingHandler) as base:
        images = [p for p in sorted((root / "img").iterdir()) if p.suffix == ".jpg"]
        (root / "images").mkdir()
        (root / "images" / "async").write_text(bing_results(base, [{"murl": f"{base}/img/{p.name}",
                                                                    "purl": f"{base}/page.html"} for p in images]))
        yield base
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def airflow(web):
    env = {"GALLERY_BING_URL": f"{web}/images/async", "GALLERY_ALLOWED_HOSTS": "127.0.0.1",
           "GALLERY_CRAWL_IDLE_TIMEOUT": "3"}
    with standalone_with_logins(Path(tempfile.mkdtemp(prefix="image-pipeline-forms-")), env, "image_request") as server:
        rest = server["rest"]
        wait_for(lambda: FORM_DAGS <= {d["dag_id"] for d in rest.get("/api/v2/dags?limit=100")["dags"]},
                 120, "every DAG to be parsed")
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with with_profile(tmp_path_factory.mktemp("chromium-profile"), {"width": 1300, "height": 1000}) as context:
        yield context


@pytest.fixture(scope="module")
def logged_in(browser, airflow):
    page = browser.new_page()
    form.login(page, airflow["url"], "admin", airflow["passwords"]["admin"])
    page.close()
    return browser


@pytest.fixture
def page(logged_in):
    page = logged_in.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert errors == [], f"errors in the page: {errors}"


def titles_to_names(params: dict[str, dict]) -> dict[str, str]:
    return {(spec.get("schema") or {}).get("title") or name: name for name, spec in params.items()}


def first_task_state(rest, dag_id: str, run_id: str, task_id: str) -> str | None:
    tis = rest.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    states = {t["task_id"]: t["state"] for t in tis if t["map_index"] == -1}
    return states.get(task_id)


FIRST_TASK = {"image_request": "check_request", "gallery_retrieve": "plan_requests", "gallery_inbox": "ingest_inbox",
              "gallery_process": "plan_batches", "gallery_analytics": "daily_report", "gallery_deliver": "plan_deliveries"}


def test_the_walkthrough_covers_every_form():
    assert {dag_id for dag_id, _ in walkthrough()} == FORM_DAGS


@pytest.mark.parametrize("dag_id, fills", walkthrough(), ids=[row[0] for row in walkthrough()])
def test_a_person_triggers_each_dag_from_its_form(airflow, page, dag_id, fills, tmp_path):
    url, rest = airflow["url"], airflow["rest"]
    params = form.dag_params(page, url, dag_id)
    names = titles_to_names(params)
    form.open_trigger_form(page, url, dag_id)
    for title, value in fills.items():
        kind = form.field_kind(page, title)
        form.fill(page, title, [value] if kind == "lines" else value)
    assert form.trigger_enabled(page), f"{dag_id}: Trigger disabled; field errors: {form.form_errors(page)}"
    page.screenshot(path=str(tmp_path / f"{dag_id}.png"), full_page=True)
    result = form.press_trigger(page)

    conf = rest.get(f"/api/v2/dags/{dag_id}/dagRuns/{result.run_id}")["conf"]
    expected = {name: spec["value"] for name, spec in params.items()}
    for title, value in fills.items():
        expected[names[title]] = [value] if (params[names[title]]["schema"].get("type") in ("array", ["null", "array"])) \
            else value
    assert conf == expected
    # The form's defaults pass the run's own checks: its first task succeeds.
    state = wait_for(lambda: (s := first_task_state(rest, dag_id, result.run_id, FIRST_TASK[dag_id]))
                     in ("success", "failed", "upstream_failed") and s, 240, f"{dag_id}'s first task")
    assert state == "success"
    if dag_id == "image_request":  # the one-form flow, on to the email
        path = f"/api/v2/dags/image_request/dagRuns/{result.run_id}"
        assert wait_for(lambda: (s := rest.get(path)["state"]) in ("success", "failed") and s, 300,
                        "the request run") == "success"
        emails = [p.read_text(errors="replace") for p in (airflow["home"] / "data" / "outbox").iterdir()]
        assert any("To: you@example.com" in e for e in emails)


def runs_of(rest, dag_id: str) -> set[str]:
    return {r["dag_run_id"] for r in rest.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]}


def test_a_url_that_is_not_http_is_refused_and_no_run_is_made(airflow, page):
    url, rest = airflow["url"], airflow["rest"]
    before = runs_of(rest, "gallery_retrieve")
    form.open_trigger_form(page, url, "gallery_retrieve")
    form.fill(page, "Source", "urls")
    form.fill(page, "Image URLs", ["ftp://127.0.0.1/a.jpg"])
    result = form.press_trigger(page, expect_ok=False)
    assert result.status == 400 and "urls" in result.detail
    assert "urls" in (form.trigger_error(page) or "")  # the person sees why, in the dialog
    assert runs_of(rest, "gallery_retrieve") == before


def test_a_count_over_the_maximum_is_refused_by_the_form(airflow, page):
    form.open_trigger_form(page, airflow["url"], "image_request")
    maximum = form.dag_params(page, airflow["url"], "image_request")["count"]["schema"]["maximum"]
    shown = form.fill(page, "How many images", maximum + 1, strict=False)
    assert shown == str(maximum)  # the number field keeps the value within its bounds


def test_a_date_that_is_not_a_date_is_refused(airflow, page):
    form.open_trigger_form(page, airflow["url"], "gallery_analytics")
    assert form.field_kind(page, "Day") == "date"  # a date picker: it holds dates only
    assert form.fill(page, "Day", "not a date", strict=False) == ""
    assert form.fill(page, "Day", "2026-11-02") == "2026-11-02"
    # ... and a REST client sending one is refused when the run is created.
    with pytest.raises(AssertionError, match="HTTP 400.*day"):
        airflow["rest"].post("/api/v2/dags/gallery_analytics/dagRuns", {"logical_date": None, "conf": {"day": "2026-02-30"}})


def test_what_the_form_cannot_check_is_refused_by_the_first_task_before_any_fetch(airflow, page):
    url, rest = airflow["url"], airflow["rest"]
    form.open_trigger_form(page, url, "image_request")
    form.fill(page, "Keywords", ["lighthouse/../../etc"])
    form.fill(page, "Your email", "you@example.com")
    fetched_before = len(RecordingHandler.requests)
    result = form.press_trigger(page)
    state = wait_for(lambda: (s := first_task_state(rest, "image_request", result.run_id, "check_request"))
                     in ("success", "failed") and s, 180, "check_request")
    assert state == "failed"
    run = rest.get(f"/api/v2/dags/image_request/dagRuns/{result.run_id}")
    wait_for(lambda: rest.get(f"/api/v2/dags/image_request/dagRuns/{result.run_id}")["state"] == "failed", 120,
             "the run to fail")
    assert run["conf"]["keywords"] == ["lighthouse/../../etc"]
    log = rest.get(f"/api/v2/dags/image_request/dagRuns/{result.run_id}/taskInstances/check_request/logs/1"
                   "?full_content=true")
    assert "invalid request: keyword" in str(log)
    assert len(RecordingHandler.requests) == fetched_before  # nothing was fetched


def test_optional_sections_start_closed_and_hold_the_other_sources(airflow, page):
    form.open_trigger_form(page, airflow["url"], "image_request")
    sections = form.sections(page)
    assert sections.get("Other sources and tuning") is False  # out of the way until opened
    form.open_section(page, "Other sources and tuning")
    assert form.field_kind(page, "Source") == "select" and form.field_kind(page, "Search filters") == "json"
    assert form.field_kind(page, "Keywords") == "lines" and form.field_kind(page, "How many images") == "number"
