"""Real backfills on the project's `airflow standalone` (scheduler, API server, DAG processor,
triggerer; its metadata on PostgreSQL, as `make run`'s), asked for the ways a person asks:

- **Busy, from the UI.** While gallery_process works on a batch of real photos, gallery_analytics is
  backfilled over 30 past days of generated records from its Backfill dialog in Chromium (the
  dialog's `POST /api/v2/backfills`), gallery_retrieve and a subscription through the same REST
  call: each is accepted at the first try (on SQLite, Airflow refuses it while the scheduler holds
  the lock: "Database is locked. Backfill creation is not supported on SQLite under concurrent
  access"), and every run succeeds.
- **Right.** Every backfilled day's Parquet partitions and metrics equal an independent computation
  from the records; the backfill's max_active_runs (the dialog's field, capped at the DAG's) is
  reached and never exceeded; the dialog's "Missing Runs" and "Missing and Errored Runs" then find
  nothing to do, and "All Runs" re-runs the 30 days without changing a byte of their outputs.
- **The documented command (docs/dags.md).** `scripts/airflow backfill create` beside the running stack, over three
  past days of saved searches against a site on loopback, succeeds the first time (no retry);
  each run queries its own window; re-running a day adds nothing.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_stack import ROOT, airflow_standalone, real_images, wait_for
from image_pipeline.core.catalog import SqliteCatalog
from image_pipeline.process.recovery import RELEASE

TODAY = datetime.now(timezone.utc).date()
DAYS = [TODAY - timedelta(days=31 - i) for i in range(30)]  # 30 past days, up to the day before yesterday
SUBSCRIPTION = "lighthouses_daily"
UPLOADS = 12  # real photos gallery_process works on while the backfills are asked for (minutes on two cores)
MAX_ACTIVE_RUNS = 2  # gallery_analytics' max_active_runs (GALLERY_ANALYTICS_MAX_ACTIVE_RUNS): the dialog's cap
FINISHED = ("success", "failed", "upstream_failed")


def iso(day: date, hour: int = 0) -> str:
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


def generated_records() -> list[dict]:
    """30 days of a gallery (about 20 images a day), as the catalog records them. Processing's
    quarantines say whose fault they were, as this release's do: recovery lifts one without that
    (made before quarantines recorded their kind) whenever gallery_process plans, which would move
    past days' numbers while the test runs."""
    from support.synthetic import gallery_docs

    docs = list(gallery_docs(DAYS, per_day=20, seed=29))
    for doc in docs:
        if doc["quarantine"] and doc["quarantine"]["stage"] == "process":
            doc["quarantine"].update(kind="image", release=RELEASE)
    return docs


