"""What each boundary narrowed for issue 24 does with what it meets (test_failure_boundaries.py checks that
every broad handler says why; this checks what the handlers do): the input's fault translated into the
input's class (InvalidRequest, a skipped result, a Refused answer), the image's own metadata costing only
itself, the machine's failures never mistaken for the image's or the request's, and bugs left to surface."""

from __future__ import annotations

import errno
import io
import struct
import threading
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from image_pipeline.core.catalog.listing import ImageFilters, decode_cursor, encode_cursor
from image_pipeline.core.errors import BadImage, InvalidRequest, RecipeError
from image_pipeline.core.selection import Selection
from image_pipeline.core.storage import LocalStore
from image_pipeline.deliver.mail import HttpApiMailer, InvalidAddress, validate_address
from image_pipeline.process import engine
from image_pipeline.process.engine import process_image
from image_pipeline.process.features.extract import exif_summary
from image_pipeline.process.folder import run as run_folder
from image_pipeline.process.recipes import parse_recipe
from image_pipeline.retrieve import baidu, bing, google, openverse
from image_pipeline.retrieve.fetch import FetchPolicy, Refused, SafeFetcher, check_url
from image_pipeline.retrieve.inbox import _upload_meta, meta_key, upload_key
from image_pipeline.settings import Settings, SettingsError

NOT_TIFF = b"Exif\x00\x00XX\x00*\x00\x00\x00\x08" + bytes(20)  # an EXIF block whose TIFF header is garbage


def _recipe(ops=(), fmt="png", name="t"):
    return parse_recipe({"name": name, "operations": list(ops), "output": {"format": fmt}})


# --- the image's own metadata costs only itself --------------------------------------------------------

@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_an_exif_block_that_is_not_tiff_reads_as_no_exif_and_the_image_is_processed(tmp_path, fmt):
    src = tmp_path / f"src.{fmt.lower()}"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(src, fmt, exif=NOT_TIFF)
    seen = []
    result = process_image(src, [_recipe()], lambda r: tmp_path / f"out.{r.ext}",
                           features=lambda im, exif: seen.append(dict(exif)) or {})
    assert result.outputs["t"]["width"] == 64 and seen == [{}]


def _tiff(entries: list[tuple[int, int, int, bytes]], data: bytes = b"") -> bytes:
    """A little-endian EXIF block: one IFD of (tag, type, count, 4-byte value) entries, then ``data``."""
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHL", t, k, c) + v for t, k, c, v in entries)
    return b"Exif\x00\x00II*\x00" + struct.pack("<L", 8) + ifd + struct.pack("<L", 0) + data


def test_an_exif_sub_directory_with_a_garbage_pointer_costs_only_itself():
    data_at = 8 + 2 + 3 * 12 + 4  # right after the IFD
    block = _tiff([(0x010F, 2, 6, struct.pack("<L", data_at)),  # Make: "Canon"
                   (0x8769, 9, 1, struct.pack("<l", -4000)),  # the Exif IFD at a negative offset (ValueError)
                   (0x8825, 16, 1, struct.pack("<L", data_at + 8))],  # the GPS IFD past 2**63 (OverflowError)
                  b"Canon\x00\x00\x00" + struct.pack("<Q", 2 ** 63 + 5))
    exif = Image.Exif()
    exif.load(block)
    assert exif[0x8769] == -4000 and exif[0x8825] == 2 ** 63 + 5
    assert exif_summary(exif) == {"camera": "Canon"}


def test_a_broken_colour_profile_leaves_the_pixels_as_srgb(tmp_path):
    src = tmp_path / "src.jpg"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(src, "JPEG", quality=95, icc_profile=b"not a profile" * 20)
    result = process_image(src, [_recipe(fmt="png")], lambda r: tmp_path / f"out.{r.ext}")
    with Image.open(result.outputs["t"]["path"]) as out:
        red = out.convert("RGB").getpixel((32, 24))
    assert abs(red[0] - 200) <= 3 and abs(red[1] - 40) <= 3

    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 48), (0, 200, 200, 0)).save(cmyk, "JPEG", icc_profile=b"not a profile" * 20)
    result = process_image(cmyk, [_recipe(fmt="png")], lambda r: tmp_path / f"cmyk-out.{r.ext}")
    assert result.outputs["t"]["width"] == 64  # Pillow's plain conversion, not a quarantine


