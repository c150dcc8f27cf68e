"""Fuzzing every search source's result parser with hypothesis: answers shaped like the real ones
(JSON documents built from the fields the parsers read, result pages with the tags they look for)
with wrong types, missing fields, hostile URLs, plus arbitrary bytes. Whatever the answer, a parser
yields well-formed results (an image URL as a string) or nothing, or refuses the answer with a
reason (``Refused``); it never raises anything else. Crashers found are replayed from ``crashers/``.
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from image_pipeline.retrieve import baidu, bing, flickr, google, greedy, openverse, wikimedia
from image_pipeline.retrieve.fetch import Refused

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150")) * 2
CRASHERS = Path(__file__).parent / "crashers"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FIELDS = ["data", "replaceUrl", "ObjURL", "objURL", "FromURL", "fromURL", "stat", "photos", "photo", "url_o",
          "url_l", "url_c", "url_z", "owner", "id", "license", "message", "results", "url", "foreign_landing_url",
          "license_version", "license_url", "creator", "page_count", "query", "pages", "imageinfo", "mime",
          "extmetadata", "value", "LicenseShortName", "Artist", "LicenseUrl", "descriptionurl", "index",
          "continue", "error", "code", "info", "murl", "purl", "lic", "access_token"]
URLS = ["https://example.com/a.jpg", "http://[::1", "http://[bad/x.png", "javascript:alert(1)", "//x.org/y.gif",
        "https://h/\\u002f\\u002fz.webp", "\u0000", "https://例え.jp/画像.png", "ftp://x/y.jpg", "", " ",
        "ippr_z2C$qAzdH3FAzdH3Ffl_z&e3B", "<b>Artist</b>", "no-scheme.png"]
SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30) | st.sampled_from(URLS)
JSON_VALUES = st.recursive(SCALARS, lambda children: st.lists(children, max_size=4) | st.dictionaries(
    st.sampled_from(FIELDS) | st.text(max_size=6), children, max_size=8), max_leaves=40)


def is_result(item) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("file_url"), str) and item["file_url"]
            and all(isinstance(v, str) for v in item.values()))


@st.composite
def json_bodies(draw) -> bytes:
    kind = draw(st.sampled_from(["json", "json", "json", "cut", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=512))
    try:
        text = json.dumps(draw(JSON_VALUES), allow_nan=True)
    except (ValueError, OverflowError):
        text = "{}"
    if kind == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    return text.encode()


@st.composite
def html_bodies(draw) -> bytes:
    """A page with the tags the HTML parsers read (Bing's ``a.iusc[m]``, scripts, links and images)."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        tag = draw(st.sampled_from(["iusc", "script", "img", "a", "text"]))
        value = draw(st.sampled_from(URLS) | st.text(max_size=40))
        if tag == "iusc":
            meta = draw(JSON_VALUES | st.fixed_dictionaries({"murl": st.sampled_from(URLS) | SCALARS,
                                                            "purl": SCALARS, "lic": SCALARS}))
            raw = json.dumps(meta) if draw(st.booleans()) else draw(st.text(max_size=30))
            parts.append(f'<a class="iusc" m="{html.escape(raw)}">x</a>')
        elif tag == "script":
            parts.append(f"<script>var u = [\"{value}\", \"https:\\u002f\\u002f{draw(st.text(max_size=10))}.png\"];</script>")
        elif tag == "img":
            parts.append(f'<img src="{html.escape(value)}">')
        elif tag == "a":
            parts.append(f'<a href="{html.escape(value)}">l</a>')
        else:
            parts.append(html.escape(value))
    page = "<html><body>" + "".join(parts) + "</body></html>"
    if draw(st.booleans()):
        page = page[: draw(st.integers(0, len(page)))]
    return page.encode("utf-8", "surrogatepass") if draw(st.booleans()) else draw(st.binary(max_size=64)) + page.encode(
        "utf-8", "surrogatepass")


def icrawler_parser(cls):
    """An icrawler parser object without its threads: what ``parse`` needs (a logger, a lock)."""
    parser = cls.__new__(cls)
    parser.logger = SimpleNamespace(error=lambda *a, **k: None, exception=lambda *a, **k: None,
                                    warning=lambda *a, **k: None, info=lambda *a, **k: None,
                                    debug=lambda *a, **k: None)
    parser.lock = threading.Lock()
    return parser


class Answers:
    """A fetcher double that answers every API call with the same body."""

    def __init__(self, body: bytes):
        self.body = body
        self.policy = SimpleNamespace(user_agent="fuzz")

    def fetch_document(self, url, *, headers=None, form=None):
        return self.body

    def sleep(self, seconds):
        pass


def parse_with(source: str, body: bytes) -> list:
    """Results a source reads out of one answer ``body`` (a ``Refused`` propagates: a reasoned refusal)."""
    response = SimpleNamespace(content=body, url="https://site.example/gallery/index.html", status_code=200)
    if source in ("bing", "baidu", "google", "flickr"):
        cls = {"bing": bing.BingMetadataParser, "baidu": baidu.BaiduJsonParser, "google": google.GoogleScriptParser,
               "flickr": flickr.FlickrJsonParser}[source]
        return list(icrawler_parser(cls).parse(response) or [])
    if source == "greedy":
        found = list(icrawler_parser(greedy.SitePageParser).parse(response, ["https://site.example/"]) or [])
        assert all(isinstance(x, str) for x in found if not isinstance(x, dict))  # pages to follow
        return [x for x in found if isinstance(x, dict)]
    module = {"openverse": openverse, "wikimedia": wikimedia}[source]
    return list(module.results("cats", {}, Answers(body), base_url="https://api.example/v1/", page_delay=0))


def check_answer(source: str, body: bytes) -> str:
    started = time.monotonic()
    try:
        found = parse_with(source, body)
    except Refused as exc:
        assert exc.reason and str(exc), "a refusal needs a reason"
        return "refused"
    finally:
        assert time.monotonic() - started < 10
    assert all(is_result(item) for item in found), found
    return "results" if found else "nothing"


JSON_SOURCES = ["baidu", "flickr", "openverse", "wikimedia"]
HTML_SOURCES = ["bing", "google", "greedy"]


@pytest.mark.parametrize("source", JSON_SOURCES)
def test_json_parsers_take_any_answer(source):
    @FUZZ
    @given(json_bodies())
    def run(body):
        check_answer(source, body)
    run()


@pytest.mark.parametrize("source", HTML_SOURCES)
def test_html_parsers_take_any_page(source):
    @FUZZ
    @given(html_bodies())
    def run(body):
        check_answer(source, body)
    run()


@pytest.mark.parametrize("crasher", sorted(p.name for p in CRASHERS.glob("parser-*")), ids=str)
def test_crashers_found_by_fuzzing_are_parsed_or_refused(crasher):
    source = crasher.split("-")[1]
    assert check_answer(source, (CRASHERS / crasher).read_bytes()) in ("refused", "nothing", "results")