def runs(rest, dag_id: str, run_type: str | None = "backfill") -> list[dict]:
    found = rest.get(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=logical_date")["dag_runs"]
    return [r for r in found if run_type is None or r["run_type"] == run_type]


def all_finished(rest, dag_id: str, count: int, since: str = "") -> list[dict] | None:
    """The DAG's ``count`` backfill runs once all have ended (after ``since``, an ISO time), else None."""
    found = [r for r in runs(rest, dag_id) if (r["end_date"] or "") > since or r["state"] not in FINISHED]
    return found if len(found) == count and all(r["state"] in FINISHED for r in found) else None


def busy_tasks(rest, run_id: str) -> list[str]:
    tis = rest.get(f"/api/v2/dags/gallery_process/dagRuns/{run_id}/taskInstances")["task_instances"]
    return [f"{t['task_id']}[{t['map_index']}]" for t in tis if t["state"] == "running"]


def most_at_once(found: list[dict]) -> int:
    """The most runs that were running at the same moment (their start-end intervals overlapping)."""
    events = sorted([(datetime.fromisoformat(r["start_date"]), 1) for r in found]
                    + [(datetime.fromisoformat(r["end_date"]), -1) for r in found])  # an end sorts before a start
    most = current = 0
    for _, step in events:
        current += step
        most = max(most, current)
    return most


# --- busy, from the UI: gallery_analytics, gallery_retrieve and a subscription ---------------------

@pytest.fixture(scope="class")
def busy_gallery():
    """The stack with 30 days of generated records in its catalog and 12 real photos uploaded (not
    processed yet). gallery_process's one scheduled run (its cron set to a yearly one, the latest
    of which the scheduler runs when the DAG appears) is over before the records arrive: from then
    on gallery_process runs only when the test triggers it, on the photos. gallery_deliver, which
    would follow it, is paused. No saved searches: gallery_retrieve's runs ask for nothing."""
    from image_pipeline.core.storage import LocalStore
    from image_pipeline.retrieve.ingest import ingest_folder
    from support.synthetic import insert_docs

    home = Path(tempfile.mkdtemp(prefix="image-pipeline-backfill-busy-"))
    (home / "searches.yaml").write_text("searches: []\n")
    (home / "subscriptions.yaml").write_text(
        f"subscriptions:\n  - name: {SUBSCRIPTION}\n    recipient: editor@example.org\n    cron: '0 7 * * *'\n"
        f"    selection: {{keyword: lighthouse, recipe: half_gray}}\n    description: daily lighthouses\n")
    env = {"GALLERY_SEARCHES_FILE": str(home / "searches.yaml"),
           "GALLERY_SUBSCRIPTIONS_FILE": str(home / "subscriptions.yaml"),
           "GALLERY_PROCESS_SCHEDULE": "0 0 1 1 *"}
    try:
        with airflow_standalone(home, env, "gallery_analytics") as stack:
            rest = stack["rest_api"]()
            print(f"stack up in {stack['started_in']:.1f} s")
            wait_for(lambda: all(rest.get(f"/api/v2/dags/{d}/details") for d in (
                "gallery_process", "gallery_retrieve", "gallery_deliver", f"gallery_subscription_{SUBSCRIPTION}")),
                120, "every DAG to be parsed")
            rest.patch("/api/v2/dags/gallery_deliver", {"is_paused": True})
            wait_for(lambda: any(r["state"] in FINISHED for r in runs(rest, "gallery_process", "scheduled")), 300,
                     "gallery_process's scheduled run")
            records = generated_records()
            photos = home / "uploads"
            photos.mkdir()
            for path in real_images(UPLOADS):
                shutil.copy(path, photos / path.name)
            with SqliteCatalog(home / "catalog.sqlite3") as catalog:
                insert_docs(catalog, records)
                ingest_folder(LocalStore(home / "data"), catalog, photos, keyword="uploads", run_id="uploads")
                uploaded = sorted(d["sha256"] for d in catalog.find() if "uploads" in d["keywords"])
            assert len(uploaded) == UPLOADS
            yield {**stack, "rest": rest, "records": records, "uploaded": uploaded, "backfills": {}}
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="class")
def browser(tmp_path_factory):
    from support.browser import with_profile

    with with_profile(tmp_path_factory.mktemp("chromium-profile"), {"width": 1300, "height": 1100}) as context:
        yield context


def fill_the_backfill_dialog(page, url: str, dag_id: str, first: date, last: date, max_active_runs: int,
                             screenshot: Path | None = None):
    """A person's backfill up to the last click: the DAG's page, Trigger, Backfill, the date range in
    the pickers (UTC), Max Active Runs. Returns the dialog, ready for Run Backfill."""
    from playwright.sync_api import expect

    from support import trigger_form as form

    page.goto(f"{url}/dags/{dag_id}")
    page.get_by_test_id("trigger-dag-button").click(timeout=form.TIMEOUT)
    dialog = page.get_by_role("dialog").first
    dialog.locator("label[data-part=item]", has_text="Backfill").click()
    expect(dialog.locator("h2").first).to_contain_text("Run Backfill")
    for label, day in (("From", first), ("To", last)):
        field = dialog.locator("[data-scope=field][data-part=root]",
                               has=page.locator("label", has_text=re.compile(rf"^{label}$")))
        field.get_by_test_id("datetime-input").click()
        picker = page.locator("[data-scope=popover][data-part=content]:visible")
        picker.get_by_placeholder("YYYY/MM/DD").fill(day.strftime("%Y/%m/%d"))
        picker.get_by_placeholder("HH:mm").fill("00:00")
        dialog.locator("h2").first.click()  # closes the picker (Escape would close the dialog)
        expect(picker).to_have_count(0)
        expect(field.get_by_test_id("datetime-input")).to_have_text(day.strftime("%b %d, %Y 00:00"))
    days = (last - first).days + 1
    expect(dialog).to_contain_text(f"{days} runs will be triggered.", timeout=form.TIMEOUT)  # the dialog's dry run
    runs_field = dialog.locator("input[name=max_active_runs]")
    assert runs_field.get_attribute("max") == str(MAX_ACTIVE_RUNS)  # capped at the DAG's max_active_runs
    runs_field.fill(str(max_active_runs))
    if screenshot:
        page.screenshot(path=str(screenshot))
    return dialog


