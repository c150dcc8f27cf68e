"""Keyword search and site crawling through icrawler, offline: a Bing-format results page and a
small nested site served on loopback. The right images land once, refusals are counted by
reason, and nothing hangs when the source has fewer images than asked for."""

from __future__ import annotations

import html
import json
import shutil
import time

import pytest

from image_pipeline.retrieve.fetch import FetchPolicy
from image_pipeline.retrieve import retrieve, validate_request
from image_pipeline.core.errors import InvalidRequest

POLICY = FetchPolicy(allowed_hosts=frozenset({"127.0.0.1"}), deadline=5.0, read_timeout=2.0)


@pytest.fixture
def site(http_server, samples):
    base, root = http_server
    (root / "img").mkdir()
    for name in ("sample-0.jpg", "sample-1.png", "sample-2.gif", "sample-3.jpg"):
        shutil.copy(samples / name, root / "img" / name)
    shutil.copy(samples / "sample-0.jpg", root / "img" / "copy-of-0.jpg")
    (root / "img" / "disguised.jpg").write_text("<html>not an image</html>")
    return base, root


def bing_results(base: str, items: list[dict]) -> str:
    anchors = "\n".join(
        f'<div class="imgpt"><a class="iusc" m="{html.escape(json.dumps(m))}" href="#">x</a></div>' for m in items
    )
    return f"<html><body>{anchors}</body></html>"


def test_bing_search_keeps_every_format_and_the_provenance(gallery, site):
    base, root = site
    items = [
        {"murl": f"{base}/img/sample-0.jpg", "purl": f"{base}/page-a.html", "lic": "cc-by"},
        {"murl": f"{base}/img/sample-1.png", "purl": f"{base}/page-b.html"},  # icrawler's parser drops non-.jpg
        {"murl": f"{base}/img/sample-2.gif", "purl": f"{base}/page-c.html"},
        {"murl": f"{base}/img/copy-of-0.jpg", "purl": f"{base}/page-d.html"},  # same bytes as the first
        {"murl": f"{base}/img/disguised.jpg", "purl": f"{base}/page-e.html"},
        {"murl": "http://169.254.169.254/latest/meta-data/iam.jpg", "purl": ""},
    ]
    (root / "images").mkdir()
    (root / "images" / "async").write_text(bing_results(base, items))
    store, catalog = gallery
    (request,) = validate_request(engine="bing", keywords=["cats"], count=10, filters={"size": "large"})
    started = time.monotonic()
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY, endpoints={"bing": f"{base}/images/async"},
                       provenance={"data_interval": ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"]},
                       idle_timeout=5)
    assert time.monotonic() - started < 30  # fewer results than asked for: it ends
    result = summary.as_dict()
    assert (result["new"], result["duplicate"]) == (3, 1)
    assert result["refused_reasons"] == {"address": 1, "not_an_image": 1}
    assert result["stop_reason"] in ("exhausted", "idle_timeout")
    (first,) = [d for d in catalog.find() if any(s["uri"].endswith("/sample-0.jpg") for s in d["sources"])]
    assert first["keywords"] == ["cats"] and first["format"] == "JPEG"
    sources = {s["uri"].rsplit("/", 1)[-1]: s for s in first["sources"]}
    assert sources["sample-0.jpg"] == {
        "source": "bing", "uri": f"{base}/img/sample-0.jpg", "page_url": f"{base}/page-a.html", "licence": "cc-by",
        "filters": {"size": "large"}, "data_interval": ["2026-11-01T00:00:00+00:00", "2026-11-02T00:00:00+00:00"]}
    assert "copy-of-0.jpg" in sources  # the duplicate URL is provenance of the same record
    assert {d["format"] for d in catalog.find()} == {"JPEG", "PNG", "GIF"}