def test_the_machines_failure_reading_an_image_is_not_the_images(tmp_path, monkeypatch):
    src = tmp_path / "src.png"
    Image.new("RGB", (8, 8)).save(src)

    def fails(errno_: int | None):
        def open_(*_a, **_k):
            raise OSError(errno_, "simulated") if errno_ else OSError("broken data stream when reading image file")
        return open_

    monkeypatch.setattr(engine.Image, "open", fails(errno.EMFILE))
    with pytest.raises(OSError) as raised:
        process_image(src, [_recipe()], lambda r: tmp_path / "out.png")
    assert not isinstance(raised.value, BadImage) and raised.value.errno == errno.EMFILE
    monkeypatch.setattr(engine.Image, "open", fails(None))
    with pytest.raises(BadImage, match="broken data stream"):
        process_image(src, [_recipe()], lambda r: tmp_path / "out.png")


# --- the request's fault: refused with the request's class ---------------------------------------------

def test_cursors_that_are_not_ours_are_invalid_requests():
    good = encode_cursor({"retrieved_at": "2026-01-01T00:00:00.000000+00:00", "sha256": "a" * 64})
    assert decode_cursor(good) == ("2026-01-01T00:00:00.000000+00:00", "a" * 64)
    for cursor in ("é", "!!!", "bm90IGpzb24", "WzEsMiwzXQ", "WzEsMl0", "/w"):  # not ASCII/base64, not JSON, [1,2,3], [1,2], \xff
        with pytest.raises(InvalidRequest, match="invalid cursor"):
            decode_cursor(cursor)


@pytest.mark.parametrize("bounds", [{"since": "0001-01-01T00:00:00+05:00"}, {"until": "9999-12-31"},
                                    {"since": "not a day"}])
def test_dates_at_the_calendars_edge_are_invalid_requests(bounds):
    with pytest.raises(InvalidRequest):
        ImageFilters(**bounds)
    if "since" in bounds:
        with pytest.raises(InvalidRequest):
            Selection(**bounds)


@pytest.mark.parametrize("address", ["@b.example", "a@b@c.example", "a@b..example", "[@b.example", "a@(c)", "a@", ""])
def test_addresses_the_parser_refuses_are_invalid_addresses(address):
    with pytest.raises(InvalidAddress):
        validate_address(address)


@pytest.mark.parametrize("source", [baidu, bing, google])
def test_a_filter_of_the_wrong_type_is_an_invalid_request(source):
    with pytest.raises(InvalidRequest, match="invalid"):
        source.check({"filters": {"size": 5}})


def test_a_style_that_is_not_built_in_is_the_recipes_fault():
    for style in ("style-99", "style-²", "seven"):
        with pytest.raises(RecipeError, match="style_transfer: unknown style"):
            _recipe([{"style_transfer": {"style": style}}])


def test_a_bad_setting_is_no_value_error(monkeypatch):
    monkeypatch.setenv("GALLERY_MODEL_THREADS", "two")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    assert not isinstance(raised.value, ValueError)  # no handler of a library's ValueError takes it for bad input


# --- remote answers: the remote's fault, refused or skipped ---------------------------------------------

@pytest.mark.parametrize("url", ["http://[::1/x.jpg", "http://[zz]/x.jpg", "http://example.com:99999/x.jpg",
                                 "http://example.com:port/x.jpg"])
def test_urls_whose_authority_does_not_parse_are_refused(url):
    with pytest.raises(Refused) as raised:
        check_url(url, FetchPolicy())
    assert raised.value.reason == "scheme"


