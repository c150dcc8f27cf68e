"""The gallery's Problems view and the problems on an image's page, on both catalog backends: a
gallery with a failed output (on two images), an image still being tried again after an unexpected
failure, one quarantined as unexpected, and the sample set's own quarantines; the runs that recorded
them linked to Airflow's pages by the DAG recorded with them (no query of Airflow's metadata DB);
the conf a Retry triggers."""

from __future__ import annotations


import pytest

from image_pipeline import RELEASE

AT = "2026-11-02T10:00:00.000000+00:00"  # as the catalog writes times
WATERMARK_MISSING = "brand_mark: watermark image 'marks/logo.png' is not a readable file under the recipes' folders"
BOOM = "RuntimeError: boom"
RUN_FAILED = "manual__2026-11-02T10:00:00+00:00"  # a gallery_process run, recorded with its DAG
RUN_GONE = "manual__2026-10-01T00:00:00+00:00"  # a run recorded without its DAG (as before 0.2 releases)


@pytest.fixture
def troubled(backends, gallery_files):
    """On four processed images: `web` failed (the recipe's fault) on a and b, c failed unexpectedly
    once (still tried again), d was quarantined as unexpected after three attempts; e, trashed, has a
    failed output that the view leaves out. The default recipes are half_gray and thumb (so `web` is
    a recipe a retry must name)."""
    _, docs = gallery_files
    a, b, c, d, e = [doc["sha256"] for doc in docs if doc["status"] == "processed"][:5]
    cat = backends.catalog
    failure = {"reason": WATERMARK_MISSING, "kind": "recipe", "operation": "watermark", "version": 2,
               "fingerprint": "f" * 16, "at": AT, "run_id": RUN_FAILED, "dag_id": "gallery_process", "release": RELEASE}
    for sha in (a, b, e):
        cat.record_processing(sha, {}, failures={"web": failure})
    cat.trash_image(e, "admin")
    cat.record_attempt(c, BOOM, AT, run_id=RUN_FAILED, release=RELEASE, dag_id="gallery_process")
    cat.record_quarantine(d, f"failed 3 times: {BOOM}", "process", "quarantine/d.jpg", AT, kind="unexpected",
                          release=RELEASE, run_id=RUN_GONE, attempts=3)
    cfg = backends.cfg
    backends._cfg = cfg.model_copy(update={"processing": cfg.processing.model_copy(update={"recipes": "half_gray,thumb"})})
    return {"a": a, "b": b, "c": c, "d": d, "e": e,
            "before": [doc for doc in docs if doc.get("quarantine")]}  # the sample set's own quarantines


def airflow_url(run_id: str, dag_id: str = "gallery_process") -> str:
    from image_pipeline.ui.images import airflow_base

    return f"{airflow_base()}/dags/{dag_id}/runs/{run_id.replace(':', '%3A').replace('+', '%2B')}"


def test_problems_are_grouped_by_cause_with_samples_runs_and_totals(client, as_user, troubled):
    body = client.get("/api/problems", headers=as_user("viewer")).json()
    a, b, c, d = troubled["a"], troubled["b"], troubled["c"], troubled["d"]

    (failed,) = body["failed_outputs"]  # e is in the trash: left out
    assert {k: failed[k] for k in ("kind", "recipe", "reason", "count", "sha256s")} == {
        "kind": "recipe", "recipe": "web", "reason": WATERMARK_MISSING, "count": 2, "sha256s": sorted([a, b])}
    assert [s["sha256"] for s in failed["samples"]] == sorted([a, b])
    assert all(s["thumb_url"].startswith(f"/api/images/{s['sha256']}/thumb?v=") for s in failed["samples"])
    assert all(s["keyword"] == "lighthouse" and s["title"] is None for s in failed["samples"])
    assert failed["runs"] == [{"run_id": RUN_FAILED, "dag_id": "gallery_process", "airflow_url": airflow_url(RUN_FAILED)}]

    (retrying,) = body["retrying"]
    assert (retrying["kind"], retrying["reason"], retrying["count"], retrying["sha256s"]) == ("retrying", BOOM, 1, [c])
    assert [r["dag_id"] for r in retrying["runs"]] == ["gallery_process"]

    quarantined = body["quarantined"]
    unexpected = [g for g in quarantined if g["kind"] == "unexpected"]
    assert [(g["reason"], g["sha256s"]) for g in unexpected] == [(f"failed 3 times: {BOOM}", [d])]
    # A run recorded without its DAG: named, not linked.
    assert unexpected[0]["runs"] == [{"run_id": RUN_GONE, "dag_id": None, "airflow_url": None}]
    assert unexpected[0]["samples"][0]["thumb_url"]  # it was processed before: its thumbnail stays
    # The sample set's own quarantines, by kind and exact reason, largest group first.
    others = sorted((g["kind"], g["reason"], g["count"]) for g in quarantined if g["kind"] != "unexpected")
    expected = {}
    for doc in troubled["before"]:
        key = (doc["quarantine"].get("kind") or "unclassified", doc["quarantine"]["reason"])
        expected[key] = expected.get(key, 0) + 1
    assert others == sorted((kind, reason, n) for (kind, reason), n in expected.items()) and others
    counts = [g["count"] for g in quarantined]
    assert counts == sorted(counts, reverse=True)

    assert body["totals"] == {"images": 4 + len(troubled["before"]), "quarantined": 1 + len(troubled["before"]),
                              "failed_outputs": 2, "failed_images": 2, "retrying": 1}
    assert body["truncated"] is False
    assert client.get("/api/problems", params={"samples": 1},
                      headers=as_user("viewer")).json()["failed_outputs"][0]["samples"] == failed["samples"][:1]
    assert client.get("/api/problems", params={"samples": 99}, headers=as_user("viewer")).status_code == 422


