"""The image-search API sources, offline: Openverse and Wikimedia Commons answers in each API's
documented format, and the images they point at, served on loopback. Images land once with their
creator and licence, which the archive's manifest and the day's analytics then carry; pages are read
one at a time, a polite pause apart, and only as far as needed; a 429 is waited out; filters are
refused before any request."""

from __future__ import annotations

import csv
import io
import json
import shutil
import threading
import time
import zipfile
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from image_pipeline import analytics
from image_pipeline.core import keys
from image_pipeline.core.selection import Selection
from image_pipeline.deliver import ensure_archive
from image_pipeline.process.recipes import get_recipe
from image_pipeline.retrieve import openverse, retrieve, validate_request, wikimedia, with_window
from image_pipeline.retrieve.fetch import FetchPolicy
from image_pipeline.core.errors import InvalidRequest

POLICY = FetchPolicy(allowed_hosts=frozenset({"127.0.0.1"}), deadline=5.0, read_timeout=2.0)


@pytest.fixture(autouse=True)
def quick_pages(monkeypatch):
    """A shorter pause between pages than the real APIs get (the tests measure it)."""
    monkeypatch.setattr(openverse, "PAGE_DELAY", 0.3)
    monkeypatch.setattr(wikimedia, "PAGE_DELAY", 0.3)
    monkeypatch.setattr(wikimedia, "LAG_WAIT", 0.3)


