"""Catalog documents as the gallery API's JSON: a grid item and an image's detail. Each shape is a model
of :mod:`.schemas` (``ImageSummary``, ``ImageDetail`` and theirs), the routes' ``response_model``: every
answer is checked against it, and a key added here without its field there fails the tests.

File URLs carry a version (``?v=``) that changes when the bytes behind them can: a recipe's output is
named by its input's hash but remade when the recipe changes, so its URL names the recipe's
fingerprint and may be cached as immutable.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

OSM = "https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=15/{lat}/{lon}"


def output_version(output: dict[str, Any]) -> str:
    """What names an output's bytes besides the image: its recipe's fingerprint (else version)."""
    return str(output.get("fingerprint") or output.get("version") or "0")[:16]


def file_url(root: str, sha256: str, what: str, output: dict[str, Any] | None = None) -> str:
    url = f"{root}/api/images/{sha256}/{what}"
    return url + (f"?v={quote(output_version(output))}" if output is not None else "")


def thumb_url(root: str, doc: dict[str, Any], thumb: str) -> str | None:
    output = (doc.get("outputs") or {}).get(thumb)
    return file_url(root, doc["sha256"], "thumb", output) if output else None


def top_labels(doc: dict[str, Any], count: int = 3) -> list[str]:
    labels = ((doc.get("features") or {}).get("labels")) or []
    ranked = sorted((lab for lab in labels if isinstance(lab, dict)), key=lambda lab: -(lab.get("score") or 0))
    return [lab["name"] for lab in ranked[:count] if "name" in lab]


def summary(doc: dict[str, Any], root: str, thumb: str) -> dict[str, Any]:
    """One grid item."""
    return {
        "sha256": doc["sha256"], "width": doc.get("width"), "height": doc.get("height"),
        "format": doc.get("format"), "status": doc.get("status"), "keywords": doc.get("keywords") or [],
        "labels": top_labels(doc), "retrieved_at": doc.get("retrieved_at"), "thumb_url": thumb_url(root, doc, thumb),
        "title": doc.get("title"), "description": doc.get("description"), "tags": doc.get("tags") or [],
        "trashed": doc.get("trashed") or None,
    }


def _run_links(doc: dict[str, Any], airflow_base: str) -> list[dict[str, Any]]:
    """The retrieval runs, each linked to its Airflow page when the DAG that ran it is known: the
    sources record their run's DAG (``dag_id``); with one DAG among them, every run is of it."""
    dag_ids = {s.get("dag_id") for s in doc.get("sources") or [] if isinstance(s, dict)} - {None}
    dag_id = next(iter(dag_ids)) if len(dag_ids) == 1 else None
    return [{"run_id": run_id, "dag_id": dag_id,
             "airflow_url": f"{airflow_base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"
             if dag_id else None}
            for run_id in doc.get("run_ids") or []]


def run_ref(run_id: str, dag_id: str | None, airflow_base: str) -> dict[str, Any]:
    """A run that recorded a problem, with Airflow's page of it when its DAG was recorded with it
    (processing records both; a record older than that has the run id only, shown without a link)."""
    url = f"{airflow_base}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}" if dag_id else None
    return {"run_id": run_id, "dag_id": dag_id, "airflow_url": url}


def _problems(doc: dict[str, Any], airflow_base: str) -> dict[str, Any]:
    """What processing could not do for the image: its quarantine (with its kind, attempts and run),
    its failed outputs (recipe -> reason, operation, when, run) and its unexpected attempts."""
    def run(entry: dict[str, Any]) -> dict[str, Any] | None:
        return run_ref(entry["run_id"], entry.get("dag_id"), airflow_base) if entry.get("run_id") else None

    quarantine = doc.get("quarantine")
    attempts = doc.get("attempts")
    return {
        "quarantine": {**{k: quarantine.get(k) for k in ("reason", "stage", "at", "kind", "attempts", "release",
                                                         "run_id")},
                       "run": run(quarantine)} if quarantine else None,
        "failures": {recipe: {**{k: failure.get(k) for k in ("reason", "operation", "at", "run_id", "version")},
                              "run": run(failure)}
                     for recipe, failure in sorted((doc.get("failures") or {}).items()) if isinstance(failure, dict)},
        "attempts": {"count": attempts.get("count"), "reason": attempts.get("reason"), "at": attempts.get("at"),
                     "runs": [run_ref(r, attempts.get("dag_id"), airflow_base) for r in attempts.get("run_ids") or []]}
        if attempts else None,
    }


def _source(entry: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    keywords = doc.get("keywords") or []
    return {
        "source": entry.get("source"), "uri": entry.get("uri"), "page_url": entry.get("page_url"),
        "keyword": entry.get("keyword") or (keywords[0] if len(keywords) == 1 else None),
        "licence": entry.get("licence"), "licence_url": entry.get("licence_url"), "creator": entry.get("creator"),
        "retrieved_at": entry.get("retrieved_at") or doc.get("retrieved_at"), "uploaded_by": entry.get("uploaded_by"),
        "dag_id": entry.get("dag_id"),
    }


def _features(doc: dict[str, Any]) -> dict[str, Any] | None:
    features = doc.get("features")
    if not isinstance(features, dict):
        return None
    exif = dict(features.get("exif") or {})
    gps = exif.get("gps")
    if isinstance(gps, dict) and gps.get("lat") is not None and gps.get("lon") is not None:
        exif["gps"] = {**gps, "map_url": OSM.format(lat=gps["lat"], lon=gps["lon"])}
    source = features.get("label_source")
    return {
        "exif": exif,
        "labels": [{"name": lab.get("name"), "score": lab.get("score"), "source": source}
                   for lab in features.get("labels") or [] if isinstance(lab, dict)],
        "label_source": source,
        "faces": {"count": features.get("faces"), "boxes": features.get("face_boxes") or []},
        "dominant_colors": features.get("dominant_colors") or [],
        "brightness": features.get("brightness"), "contrast": features.get("contrast"),
        "blur": features.get("blur"), "phash": features.get("phash"), "version": features.get("version"),
    }


def detail(doc: dict[str, Any], root: str, airflow_base: str, thumb: str,
           near_duplicates: list[dict[str, Any]]) -> dict[str, Any]:
    """The image's page: everything the catalog knows, with its files' URLs."""
    sha = doc["sha256"]
    quarantine = doc.get("quarantine")
    outputs = {}
    for recipe, output in (doc.get("outputs") or {}).items():
        outputs[recipe] = {
            "url": file_url(root, sha, f"outputs/{quote(recipe, safe='')}", output),
            "width": output.get("width"), "height": output.get("height"), "bytes": output.get("bytes"),
            "format": output.get("format"), "version": output.get("version"), "seconds": output.get("seconds"),
            "timings": output.get("timings") or {}, "processed_at": output.get("processed_at"),
            "quality": output.get("quality"),
        }
    return {
        **summary(doc, root, thumb),
        "bytes": doc.get("bytes"), "last_seen_at": doc.get("last_seen_at"),
        **_problems(doc, airflow_base),
        "run_ids": _run_links(doc, airflow_base),
        "sources": [_source(s, doc) for s in doc.get("sources") or [] if isinstance(s, dict)],
        "features": _features(doc),
        "outputs": outputs,
        "duplicate_of": doc.get("duplicate_of"),
        "near_duplicates": [{"sha256": d["sha256"], "thumb_url": thumb_url(root, d, thumb)} for d in near_duplicates],
        "raw_url": file_url(root, sha, "raw") if doc.get("raw_key") or quarantine else None,
        "history": doc.get("history") or [],
    }