def test_no_problems_is_an_empty_answer(backends, client, as_user, gallery_files):
    cat = backends.catalog
    for doc in gallery_files[1]:
        if doc.get("quarantine"):
            cat.trash_image(doc["sha256"], "admin")
    body = client.get("/api/problems", headers=as_user("viewer")).json()
    assert body == {"quarantined": [], "failed_outputs": [], "retrying": [], "truncated": False,
                    "totals": {"images": 0, "quarantined": 0, "failed_outputs": 0, "failed_images": 0, "retrying": 0}}


def test_an_images_page_shows_its_failed_outputs_attempts_and_quarantine(client, as_user, troubled):
    a = client.get(f"/api/images/{troubled['a']}", headers=as_user("viewer")).json()
    assert a["status"] == "processed" and set(a["outputs"]) == {"thumb", "half_gray"}  # the others stay
    assert a["failures"] == {"web": {"reason": WATERMARK_MISSING, "operation": "watermark", "at": AT,
                                     "run_id": RUN_FAILED, "version": 2,
                                     "run": {"run_id": RUN_FAILED, "dag_id": "gallery_process",
                                             "airflow_url": airflow_url(RUN_FAILED)}}}
    assert a["quarantine"] is None and a["attempts"] is None

    c = client.get(f"/api/images/{troubled['c']}", headers=as_user("viewer")).json()
    assert c["failures"] == {} and c["quarantine"] is None
    assert {k: c["attempts"][k] for k in ("count", "reason", "at")} == {"count": 1, "reason": BOOM, "at": AT}
    assert [r["dag_id"] for r in c["attempts"]["runs"]] == ["gallery_process"]

    d = client.get(f"/api/images/{troubled['d']}", headers=as_user("viewer")).json()
    assert d["status"] == "quarantined"
    assert {k: d["quarantine"][k] for k in ("reason", "stage", "kind", "attempts", "release", "run_id")} == {
        "reason": f"failed 3 times: {BOOM}", "stage": "process", "kind": "unexpected", "attempts": 3,
        "release": RELEASE, "run_id": RUN_GONE}
    assert d["quarantine"]["run"] == {"run_id": RUN_GONE, "dag_id": None, "airflow_url": None}


def test_the_retry_conf_names_the_defaults_and_the_failed_recipes(backends, client, as_user, troubled):
    a, d = troubled["a"], troubled["d"]
    conf = client.post("/api/problems/conf", json={"sha256s": [d, a, d]}, headers=as_user("viewer"))
    assert conf.status_code == 200, conf.text
    assert conf.json() == {"images": [d, a], "retry": True, "recipes": ["half_gray", "thumb", "web"]}
    # Only the defaults for a quarantine; a recipe deleted since its output failed is not named.
    assert client.post("/api/problems/conf", json={"sha256s": [d]},
                       headers=as_user("viewer")).json()["recipes"] == ["half_gray", "thumb"]
    backends.catalog.record_processing(a, {}, failures={"gone": {"reason": "x", "kind": "recipe", "at": AT}})
    assert set(backends.catalog.get(a)["failures"]) == {"web", "gone"}
    assert client.post("/api/problems/conf", json={"sha256s": [a]},
                       headers=as_user("viewer")).json()["recipes"] == ["half_gray", "thumb", "web"]
    assert client.post("/api/problems/conf", json={"sha256s": ["../etc"]}, headers=as_user("viewer")).status_code == 422
    assert client.post("/api/problems/conf", json={"sha256s": []}, headers=as_user("viewer")).status_code == 422
    assert client.post("/api/problems/conf", json={"sha256s": [a] * 1001},
                       headers=as_user("viewer")).status_code == 422
    # Nothing retried: the problems are all still there.
    totals = client.get("/api/problems", headers=as_user("viewer")).json()["totals"]
    assert (totals["failed_outputs"], totals["retrying"], totals["quarantined"]) == (3, 1, 1 + len(troubled["before"]))


def test_a_run_is_linked_by_the_dag_recorded_with_it():
    from image_pipeline.ui.views import run_ref

    assert run_ref("manual__1+0", "gallery_process", "/af") == {
        "run_id": "manual__1+0", "dag_id": "gallery_process", "airflow_url": "/af/dags/gallery_process/runs/manual__1%2B0"}
    assert run_ref("r3", None, "/af") == {"run_id": "r3", "dag_id": None, "airflow_url": None}