class Api:
    """A loopback server: scripted API answers by path (a list is answered in turn, its last entry
    from then on) and the sample images under /img/; every request is remembered."""

    def __init__(self, root):
        self.root, self.routes, self.requests = root, {}, []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self, method):
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                api.requests.append({"method": method, "path": parts.path, "at": time.monotonic(),
                                     "query": {k: v[0] for k, v in parse_qs(parts.query).items()},
                                     "form": {k: v[0] for k, v in parse_qs(body).items()},
                                     "headers": dict(self.headers)})
                if parts.path.startswith("/img/"):
                    file = api.root / parts.path[len("/img/"):]
                    status, headers, data = (200, {}, file.read_bytes()) if file.is_file() else (404, {}, b"")
                else:
                    status, headers, data = api.next_answer(parts.path, api.requests[-1]["query"])
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self.answer("GET")

            def do_POST(self):
                self.answer("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next_answer(self, path, query):
        script = self.routes.get(path)
        if callable(script):
            script = script(query)
        if isinstance(script, list):
            script = script.pop(0) if len(script) > 1 else script[0]
        if script is None:
            return 404, {}, b""
        if isinstance(script, tuple):  # (status, headers, JSON)
            status, headers, content = script
            return status, headers, json.dumps(content).encode()
        return 200, {"Content-Type": "application/json"}, json.dumps(script).encode()

    def calls(self, path):
        return [r for r in self.requests if r["path"] == path]


@pytest.fixture
def api(tmp_path, samples):
    root = tmp_path / "www"
    root.mkdir()
    for name in ("sample-0.jpg", "sample-1.png", "sample-2.gif", "sample-3.jpg", "sample-4.png"):
        shutil.copy(samples / name, root / name)
    shutil.copy(samples / "sample-0.jpg", root / "copy-of-0.jpg")
    (root / "not-an-image.jpg").write_text("<html>a page, not an image</html>")
    server = Api(root)
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


# --- Openverse ---------------------------------------------------------------------------------

def openverse_result(base, name, licence, version, creator, **extra):
    """One result as GET /v1/images/ documents it (the fields the API returns for an image)."""
    return {"id": f"id-{name}", "title": name, "indexed_on": "2024-01-01T00:00:00Z",
            "foreign_landing_url": f"https://www.flickr.com/photos/someone/{name}", "url": f"{base}/img/{name}",
            "creator": creator, "creator_url": f"https://www.flickr.com/photos/{creator}", "license": licence,
            "license_version": version,
            "license_url": "https://creativecommons.org/publicdomain/zero/1.0/" if licence == "cc0"
            else f"https://creativecommons.org/licenses/{licence}/{version}/",
            "provider": "flickr", "source": "flickr", "category": None, "filesize": None, "filetype": None,
            "tags": [], "attribution": f'"{name}" by {creator}', "fields_matched": ["title"], "mature": False,
            "height": 480, "width": 640, "thumbnail": f"{base}/v1/images/id-{name}/thumb/",
            "detail_url": f"{base}/v1/images/id-{name}/", "related_url": f"{base}/v1/images/id-{name}/related/",
            "unstable__sensitivity": [], **extra}


def openverse_page(page, page_count, results):
    return {"result_count": 2 * len(results), "page_count": page_count, "page_size": 20, "page": page,
            "results": results, "warnings": []}


@pytest.fixture
def openverse_api(api):
    b = api.base
    pages = {
        "1": openverse_page(1, 2, [openverse_result(b, "sample-0.jpg", "by-sa", "4.0", "Ann"),
                                   openverse_result(b, "sample-1.png", "cc0", "1.0", "Bob"),
                                   openverse_result(b, "not-an-image.jpg", "by", "2.0", "Eve")]),
        "2": openverse_page(2, 2, [openverse_result(b, "sample-2.gif", "by", "2.0", "Cid"),
                                   openverse_result(b, "copy-of-0.jpg", "by", "2.0", "Dan"),  # same bytes as sample-0
                                   openverse_result(b, "sample-0.jpg", "by-sa", "4.0", "Ann")]),  # listed again
    }
    busy = [(429, {"Retry-After": "1"}, {"detail": "Request was throttled. Expected available in 1 second."})]

    def images(query):
        if query.get("page") == "2" and busy:
            return busy.pop()
        return pages.get(query.get("page"))

    api.routes["/v1/images/"] = images
    api.routes["/v1/auth_tokens/token/"] = {"access_token": "TOKEN", "scope": "read write", "expires_in": 43200,
                                            "token_type": "Bearer"}
    return api


def test_openverse_images_land_once_with_creator_and_licence(gallery, openverse_api):
    api, (store, catalog) = openverse_api, gallery
    (request,) = validate_request(engine="openverse", keywords=["lighthouse"], count=10,
                                  filters={"license": ["by-sa", "cc0", "by"], "category": "photograph",
                                           "aspect_ratio": "wide", "size": "large"})
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY,
                       endpoints={"openverse": f"{api.base}/v1/images/"}).as_dict()

    assert summary["new"] == 3 and summary["refused_reasons"] == {"not_an_image": 1}
    sources = {s["uri"].rsplit("/", 1)[-1]: s for d in catalog.find() for s in d["sources"]}
    assert {name: (s["creator"], s["licence"]) for name, s in sources.items()} == {
        "sample-0.jpg": ("Ann", "CC BY-SA 4.0"), "sample-1.png": ("Bob", "CC0 1.0"),
        "sample-2.gif": ("Cid", "CC BY 2.0"), "copy-of-0.jpg": ("Dan", "CC BY 2.0")}  # the copy: a second source
    assert len(catalog.find()) == 3 and len(list(store.list("raw/"))) == 3
    assert sources["sample-0.jpg"]["licence_url"] == "https://creativecommons.org/licenses/by-sa/4.0/"
    assert sources["sample-0.jpg"]["page_url"] == "https://www.flickr.com/photos/someone/sample-0.jpg"
    assert all(s["source"] == "openverse" for s in sources.values())

    calls = api.calls("/v1/images/")
    assert [c["query"]["page"] for c in calls] == ["1", "2", "2"]  # page 2 throttled once, then asked again
    assert calls[0]["query"] | {"page": "1"} == {"q": "lighthouse", "page": "1", "page_size": "20",
                                                 "license": "by-sa,cc0,by", "category": "photograph",
                                                 "aspect_ratio": "wide", "size": "large"}
    assert "Authorization" not in calls[0]["headers"] and not api.calls("/v1/auth_tokens/token/")  # anonymous
    assert calls[1]["at"] - calls[0]["at"] >= 0.3  # a polite pause between pages
    assert calls[2]["at"] - calls[1]["at"] >= 1.0  # the 429's Retry-After waited out


def test_openverse_reads_only_the_pages_it_needs_and_uses_the_connections_credentials(gallery, openverse_api):
    api, (store, catalog) = openverse_api, gallery
    (request,) = validate_request(engine="openverse", keywords=["lighthouse"], count=2)
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY,
                       endpoints={"openverse": f"{api.base}/v1/images/"},
                       api_keys={"openverse": {"client_id": "app", "client_secret": "s3cret"}}).as_dict()
    assert summary["new"] == 2 and summary["stop_reason"] == "count_reached"
    (token,) = api.calls("/v1/auth_tokens/token/")
    assert token["method"] == "POST" and token["form"] == {"grant_type": "client_credentials", "client_id": "app",
                                                          "client_secret": "s3cret"}
    (page,) = api.calls("/v1/images/")  # two images were enough: page 2 never asked for
    assert page["headers"]["Authorization"] == "Bearer TOKEN" and page["query"]["page_size"] == "100"


