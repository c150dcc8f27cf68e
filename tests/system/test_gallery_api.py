"""The gallery's API inside a real `airflow standalone` with the plugin loaded: anonymous 401, a JWT
from /auth/token 200, and an upload through the API ending as a processed image (the upload's own
inbox Asset event -> gallery_inbox -> gallery_process), polled at /gallery/api/images/{sha256}, its
runs followed at /gallery/api/uploads/progress."""

from __future__ import annotations

import io
import json
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from PIL import Image

from airflow_stack import airflow_standalone, wait_for


def call(url, token=None, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers={**(headers or {}),
                                     **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_gallery_api_in_airflow_and_an_upload_processed():
    home = Path(tempfile.mkdtemp(prefix="image-pipeline-gallery-"))
    with airflow_standalone(home, {"GALLERY_FEATURES": "false", "GALLERY_RECIPES": "half_gray"},
                            "gallery_inbox") as stack:
        url, rest = stack["url"], stack["rest_api"]()
        status, _ = call(f"{url}/gallery/api/images")
        assert status == 401
        status, body = call(f"{url}/gallery/api/images", rest.token)
        assert status == 200 and json.loads(body)["count"] == 0
        assert call(f"{url}/gallery/openapi.json")[0] == 401
        assert call(f"{url}/gallery/openapi.json", rest.token)[0] == 200

        out = io.BytesIO()
        Image.new("RGB", (640, 480), (20, 120, 200)).save(out, "JPEG")
        data, ctype = multipart("../../etc/passwd.jpg", out.getvalue())
        status, body = call(f"{url}/gallery/api/uploads", rest.token, data, {"Content-Type": ctype})
        assert status == 200, body
        uploaded = json.loads(body)
        (answer,) = uploaded["files"]
        assert answer["status"] == "accepted"
        sha, event = answer["sha256"], uploaded["event"]
        assert event["recorded"] is True and isinstance(event["id"], int), event

        def processed():
            status, body = call(f"{url}/gallery/api/images/{sha}", rest.token)
            return json.loads(body) if status == 200 and json.loads(body)["status"] == "processed" else None

        doc = wait_for(processed, 420, "the upload to be ingested and processed")
        assert {"half_gray", "thumb"} <= set(doc["outputs"])  # the gallery's thumbnail whatever the recipes
        assert doc["sources"][0]["uploaded_by"] == "admin"
        assert doc["run_ids"][0]["airflow_url"].startswith("/dags/gallery_inbox/runs/")
        status, thumb = call(f"{url}{doc['thumb_url']}", rest.token)
        assert status == 200 and Image.open(io.BytesIO(thumb)).format == "JPEG"

        def progress_done():
            status, body = call(f"{url}/gallery/api/uploads/progress?sha256={sha}&event={event['id']}", rest.token)
            return json.loads(body) if status == 200 and json.loads(body)["done"] else None

        # gallery_inbox's run was started by the upload's own event (not the watcher's), then gallery_process's.
        progress = wait_for(progress_done, 120, "the upload's runs to end")
        assert progress["images"][0]["status"] == "processed"
        assert [r["dag_id"] for r in progress["runs"]][:2] == ["gallery_inbox", "gallery_process"], progress["runs"]
        inbox_run = progress["runs"][0]["run_id"]
        events = rest.get(f"/api/v2/dags/gallery_inbox/dagRuns/{inbox_run}/upstreamAssetEvents")["asset_events"]
        assert [(e["id"], e["extra"].get("uploaded_by")) for e in events] == [(event["id"], "admin")]
