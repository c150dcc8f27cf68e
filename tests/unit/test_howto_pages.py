"""The how-to pages (docs/how-to/) do what they say: each page's marked example (the code block after
``<!-- howto:NAME -->``) is run as the page says, and the result is checked through the project's own
entry points: the operation in a recipe through the engine and the planner, the source through
validate_request and retrieve with the settings' endpoints (a loopback server, no internet), the model
loaded once, run, and its failures Unavailable. A page whose example drifts from the code (a
decorator's signature, a helper renamed) fails here."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import io
import json
import re
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image

from image_pipeline.core.errors import InvalidRequest, RecipeError, Unavailable
from image_pipeline.process import models
from image_pipeline.process.engine import process_image
from image_pipeline.process.operations import OPERATIONS
from image_pipeline.process.recipes import parse_recipe

ROOT = Path(__file__).resolve().parents[2]
HOWTO = ROOT / "docs" / "how-to"
MARKED = r"<!-- howto:{name} -->\s*```python\n(.*?)^```"


def example(page: str | Path, name: str) -> str:
    """The one code block the page marks ``<!-- howto:NAME -->``, as a reader copies it."""

    text = Path(page).read_text(encoding="utf-8") if isinstance(page, Path) else page
    blocks = re.findall(MARKED.format(name=re.escape(name)), text, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"{name}: {len(blocks)} marked blocks"
    assert blocks[0].strip(), f"{name}: an empty block"
    return blocks[0]


def load(code: str, module: str, tmp_path: Path, monkeypatch) -> ModuleType:
    """``code`` saved as a file and imported as ``module`` (removed from sys.modules after the test)."""
    path = tmp_path / f"{module.replace('.', '_')}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(module, path)
    loaded = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module, loaded)
    spec.loader.exec_module(loaded)
    return loaded


def registered(code: str, module: str, tmp_path, monkeypatch) -> set[str]:
    """The operations ``code`` registers, imported as ``module``."""
    before = set(OPERATIONS)
    load(code, module, tmp_path, monkeypatch)
    return set(OPERATIONS) - before


def processed(tmp_path: Path, picture: Image.Image, steps: list) -> Image.Image:
    src = tmp_path / "in.png"
    picture.save(src)
    recipe = parse_recipe({"name": "t", "operations": steps, "output": {"format": "png"}})
    result = process_image(src, [recipe], lambda r: tmp_path / f"out.{r.ext}")
    with Image.open(result.outputs["t"]["path"]) as out:
        return out.convert("RGB")


# --- add an operation -------------------------------------------------------------------------------

def test_the_operation_page_s_example_runs_in_a_recipe_and_declares_its_facts(tmp_path, registry, monkeypatch):
    page = HOWTO / "add-an-operation.md"
    # Imported as the page's module (colour.py): its family is the module's name.
    assert registered(example(page, "operation"), "howto_pages.colour", tmp_path, monkeypatch) == {"invert_channel"}
    op = OPERATIONS["invert_channel"]
    assert (op.family, op.geometry.kind, op.colour, op.is_alpha_neutral({})) == ("colour", "keeps", "needs", False)
    assert [p["name"] for p in op.describe()["params"]] == ["channel"]

    # The planner reads the facts: a size kept lets a later resize decode small; colour needed, no luma decode.
    steps = [{"invert_channel": {"channel": "blue"}}, {"resize": {"longest": 100}}]
    assert parse_recipe({"name": "t", "operations": steps}).needed_scale((800, 600), 1) == 100 / 800
    assert not parse_recipe({"name": "t", "operations": ["invert_channel", "grayscale"]}).gray_first
    with pytest.raises(RecipeError, match="channel is one of"):
        parse_recipe({"name": "t", "operations": [{"invert_channel": {"channel": "alpha"}}]})

    out = processed(tmp_path, Image.new("RGB", (200, 150), (10, 20, 30)), steps)
    assert out.size == (100, 75) and out.getpixel((50, 40)) == (10, 20, 225)


def test_the_operation_page_s_example_test_passes(tmp_path, registry, monkeypatch):
    """The test the page tells a newcomer to write passes against the page's operation."""
    page = (HOWTO / "add-an-operation.md").read_text(encoding="utf-8")
    load(example(page, "operation"), "howto_pages.colour", tmp_path, monkeypatch)
    module = load(example(page, "operation-test"), "howto_pages.test_page", tmp_path, monkeypatch)
    tests = {name: value for name, value in vars(module).items() if name.startswith("test_")}
    assert list(tests) == ["test_invert_channel_inverts_only_its_channel"]
    (tmp_path / "run").mkdir()
    tests["test_invert_channel_inverts_only_its_channel"](tmp_path / "run")