def test_greedy_crawl_of_a_nested_site_ends_without_enough_images(gallery, site):
    base, root = site
    (root / "index.html").write_text(
        f'<html><img src="/img/sample-0.jpg"><a href="{base}/section/page2.html">more</a>'
        f'<a href="http://10.0.0.1/private.html">intranet</a></html>')
    (root / "section").mkdir()
    (root / "section" / "page2.html").write_text(
        '<html><img src="../img/sample-1.png"><img src="http://127.0.0.1:1/unreachable.jpg">'
        '<a href="page3.html">deeper</a></html>')
    (root / "section" / "page3.html").write_text(  # links back: pages must not be crawled in a loop
        '<html><img src="/img/sample-3.jpg"><a href="page2.html">back</a><a href="/index.html#top">home</a></html>')
    store, catalog = gallery
    (request,) = validate_request(engine="greedy", site_url=f"{base}/index.html", count=50)
    started = time.monotonic()
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY, idle_timeout=3)
    assert time.monotonic() - started < 45
    result = summary.as_dict()
    assert result["new"] == 3 and result["stop_reason"] in ("exhausted", "idle_timeout")
    pages = {s["page_url"].rsplit("/", 1)[-1] for d in catalog.find() for s in d["sources"]}
    assert pages == {"index.html", "page2.html", "page3.html"}
    again = retrieve(store, catalog, request, run_id="r2", policy=POLICY, idle_timeout=3)
    assert again.as_dict()["new"] == 0 and len(list(store.list("raw/"))) == 3


@pytest.fixture
def api(site):
    """A JSON endpoint on loopback that answers canned results and remembers the queries sent."""
    import json as _json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlsplit

    base, _ = site
    queries = []
    responses = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            parts = urlsplit(self.path)
            queries.append((parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}))
            body = _json.dumps(responses.get(parts.path, {})).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", base, responses, queries
    httpd.shutdown()
    httpd.server_close()


def test_baidu_search_reads_plain_and_obfuscated_urls(gallery, api):
    endpoint, base, responses, queries = api
    # Baidu obfuscates objURL: characters through a substitution table, then ':', '.', '/' as tokens.
    decode_table = {"w": "a", "k": "b", "v": "c", "1": "d", "j": "e", "u": "f", "2": "g", "i": "h", "t": "i",
                    "3": "j", "h": "k", "s": "l", "4": "m", "g": "n", "5": "o", "r": "p", "q": "q", "6": "r",
                    "f": "s", "p": "t", "7": "u", "e": "v", "o": "w", "8": "1", "d": "2", "n": "3", "9": "4",
                    "c": "5", "m": "6", "0": "7", "b": "8", "l": "9", "a": "0"}
    encode_table = {plain: cipher for cipher, plain in decode_table.items()}
    secret = "".join(encode_table.get(c, c) for c in f"{base}/img/sample-2.gif")
    secret = secret.replace(":", "_z2C$q").replace(".", "_z&e3B").replace("/", "AzdH3F")
    responses["/acjson"] = {"data": [
        {"replaceUrl": [{"ObjURL": f"{base}/img/sample-0.jpg", "FromURL": f"{base}/a.html"}]},
        {"objURL": secret, "fromURL": f"{base}/b.html"},
        {},
    ]}
    store, catalog = gallery
    (request,) = validate_request(engine="baidu", keywords=["cats"], count=5)
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY, idle_timeout=3,
                       endpoints={"baidu": f"{endpoint}/acjson"})
    assert queries[0][1]["word"] == "cats"
    assert summary.as_dict()["new"] == 2
    pages = {s["uri"].rsplit("/", 1)[-1]: s["page_url"] for d in catalog.find() for s in d["sources"]}
    assert pages == {"sample-0.jpg": f"{base}/a.html", "sample-2.gif": f"{base}/b.html"}