def test_openverse_filters_are_refused_before_any_request(gallery, openverse_api):
    for filters, message in [({"license": "gpl"}, "license 'gpl'"), ({"license": "by,by-xx"}, "license 'by-xx'"),
                             ({"license_type": "free"}, "license_type"), ({"size": "huge"}, "size"),
                             ({"aspect_ratio": "round"}, "aspect_ratio"), ({"category": "painting"}, "category"),
                             ({"extension": "svg"}, "extension"), ({"colour": "red"}, "filters: colour"),
                             ({"source": "flickr", "excluded_source": "met"}, "not both"),
                             ({"source": "flickr;drop"}, "provider name"), ({"mature": "yes"}, "mature"),
                             ({"license": []}, "a list of strings")]:
        with pytest.raises(InvalidRequest, match=message):
            validate_request(engine="openverse", keywords=["lighthouse"], filters=filters)
    assert openverse_api.requests == []
    with pytest.raises(InvalidRequest, match="needs at least one keyword"):
        validate_request(engine="openverse", keywords=[])


def test_neither_api_has_a_date_window():
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    for engine, filters in (("openverse", {"license": "by"}), ("wikimedia", {"min_width": 800})):
        (request,) = validate_request(engine=engine, keywords=["lighthouse"], filters=filters)
        assert with_window(request, start, start + timedelta(days=1), now=start + timedelta(days=2)) == request


# --- Wikimedia Commons ---------------------------------------------------------------------------

def commons_page(base, index, name, artist, licence, licence_url, mime="image/jpeg"):
    """One page of generator=search with prop=imageinfo (formatversion=2), as the API answers it."""
    meta = {"Artist": {"value": artist, "source": "commons-desc-page"},
            "LicenseShortName": {"value": licence, "source": "commons-desc-page", "hidden": ""},
            "LicenseUrl": {"value": licence_url, "source": "commons-desc-page", "hidden": ""}}
    return {"pageid": 1000 + index, "ns": 6, "title": f"File:{name}", "index": index, "imagerepository": "local",
            "imageinfo": [{"size": 1234, "width": 640, "height": 480, "url": f"{base}/img/{name}",
                           "descriptionurl": f"https://commons.wikimedia.org/wiki/File:{name}",
                           "descriptionshorturl": f"https://commons.wikimedia.org/w/index.php?curid={1000 + index}",
                           "mime": mime, "extmetadata": meta}]}


@pytest.fixture
def commons_api(api):
    b = api.base
    first = {"batchcomplete": True, "continue": {"gsroffset": 3, "continue": "gsroffset||"}, "query": {"pages": [
        # pages come keyed by id, not in search order: "index" says the order
        commons_page(b, 2, "sample-3.jpg", "Unknown author", "Public domain", ""),
        commons_page(b, 1, "sample-4.png", '<a href="//commons.wikimedia.org/wiki/User:Zed" title="User:Zed">Zed</a>'
                     ' <span>(<a href="https://example.org">site</a>)</span>', "CC BY-SA 4.0",
                     "https://creativecommons.org/licenses/by-sa/4.0", mime="image/png"),
        commons_page(b, 3, "not-an-image.jpg", "Eve", "CC BY 4.0", "https://creativecommons.org/licenses/by/4.0"),
    ]}}
    second = {"batchcomplete": True, "query": {"pages": [
        commons_page(b, 4, "sample-1.png", "<bdi>Bob</bdi>\n", "CC0",
                     "http://creativecommons.org/publicdomain/zero/1.0/deed.en", mime="image/png"),
        commons_page(b, 5, "drawing.svg", "Ivy", "CC BY 4.0", "", mime="image/svg+xml"),  # not a bitmap: skipped
    ]}}
    lagged = {"error": {"code": "maxlag", "info": "Waiting for 10.64.48.35: 6 seconds lagged.", "host": "db",
                        "lag": 6, "type": "db"}, "servedby": "mw1"}
    api.routes["/w/api.php"] = lambda q: [first] if "gsroffset" not in q else answers
    answers = [lagged, second]
    return api