def run_backfill(page, dialog):
    """Run Backfill: the API server's answer to the dialog's POST and the seconds from the click to it."""
    from support import trigger_form as form

    submit = dialog.get_by_role("button", name="Run Backfill")
    with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/v2/backfills"),
                              timeout=form.TIMEOUT) as answer:
        clicked = time.monotonic()
        submit.click()
    seconds = time.monotonic() - clicked
    response = answer.value
    body = response.json() if "json" in (response.headers.get("content-type") or "") else {"detail": response.text()}
    return response.status, body, seconds


@pytest.mark.timeout(1800)  # 60 runs of gallery_analytics and a batch of real photos on two shared cores
class TestBackfillsOfABusyGallery:
    def test_backfills_asked_while_gallery_process_works_are_accepted_at_once(self, busy_gallery, browser, tmp_path):
        from support import trigger_form as form

        rest, url = busy_gallery["rest"], busy_gallery["url"]
        # The dialog is filled in first and Run Backfill clicked once gallery_process is seen working: the
        # three backfills are then asked within seconds of it, however fast this machine processes photos.
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        form.login(page, url, "admin", json.loads(
            (busy_gallery["home"] / "simple_auth_manager_passwords.json.generated").read_text())["admin"])
        dialog = fill_the_backfill_dialog(page, url, "gallery_analytics", DAYS[0], DAYS[-1], MAX_ACTIVE_RUNS,
                                          screenshot=tmp_path / "dialog.png")
        print(f"the dialog before Run Backfill: {tmp_path / 'dialog.png'}")

        run = rest.post("/api/v2/dags/gallery_process/dagRuns",
                        {"logical_date": None, "conf": {"images": busy_gallery["uploaded"]}})["dag_run_id"]
        busy = wait_for(lambda: [t for t in busy_tasks(rest, run) if t.startswith("process_batch")], 300,
                        "gallery_process to work on the photos", interval=0.2)
        print(f"gallery_process busy: {busy}")
        status, body, seconds = run_backfill(page, dialog)
        assert status == 200, body  # never "Database is locked"
        assert (body["dag_id"], body["reprocess_behavior"], body["max_active_runs"]) == \
            ("gallery_analytics", "none", MAX_ACTIVE_RUNS)
        page.close()
        assert errors == [], f"errors in the page: {errors}"
        busy_gallery["backfills"]["gallery_analytics"] = body["id"]
        latencies = {"gallery_analytics (dialog)": seconds}

        # The same call for gallery_retrieve and the subscription (their crons: 06:00 and 07:00).
        for dag_id in ("gallery_retrieve", f"gallery_subscription_{SUBSCRIPTION}"):
            asked = time.monotonic()
            created = rest.post("/api/v2/backfills", {"dag_id": dag_id, "from_date": iso(TODAY - timedelta(days=6)),
                                                      "to_date": iso(TODAY - timedelta(days=4), 23)})
            latencies[dag_id] = time.monotonic() - asked
            busy_gallery["backfills"][dag_id] = created["id"]
        still = busy_tasks(rest, run)
        print("backfill created in " + ", ".join(f"{k}: {v:.2f} s" for k, v in latencies.items())
              + f"; gallery_process still at {still}")
        assert still, "gallery_process ended before every backfill was asked for: the stack was not busy"

        analytics = wait_for(lambda: all_finished(rest, "gallery_analytics", len(DAYS)), 1200,
                             "the 30 days of gallery_analytics")
        assert [r["state"] for r in analytics] == ["success"] * len(DAYS)
        assert [r["logical_date"][:10] for r in analytics] == [d.isoformat() for d in DAYS]
        for dag_id in ("gallery_retrieve", f"gallery_subscription_{SUBSCRIPTION}"):
            done = wait_for(lambda dag_id=dag_id: all_finished(rest, dag_id, 3), 600, f"{dag_id}'s backfill")
            assert [r["state"] for r in done] == ["success"] * 3, dag_id
        assert wait_for(lambda: (s := rest.get(f"/api/v2/dags/gallery_process/dagRuns/{run}")["state"]) in FINISHED
                        and s, 900, "gallery_process's run") == "success"
        for dag_id, backfill in busy_gallery["backfills"].items():  # the scheduler marks it done after its runs
            wait_for(lambda backfill=backfill: rest.get(f"/api/v2/backfills/{backfill}")["completed_at"], 120,
                     f"{dag_id}'s backfill to complete")
        # Nothing was retrieved (no saved searches) and the subscription had nothing to send.
        outbox = busy_gallery["home"] / "data" / "outbox"
        assert not [p for p in outbox.glob("*.eml") if "editor@example.org" in p.read_text(errors="replace")]

    def test_each_day_equals_an_independent_computation_and_max_active_runs_holds(self, busy_gallery):
        import pyarrow.parquet as pq

        from image_pipeline.core.storage import LocalStore
        from image_pipeline.wiring import all_recipes
        from unit.analytics.test_analytics import check_metrics, expected, window

        rest, home = busy_gallery["rest"], busy_gallery["home"]
        backfilled = runs(rest, "gallery_analytics")
        assert len(backfilled) == len(DAYS)
        assert most_at_once(backfilled) == MAX_ACTIVE_RUNS  # reached, never exceeded
        recipes = sorted(all_recipes())
        store = LocalStore(home / "data")
        with SqliteCatalog(home / "catalog.sqlite3") as catalog:
            metrics = {m["day"]: m for m in catalog.metrics()}
        records = busy_gallery["records"]
        for day in DAYS:
            since, until = window(day)
            inside = lambda at, since=since, until=until: bool(at) and since <= at < until  # noqa: E731
            flags = {d["sha256"]: (inside(d["retrieved_at"]),
                                   any(inside(o["processed_at"]) for r, o in d["outputs"].items() if r in recipes),
                                   bool(d["quarantine"]) and inside(d["quarantine"]["at"])) for d in records}
            images = pq.read_table(io.BytesIO(store.get_bytes(f"reports/images/dt={day}/part-0.parquet"))).to_pylist()
            assert {r["sha256"]: (r["retrieved"], r["processed"], r["quarantined"]) for r in images} == \
                {sha: f for sha, f in flags.items() if any(f)}, day
            outputs = pq.read_table(io.BytesIO(store.get_bytes(f"reports/outputs/dt={day}/part-0.parquet"))).to_pylist()
            assert sorted((r["sha256"], r["recipe"]) for r in outputs) == sorted(
                (d["sha256"], r) for d in records for r, o in d["outputs"].items() if r in recipes and inside(o["processed_at"]))
            check_metrics(metrics[day.isoformat()], expected(records, day, recipes))
            assert json.loads(store.get_bytes(f"reports/daily/dt={day}/metrics.json")) == metrics[day.isoformat()]

    def test_reprocessing_finds_nothing_missing_and_all_runs_change_nothing(self, busy_gallery):
        from image_pipeline.core.storage import LocalStore

        rest, home = busy_gallery["rest"], busy_gallery["home"]
        store = LocalStore(home / "data")
        day_outputs = lambda: {k: store.get_bytes(k) for d in DAYS for prefix in (  # noqa: E731
            f"reports/images/dt={d}/", f"reports/outputs/dt={d}/", f"reports/daily/dt={d}/") for k in store.list(prefix)}
        with SqliteCatalog(home / "catalog.sqlite3") as catalog:
            metrics_before = {m["day"]: m for m in catalog.metrics() if m["day"] in {d.isoformat() for d in DAYS}}
        before = day_outputs()
        assert len(metrics_before) == len(DAYS) and len(before) >= 4 * len(DAYS)
        asked = {"dag_id": "gallery_analytics", "from_date": iso(DAYS[0]), "to_date": iso(DAYS[-1]),
                 "max_active_runs": MAX_ACTIVE_RUNS}
        # What the dialog says before Run Backfill (its dry run), for each Reprocess Behavior.
        planned = {how: rest.post("/api/v2/backfills/dry_run", {**asked, "reprocess_behavior": how})["total_entries"]
                   for how in ("none", "failed", "completed")}
        assert planned == {"none": 0, "failed": 0, "completed": len(DAYS)}

        started = datetime.now(timezone.utc).isoformat()
        rest.post("/api/v2/backfills", {**asked, "reprocess_behavior": "completed"})
        again = wait_for(lambda: all_finished(rest, "gallery_analytics", len(DAYS), since=started), 1200,
                         "the 30 days run again")
        assert [r["state"] for r in again] == ["success"] * len(DAYS)
        assert most_at_once(again) <= MAX_ACTIVE_RUNS
        assert day_outputs() == before
        with SqliteCatalog(home / "catalog.sqlite3") as catalog:
            assert {m["day"]: m for m in catalog.metrics() if m["day"] in metrics_before} == metrics_before