def test_flickr_search_uses_the_api_key_the_window_and_records_the_licence(gallery, api):
    from datetime import datetime, timedelta, timezone

    from image_pipeline.retrieve import with_window

    endpoint, base, responses, queries = api
    responses["/rest/"] = {"stat": "ok", "photos": {"page": 1, "pages": 1, "photo": [
        {"id": "1", "owner": "ann", "license": "4", "url_l": f"{base}/img/sample-0.jpg"},
        {"id": "2", "owner": "bob", "license": "0", "url_z": f"{base}/img/sample-1.png", "url_o": ""},
        {"id": "3", "owner": "cat"},  # no usable size
    ]}}
    store, catalog = gallery
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    (request,) = validate_request(engine="flickr", keywords=["lighthouse"], count=10, filters={"license": "4,5"})
    request = with_window(request, start, start + timedelta(days=1), now=start + timedelta(days=20))
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY, idle_timeout=3,
                       endpoints={"flickr": f"{endpoint}/rest/"}, api_keys={"flickr": "KEY"})
    (path, query) = queries[0]
    assert query["api_key"] == "KEY" and query["text"] == "lighthouse" and query["license"] == "4,5"
    assert (int(query["min_upload_date"]), int(query["max_upload_date"])) == (
        int(start.timestamp()), int((start + timedelta(days=1)).timestamp()))
    assert summary.as_dict()["new"] == 2
    licences = {s["page_url"]: s["licence"] for d in catalog.find() for s in d["sources"]}
    assert licences == {"https://www.flickr.com/photos/ann/1": "flickr-license-4",
                        "https://www.flickr.com/photos/bob/2": "flickr-license-0"}


def test_flickr_without_an_api_key_is_refused(gallery):
    store, catalog = gallery
    (request,) = validate_request(engine="flickr", keywords=["x"])
    with pytest.raises(InvalidRequest, match="API key"):
        retrieve(store, catalog, request, run_id="r1", policy=POLICY)


def test_flickr_filters_are_checked():
    with pytest.raises(InvalidRequest, match="invalid flickr filters: colour"):
        validate_request(engine="flickr", keywords=["x"], filters={"colour": "red"})


def test_google_search_reads_urls_from_the_page_scripts_with_the_runs_window(gallery, site):
    from datetime import datetime, timedelta, timezone
    from urllib.parse import parse_qs, urlsplit

    from image_pipeline.retrieve.crawl import search_pages
    from image_pipeline.retrieve import with_window

    base, root = site
    escaped = f"{base}/img/sample-1.png".replace("/", "\\u002f")  # Google escapes slashes in its scripts
    (root / "search").write_text(
        "<html><script>AF_initDataCallback({data: [[1, [\"" + f"{base}/img/sample-0.jpg" + "\", 640, 480]],"
        " [1, [\"" + escaped + "\"]], [1, [\"" + f"{base}/img/sample-2.gif" + "\"]]]});</script></html>")
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    (request,) = validate_request(engine="google", keywords=["cats"], count=10)
    request = with_window(request, start, start + timedelta(days=1), now=start + timedelta(days=3))
    assert request["filters"]["date"] == ["2026-11-01", "2026-11-01"]  # one whole day, inclusive
    (page,) = search_pages("google", "cats", 10, request["filters"], base_url=f"{base}/search")
    assert parse_qs(urlsplit(page).query)["tbs"] == ["cdr:1,cd_min:11/01/2026,cd_max:11/01/2026"]
    store, catalog = gallery
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY, idle_timeout=3,
                       endpoints={"google": f"{base}/search"})
    assert summary.as_dict()["new"] == 3
    assert {d["format"] for d in catalog.find()} == {"JPEG", "PNG", "GIF"}


def test_a_site_without_images_ends_by_the_idle_timeout(gallery, site):
    """icrawler's downloader waits forever for a first image; the watchdog ends the crawl."""
    base, root = site
    (root / "empty.html").write_text("<html><p>no pictures here</p></html>")
    store, catalog = gallery
    (request,) = validate_request(engine="greedy", site_url=f"{base}/empty.html", count=5)
    started = time.monotonic()
    summary = retrieve(store, catalog, request, run_id="r1", policy=POLICY, idle_timeout=3)
    assert time.monotonic() - started < 45
    assert summary.as_dict()["stop_reason"] == "idle_timeout" and summary.as_dict()["new"] == 0