def test_commons_files_land_with_their_author_and_licence_from_the_metadata(gallery, commons_api):
    api, (store, catalog) = commons_api, gallery
    (request,) = validate_request(engine="wikimedia", keywords=["lighthouse"], count=10,
                                  filters={"min_width": 800, "mime": "image/png", "category": "Lighthouses in France"})
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY,
                       endpoints={"wikimedia": f"{api.base}/w/api.php"},
                       api_keys={"wikimedia": "gallery-ops@example.org"}).as_dict()

    assert summary["new"] == 3 and summary["refused_reasons"] == {"not_an_image": 1}
    sources = {s["uri"].rsplit("/", 1)[-1]: s for d in catalog.find() for s in d["sources"]}
    assert {name: (s["creator"], s["licence"]) for name, s in sources.items()} == {
        "sample-4.png": ("Zed ( site )", "CC BY-SA 4.0"), "sample-3.jpg": ("Unknown author", "Public domain"),
        "sample-1.png": ("Bob", "CC0")}
    assert sources["sample-4.png"]["page_url"] == "https://commons.wikimedia.org/wiki/File:sample-4.png"
    assert sources["sample-4.png"]["licence_url"] == "https://creativecommons.org/licenses/by-sa/4.0"
    assert not [r for r in api.requests if r["path"].endswith("drawing.svg")]

    calls = api.calls("/w/api.php")
    assert [c["query"].get("gsroffset") for c in calls] == [None, "3", "3"]  # the lagged answer asked again
    query = calls[0]["query"]
    assert query["generator"] == "search" and query["gsrnamespace"] == "6" and query["prop"] == "imageinfo"
    assert set(query["iiprop"].split("|")) >= {"url", "extmetadata", "mime"} and query["maxlag"] == "5"
    assert query["gsrsearch"] == ('lighthouse filetype:bitmap filemime:image/png filew:>800 '
                                  'incategory:"Lighthouses in France"')
    assert calls[1]["query"]["continue"] == "gsroffset||"
    assert calls[1]["at"] - calls[0]["at"] >= 0.3 and calls[2]["at"] - calls[1]["at"] >= 0.3
    agents = {r["headers"]["User-Agent"] for r in api.requests}  # the API and the images alike
    assert agents == {"image-pipeline/0.1 (Apache Airflow image pipeline; gallery-ops@example.org) python-requests"}


def test_commons_filters_are_refused_before_any_request(commons_api):
    for filters, message in [({"mime": "image/svg+xml"}, "mime"), ({"min_width": 0}, "min_width"),
                             ({"min_height": "800"}, "min_height"), ({"category": 'x" OR insource:/.*/'}, "category"),
                             ({"licence": "cc0"}, "filters: licence")]:
        with pytest.raises(InvalidRequest, match=message):
            validate_request(engine="wikimedia", keywords=["lighthouse"], filters=filters)
    assert commons_api.requests == []


# --- what the catalog carries on: the archive's manifest, the day's analytics ---------------------

def test_creator_and_licence_reach_the_archive_manifest_and_the_days_analytics(gallery, openverse_api, monkeypatch):
    api, (store, catalog) = openverse_api, gallery
    monkeypatch.setattr(openverse, "PAGE_DELAY", 0)
    (request,) = validate_request(engine="openverse", keywords=["lighthouse"], count=10)
    retrieve(store, catalog, request, run_id="r1", policy=POLICY, endpoints={"openverse": f"{api.base}/v1/images/"})
    for doc in catalog.find(keyword="lighthouse"):  # processed as gallery_process records it (the raw bytes as output)
        out_key = keys.processed_key("half_gray", doc["sha256"], "jpg")
        store.put_bytes(out_key, store.get_bytes(doc["raw_key"]), "image/jpeg")
        catalog.record_output(doc["sha256"], "half_gray", {
            "key": out_key, "version": 1, "width": doc["width"], "height": doc["height"], "bytes": doc["bytes"],
            "seconds": 0.01, "processed_at": datetime.now(timezone.utc).isoformat()})

    archive = ensure_archive(store, catalog, Selection(keyword="lighthouse"), get_recipe("half_gray"))
    with zipfile.ZipFile(store.path(archive.key)) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("manifest.csv").decode())))
        assert json.loads(zf.read("manifest.json"))[0]["creator"] == rows[0]["creator"]
        assert "creator" in zf.read("README.txt").decode()
    # An image's first source is the manifest's: copy-of-0.jpg and sample-0.jpg are the same image.
    assert sorted((r["source_url"].rsplit("/", 1)[-1], r["creator"], r["licence"], r["licence_url"]) for r in rows) == [
        ("copy-of-0.jpg", "Dan", "CC BY 2.0", "https://creativecommons.org/licenses/by/2.0/"),
        ("sample-1.png", "Bob", "CC0 1.0", "https://creativecommons.org/publicdomain/zero/1.0/"),
        ("sample-2.gif", "Cid", "CC BY 2.0", "https://creativecommons.org/licenses/by/2.0/")]

    day = datetime.now(timezone.utc).date()
    metrics = analytics.compute_metrics(*analytics.read_day(catalog, day, ["half_gray"]), day)
    assert metrics["known"] == {"licence": 3, "creator": 3}
    assert {c["name"]: c["images"] for c in metrics["creators"]} == {"Ann": 1, "Bob": 1, "Cid": 1, "Dan": 1}
    licences = {c["name"]: c["images"] for c in metrics["licences"]}
    assert licences["CC BY-SA 4.0"] == 1 and licences["CC0 1.0"] == 1 and licences["CC BY 2.0"] == 2