# --- the documented command beside the running stack: gallery_retrieve over three days -----------------

@pytest.fixture(scope="class")
def standalone(http_site):
    home = Path(tempfile.mkdtemp(prefix="image-pipeline-backfill-"))
    searches = home / "searches.yaml"
    searches.write_text(f"searches:\n  - engine: greedy\n    site_url: {http_site}/index.html\n    count: 3\n")
    env = {"GALLERY_SEARCHES_FILE": str(searches), "GALLERY_ALLOWED_HOSTS": "127.0.0.1",
           "GALLERY_CRAWL_IDLE_TIMEOUT": "3"}
    try:
        with airflow_standalone(home, env, "gallery_retrieve") as server:
            yield server
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="class")
def http_site(tmp_path_factory):
    from support.loopback import served
    from support.samples import make_samples

    root = tmp_path_factory.mktemp("site")
    make_samples(root / "img")
    (root / "index.html").write_text('<html><img src="img/sample-0.jpg"><img src="img/sample-1.png">'
                                     '<img src="img/sample-2.gif"></html>')
    with served(root) as base:
        yield base


def project_command(server, *args: str) -> subprocess.CompletedProcess:
    """``scripts/airflow ARGS`` as docs/dags.md writes it, on the stack's home and metadata DB, once:
    it must succeed the first time."""
    done = subprocess.run([str(ROOT / "scripts" / "airflow"), *args], env=server["env"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"scripts/airflow {' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def retrieve_runs(rest):
    """gallery_retrieve's backfill runs, oldest first, through the REST API (a poll costs a request, not a
    CLI start); ``logical_date`` as the tasks' ``isoformat()`` writes it."""
    return sorted(({**r, "run_id": r["dag_run_id"], "logical_date": datetime.fromisoformat(r["logical_date"]).isoformat()}
                   for r in runs(rest, "gallery_retrieve")), key=lambda r: r["logical_date"])


def processed(home: Path) -> int:
    """How many images of the catalog have outputs."""
    with SqliteCatalog(home / "catalog.sqlite3") as catalog:
        return sum(1 for d in catalog.find() if d.get("outputs"))


class TestTheDocumentedCommand:
    def test_a_backfill_of_three_days_queries_each_window_once(self, standalone):
        home, rest = standalone["home"], standalone["rest_api"]()
        start, end = TODAY - timedelta(days=6), TODAY - timedelta(days=3)
        project_command(standalone, "backfill", "create", "--dag-id", "gallery_retrieve", "--from-date",
                        start.isoformat(), "--to-date", end.isoformat())
        found = wait_for(lambda: (r := retrieve_runs(rest)) and all(x["state"] in FINISHED for x in r)
                         and len(r) >= 3 and r, 600, "the backfill runs")  # generous: two shared cores
        assert [r["state"] for r in found] == ["success"] * len(found) and len(found) == 3
        # Every DAG is unpaused: the retrieved images' Asset event starts gallery_process, which adds
        # features and outputs. The documents are compared once it has processed the three.
        wait_for(lambda: processed(home) == 3, 300, "gallery_process to process the retrieved images")
        with SqliteCatalog(home / "catalog.sqlite3") as catalog:
            docs = catalog.find()
        assert len(docs) == 3  # the same three images every day: stored once
        # Each backfill run recorded its own window (the DAG's latest scheduled run may add one more).
        windows = {tuple(s["data_interval"]) for d in docs for s in d["sources"]}
        expected = {(r["logical_date"], (datetime.fromisoformat(r["logical_date"]) + timedelta(days=1)).isoformat())
                    for r in found}
        assert expected <= windows and len(expected) == 3
        assert all({r["run_id"] for r in found} <= set(d["run_ids"]) for d in docs)
        objects = sorted(p.relative_to(home / "data") for p in (home / "data" / "raw").rglob("*.*"))
        assert len(objects) == 3

        # Re-running one day: its tasks run again, nothing is added or changed. (The range is the run's
        # logical date, 06:00 by the DAG's cron: `-s DAY -e DAY` would end at midnight and clear nothing.)
        day, run_id = found[0]["logical_date"], found[0]["run_id"]
        tries = lambda: {t["task_id"]: t["try_number"] for t in rest.get(  # noqa: E731
            f"/api/v2/dags/gallery_retrieve/dagRuns/{run_id}/taskInstances")["task_instances"]}
        before = tries()
        project_command(standalone, "tasks", "clear", "gallery_retrieve", "-s", day, "-e", day, "-y")
        wait_for(lambda: all(n > before[t] for t, n in tries().items())
                 and all(x["state"] == "success" for x in retrieve_runs(rest)), 180, "the cleared day to re-run")
        with SqliteCatalog(home / "catalog.sqlite3") as catalog:
            assert catalog.find() == docs
        assert sorted(p.relative_to(home / "data") for p in (home / "data" / "raw").rglob("*.*")) == objects