def test_an_example_that_drifted_from_the_decorator_fails(tmp_path, registry, monkeypatch):
    """What the checks above catch: a fact the decorator no longer takes, a block that registers nothing,
    a page without its marked block."""
    code = example(HOWTO / "add-an-operation.md", "operation")
    with pytest.raises(ValueError, match="colour is one of"):
        load(code.replace('colour="needs"', 'colour="sometimes"'), "howto_pages.drift1", tmp_path, monkeypatch)
    unregistered = code.replace("@operation(", "@(lambda *a, **k: (lambda fn: fn))(")
    assert registered(unregistered, "howto_pages.drift2", tmp_path, monkeypatch) == set()
    with pytest.raises(AssertionError, match="0 marked blocks"):
        example("```python\nx = 1\n```\n", "operation")
    with pytest.raises(AssertionError, match="an empty block"):
        example("<!-- howto:operation -->\n```python\n\n```\n", "operation")


# --- add a source -----------------------------------------------------------------------------------

class SearchApi:
    """The page's API on loopback: ``/search?q=&page=`` lists ``/img/<n>.png`` (two images on page 1,
    none after), and the images themselves; every path asked for is remembered."""

    def __init__(self):
        self.asked: list[str] = []
        pictures = {}
        for n, colour in enumerate(((200, 30, 30), (30, 200, 30))):
            buffer = io.BytesIO()
            Image.new("RGB", (40, 30), colour).save(buffer, "PNG")
            pictures[f"/img/{n}.png"] = buffer.getvalue()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                api.asked.append(self.path)
                if parts.path == "/search":
                    page = int(parse_qs(parts.query)["page"][0])
                    images = [{"url": f"{api.base}{p}", "page": f"{api.base}/about{p}", "license": "CC0"}
                              for p in sorted(pictures)] if page == 1 else []
                    status, body, kind = 200, json.dumps({"images": images}).encode(), "application/json"
                elif parts.path in pictures:
                    status, body, kind = 200, pictures[parts.path], "image/png"
                else:
                    status, body, kind = 404, b"", "text/plain"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def search_api():
    api = SearchApi()
    yield api
    api.httpd.shutdown()
    api.httpd.server_close()


@pytest.fixture
def source_registry(monkeypatch):
    """Registers a source as its line in SOURCES would: the engine lists are read from it at import."""
    from image_pipeline.retrieve import request as requests
    from image_pipeline.retrieve import sources

    def register(line: str) -> str:
        (name, entry), = ast.literal_eval("{" + line + "}").items()
        monkeypatch.setitem(sources.SOURCES, name, entry)
        engines = tuple(sources.SOURCES)
        search = tuple(n for n, (kind, _) in sources.SOURCES.items() if kind == "search")
        for module in (sources, requests):
            monkeypatch.setattr(module, "ENGINES", engines)
            monkeypatch.setattr(module, "SEARCH_ENGINES", search)
        return name
    return register


def test_the_source_page_s_example_retrieves_through_the_settings_endpoint(tmp_path, monkeypatch, search_api,
                                                                          source_registry):
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import LocalStore
    from image_pipeline.retrieve import retrieve, validate_request
    from image_pipeline.retrieve.fetch import FetchPolicy
    from image_pipeline.retrieve.sources import source_module
    from image_pipeline.settings import Settings

    page = HOWTO / "add-a-source.md"
    engine = source_registry(example(page, "source-registry"))
    assert engine == "jsonsearch"
    module_name = ast.literal_eval("{" + example(page, "source-registry") + "}")[engine][1]
    module = load(example(page, "source"), module_name, tmp_path, monkeypatch)
    assert source_module(engine) is module and module.ENDPOINT.startswith("https://")

    with pytest.raises(InvalidRequest, match="no filters"):
        validate_request(engine=engine, keywords=["cats"], filters={"size": "large"})
    monkeypatch.setenv(f"GALLERY_{engine.upper()}_URL", f"{search_api.base}/search")
    (request,) = validate_request(engine=engine, keywords=["cats"], count=2)
    store = LocalStore(tmp_path / "store")
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        summary = retrieve(store, catalog, request, run_id="howto",
                           policy=FetchPolicy(allowed_hosts=frozenset({"127.0.0.1"}), deadline=5.0, read_timeout=2.0),
                           endpoints=Settings.from_env().downloads.endpoints())
        assert summary.as_dict()["new"] == 2, summary.as_dict()
        assert search_api.asked[0] == "/search?q=cats&page=1"  # the settings' endpoint, not the module's
        docs = [catalog.get(Path(key).stem) for key in store.list("raw/")]
    assert [(s["source"], s["licence"]) for d in docs for s in d["sources"]] == [(engine, "CC0")] * 2



# --- add a model ------------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = b""
    while True:
        out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return out