class _Redirects(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", "http://[zz/elsewhere.jpg")
        self.send_header("Content-Length", "0")
        self.end_headers()


def test_a_redirect_to_a_location_that_does_not_parse_is_refused():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Redirects)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        fetcher = SafeFetcher(FetchPolicy(allowed_hosts=frozenset({"localhost"}), deadline=2.0, read_timeout=1.0,
                                          connect_timeout=1.0), sleep=lambda s: None)
        with pytest.raises(Refused) as raised:
            fetcher.fetch(f"http://localhost:{httpd.server_address[1]}/x.jpg")
        assert raised.value.reason == "scheme" and "not a URL" in str(raised.value)
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Answers:
    def __init__(self, body: bytes):
        self.body = body

    def fetch_document(self, url, **_):
        return self.body


@pytest.mark.parametrize("body", [b"<html>busy</html>", b"\xff\xfe\x00", b"[]", b'{"access_token": 7}', b"{}"])
def test_openverse_token_answers_without_a_token_are_refused(body):
    with pytest.raises(Refused) as raised:
        openverse.access_token(_Answers(body), openverse.ENDPOINT, {"client_id": "a", "client_secret": "b"})
    assert raised.value.reason == "api_error"


def test_the_email_apis_answer_without_a_readable_id_loses_only_the_id(monkeypatch):
    import requests

    class Answer:
        status_code = 200

        def __init__(self, body: bytes):
            self.body = body

        def json(self):
            import json

            try:
                return json.loads(self.body)
            except json.JSONDecodeError as exc:
                raise requests.exceptions.JSONDecodeError(exc.msg, exc.doc, exc.pos) from exc

    msg = EmailMessage()
    for name, value in {"From": "a@example.com", "To": "b@example.com", "Subject": "s", "Message-ID": "<m@x>",
                        "X-Image-Pipeline-Delivery": "d1"}.items():
        msg[name] = value
    msg.set_content("hello")
    mailer = HttpApiMailer("https://api.example.com/emails", "key")
    for body, location in ((b'{"id": "e-1"}', "#e-1"), (b"accepted", "#"), (b"[]", "#")):
        monkeypatch.setattr(requests, "post", lambda *a, body=body, **k: Answer(body))
        assert mailer.send(msg).endswith(location)


def test_an_upload_sidecar_that_is_not_json_names_no_uploader(tmp_path):
    store = LocalStore(tmp_path)
    key = upload_key("a.jpg")
    assert _upload_meta(store, key) == {}  # no sidecar
    store.put_bytes(meta_key(key), b"\xff not json")
    assert _upload_meta(store, key) == {}


# --- folder mode: the same classes ----------------------------------------------------------------------

def test_folder_mode_fails_a_recipes_output_and_stops_on_the_machines_failure(tmp_path, monkeypatch):
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (50, 40), "red").save(src / "a.png")
    crop = _recipe([{"crop": {"box": [60, 60, 100, 100]}}], name="corner")  # outside a 50 x 40 image
    whole = _recipe(name="whole")
    status, report = run_folder(src, tmp_path / "dest", [crop, whole], progress_stream=io.StringIO())
    (entry,) = report["files"]
    assert status == 1 and entry["status"] == "failed" and "outside the image" in entry["reason"]
    assert [o["recipe"] for o in entry["outputs"]] == ["whole"] and (tmp_path / "dest/whole/a.png").exists()
    assert (report["totals"]["failed"], report["totals"]["ok"], report["totals"]["quarantined"]) == (1, 0, 0)

    def full_disk(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(engine, "process_image", full_disk)
    with pytest.raises(OSError, match="No space left"):
        run_folder(src, tmp_path / "dest2", [whole], progress_stream=io.StringIO())

    def bug(*_a, **_k):
        raise KeyError("x")

    monkeypatch.setattr(engine, "process_image", bug)
    status, report = run_folder(src, tmp_path / "dest3", [whole], progress_stream=io.StringIO())
    assert status == 1 and report["files"][0]["status"] == "quarantined"
    assert report["files"][0]["reason"] == "processing failed: KeyError: 'x'"