def _field(number: int, value: bytes | str | int) -> bytes:
    """One protobuf field: an int as a varint, bytes or text length-delimited."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def negative_network() -> bytes:
    """An ONNX file of the page's shape (floats in 0..1 in, the same out): ``y = 1 - x``, written from the
    ONNX protobuf schema's field numbers (the onnx package is not a test dependency)."""
    float_tensor = _field(1, _field(1, 1))  # TypeProto.tensor_type.elem_type = FLOAT
    one = _field(2, 1) + _field(8, "one") + _field(9, struct.pack("<f", 1.0))  # a FLOAT scalar initializer
    node = _field(1, "one") + _field(1, "x") + _field(2, "y") + _field(4, "Sub")
    graph = (_field(1, node) + _field(2, "negative") + _field(5, one)
             + _field(11, _field(1, "x") + _field(2, float_tensor)) + _field(12, _field(1, "y") + _field(2, float_tensor)))
    return _field(1, 8) + _field(7, graph) + _field(8, _field(2, 13))  # IR version 8, opset 13


@pytest.fixture
def model_page(tmp_path, monkeypatch, registry):
    """The page's model module and its operation, imported as the page places them, the model registered
    (PACKAGES, WEIGHTS) with a tiny network as its weights and that file's sha256 recorded."""
    page = HOWTO / "add-a-model.md"
    net = load(example(page, "model"), "image_pipeline.process.models.enhance", tmp_path, monkeypatch)
    monkeypatch.setattr(models, "enhance", net, raising=False)
    weights = tmp_path / "enhance.onnx"
    weights.write_bytes(negative_network())
    monkeypatch.setitem(models.PACKAGES, net.MODEL, ("onnxruntime",))
    monkeypatch.setitem(models.WEIGHTS, net.MODEL, weights)
    monkeypatch.setattr(net, "WEIGHTS_SHA256", hashlib.sha256(weights.read_bytes()).hexdigest())
    assert registered(example(page, "model-operation"), "howto_pages.learned", tmp_path, monkeypatch) == {"enhance"}
    session = net.session  # a test may replace it
    session.cache_clear()
    yield net
    session.cache_clear()


PICTURE = Image.new("RGB", (64, 48), (10, 100, 250))


def test_the_model_page_s_model_loads_once_and_runs_in_a_recipe(tmp_path, monkeypatch, model_page):
    loads = []
    real = models.onnx_session
    monkeypatch.setattr(models, "onnx_session", lambda *args: loads.append(args) or real(*args))

    assert model_page.enhance(PICTURE).getpixel((5, 5)) == (245, 155, 5)
    assert models.available(model_page.MODEL) and OPERATIONS["enhance"].family == "learned"
    out = processed(tmp_path, PICTURE, ["enhance"])
    assert out.size == PICTURE.size and out.getpixel((5, 5)) == (245, 155, 5)
    assert len(loads) == 1 and model_page.session.cache_info().currsize == 1  # once per process


def test_the_model_page_s_operation_falls_back_without_the_weights(tmp_path, monkeypatch, model_page):
    monkeypatch.setitem(models.WEIGHTS, model_page.MODEL, tmp_path / "not-fetched.onnx")
    assert not models.available(model_page.MODEL)
    assert processed(tmp_path, PICTURE, ["enhance"]).getpixel((5, 5)) == PICTURE.getpixel((5, 5))
    with pytest.raises(ImportError, match="fetch-weights"):
        model_page.session()


def test_the_model_page_s_failures_are_unavailable(tmp_path, monkeypatch, model_page):
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

    weights = models.WEIGHTS[model_page.MODEL]
    real = weights.read_bytes()
    weights.write_bytes(real[:-5])  # cut short: not the recorded file
    with pytest.raises(Unavailable, match="model enhance: the weights .* not the recorded"):
        model_page.enhance(PICTURE)
    with pytest.raises(Unavailable, match="model enhance"):  # through the engine: the task is retried
        processed(tmp_path, PICTURE, ["enhance"])

    weights.write_bytes(b"not a model" * 10)  # the recorded file, which onnxruntime cannot load
    monkeypatch.setattr(model_page, "WEIGHTS_SHA256", hashlib.sha256(weights.read_bytes()).hexdigest())
    with pytest.raises(Unavailable, match="model enhance: loading failed"):
        model_page.session()
    assert model_page.session.cache_info().currsize == 0  # nothing cached: the retry loads again

    class FailingSession:
        def get_inputs(self):
            return [type("Input", (), {"name": "x"})()]

        def run(self, *_):
            raise ort_state.RuntimeException("bad_alloc")

    monkeypatch.setattr(model_page, "session", FailingSession)
    with pytest.raises(Unavailable, match="model enhance: running failed"):
        model_page.enhance(PICTURE)
