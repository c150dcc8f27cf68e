"""The fields a day's analytics read from an image document, kept as flat text beside it.

Parsing a million JSON documents costs about a minute of CPU whatever parses them; the day's metrics
need only some thirty fields. So the SQLite catalog keeps, for every image, its fields as one
tab-separated *image line* and one *output line* per recipe output (:func:`facts_of`), filed under
each UTC day the image has a timestamp in. The catalog's own write methods file them in the write's
transaction; a document written otherwise (the sqlite3 CLI, a worker of an older release during an
upgrade) is marked by a plain-SQL trigger as *not derived* and read as JSON until the catalog derives
its lines. A day's analytics then read one range of a narrow table and hand the text to Arrow's CSV
reader (:mod:`image_pipeline.analytics.extract`).

The lines say what the JSON reader (DuckDB's ``json_transform`` over the document) says, for the
documents whose fields have the types the catalog writes: the cleaned, sorted lists (source domains
derived from the URLs) are computed here once instead of at every reading. A document with anything
else (a field of another type, a timestamp not in the catalog's UTC form, a control character in a
string) gets no lines and is filed under ``ANY_DAY`` with the image line ``READ_AS_JSON``: every
day's reading parses it as JSON, so both readers give the same tables for every document.

What only analytics knows stays there: a source that names no creator may have a page URL that names
one (which sites' pages do, and how, is :mod:`image_pipeline.analytics.extract`'s), so the creators
list keeps such a source's page URL, marked ``PAGE_URL``, for the reader to look into.

Encoding: fields separated by TAB; ``NULL`` for SQL NULL; booleans as 1/0; a list as its items each
preceded by ``ITEM`` (the empty text is the empty list); an output's timings as a list of
``operation KEY_VALUE seconds`` items.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

ANY_DAY = "*"  # the day key of documents every day reads as JSON
READ_AS_JSON = ""  # their image line once derived; NULL: not derived yet (written by another writer)
NULL, ITEM, KEY_VALUE, PAGE_URL = "\x15", "\x1f", "\x1e", "\x1d"

# Column names and types (Arrow's, by name) of the two kinds of lines, in their order.
IMAGE_FIELDS = {
    "sha256": "string", "format": "string", "status": "string", "width": "int64", "height": "int64",
    "bytes": "int64", "retrieved_at_text": "string", "retrieved_at_us": "int64", "quarantine_at": "string",
    "quarantine_has_key": "bool", "duplicated": "bool", "duplicate_of": "string", "n_sources": "int64",
    "has_raw": "bool", "keywords": "list", "engines": "list", "domains": "list", "licences": "list",
    "creators": "list", "quarantine_reason": "string", "quarantine_stage": "string", "labels": "list",
    "label_source": "string", "brightness": "float64", "contrast": "float64", "blur": "float64",
    "faces": "int64", "camera": "string",
}
OUTPUT_FIELDS = {
    "sha256": "string", "recipe": "string", "version": "int64", "format": "string", "width": "int64",
    "height": "int64", "bytes": "int64", "seconds": "float64", "processed_at_text": "string",
    "processed_at_us": "int64", "timings": "list",
}

_UNSAFE = re.compile(f"[\t\n\r{NULL}{ITEM}{KEY_VALUE}{PAGE_URL}]")
_CANONICAL_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")  # what to_iso writes
HOST = r"^https?://(?:[^@/?#]*@)?([^/:?#]+)"  # a URL's host: the JSON reader's regexp_extract uses it too
_HOST = re.compile(HOST)
_INT64 = 2**63
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class _Unusual(Exception):
    """A field the lines cannot say exactly as the JSON reader does: the document is read as JSON."""


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or _UNSAFE.search(value):
        raise _Unusual
    return value


def _int(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or not -_INT64 <= value < _INT64:  # bool is an int subclass: not one here
        raise _Unusual
    return value


def _float(value: Any) -> float | int | None:
    if value is None:
        return None
    if type(value) is int and abs(value) <= 2**53 or type(value) is float and value - value == 0:  # finite
        return value
    raise _Unusual


def _object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Unusual
    return value


def _list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise _Unusual
    return value


def _objects(value: Any) -> list[dict[str, Any]] | None:
    values = _list(value)
    if values is not None and not all(isinstance(v, dict) for v in values):
        raise _Unusual
    return values


def _time(value: Any) -> tuple[str | None, int | None]:
    """A timestamp as text (compared as text, as the JSON reader does) and in microseconds."""
    if value is None:
        return None, None
    if not isinstance(value, str) or not _CANONICAL_TIME.fullmatch(value):
        raise _Unusual
    delta = datetime.fromisoformat(value) - _EPOCH  # exact: no float
    return value, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _cleaned(values: list[Any] | None, checked: bool = False) -> list[str] | None:
    """The JSON reader's list cleaning: no NULL or empty item, distinct, sorted (by code point, as
    DuckDB sorts UTF-8 bytes). ``checked``: the items are texts already (:func:`_text`)."""
    if values is None:
        return None
    return sorted({v for v in (values if checked else map(_text, values)) if v})


def _domain(source: dict[str, Any]) -> str | None:
    uri, page = _text(source.get("uri")), _text(source.get("page_url"))
    host = None
    for url in (uri, page):
        if url is None:
            continue
        match = _HOST.match(url)
        host = match.group(1) if match else ""
        if host:
            break
    if host is None:
        return None
    if not host.isascii():  # lower() of other scripts may differ between Python and DuckDB
        raise _Unusual
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def _creator(source: dict[str, Any]) -> str | None:
    for field in ("creator", "owner_name", "author"):
        if value := _text(source.get(field)):
            return value
    page = _text(source.get("page_url"))
    return None if page is None else PAGE_URL + page  # the reader finds the creator it names, if any


def _field(value: Any) -> str:
    if value is None:
        return NULL
    if value is True or value is False:
        return "1" if value else "0"
    if isinstance(value, list):
        return "".join(ITEM + item for item in value)
    return value if isinstance(value, str) else repr(value)


def _line(values: list[Any]) -> str:
    return "\t".join(map(_field, values))


def _lines(doc: dict[str, Any]) -> tuple[set[str], str, str]:
    days: set[str] = set()

    def touched(value: Any) -> tuple[str | None, int | None]:
        text, micros = _time(value)
        if text is not None:
            days.add(text[:10])
        return text, micros

    sha256 = _text(doc.get("sha256"))
    width, height, size = _int(doc.get("width")), _int(doc.get("height")), _int(doc.get("bytes"))
    retrieved_text, retrieved_us = touched(doc.get("retrieved_at"))
    quarantine = _object(doc.get("quarantine"))
    quarantine_at, _ = touched(quarantine.get("at"))
    quarantine_key = _text(quarantine.get("key"))
    sources = _objects(doc.get("sources"))
    duplicate_of = _text(doc.get("duplicate_of"))
    features = _object(doc.get("features"))
    labels = _objects(features.get("labels"))
    raw_key = _text(doc.get("raw_key"))
    image = _line([
        sha256, _text(doc.get("format")), _text(doc.get("status")), width or 0, height or 0, size or 0,
        retrieved_text, retrieved_us, quarantine_at, bool(quarantine_key),
        (sources is not None and len(sources) > 1) or bool(duplicate_of), duplicate_of or None,
        len(sources) if sources is not None else 0, bool(raw_key),
        _cleaned(_list(doc.get("keywords"))),
        _cleaned(None if sources is None else [s.get("source") for s in sources]),
        _cleaned(None if sources is None else [_domain(s) for s in sources]),
        _cleaned(None if sources is None else [s.get("licence") for s in sources]),
        _cleaned(None if sources is None else [_creator(s) for s in sources], checked=True),
        _text(quarantine.get("reason")), _text(quarantine.get("stage")),
        _cleaned(None if labels is None else [label.get("name") for label in labels]),
        _text(features.get("label_source")), _float(features.get("brightness")),
        _float(features.get("contrast")), _float(features.get("blur")), _int(features.get("faces")),
        _text(_object(features.get("exif")).get("camera")),
    ])
    outputs = []
    for recipe, output in _object(doc.get("outputs")).items():
        if not isinstance(output, dict):
            raise _Unusual
        processed_text, processed_us = touched(output.get("processed_at"))
        timings = []
        for operation, seconds in _object(output.get("timings")).items():
            seconds = _float(seconds)
            if seconds is None:
                raise _Unusual
            timings.append(f"{_text(operation)}{KEY_VALUE}{seconds!r}")
        outputs.append(_line([
            sha256, _text(recipe), _int(output.get("version")), _text(output.get("format")),
            _int(output.get("width")), _int(output.get("height")), _int(output.get("bytes")),
            _float(output.get("seconds")), processed_text, processed_us, timings,
        ]))
    return days, image, "\n".join(outputs)


def facts_of(doc_text: str) -> str:
    """The facts of a catalog document (its JSON text), as the JSON array of the rows the catalog
    files: ``[[day, image line, output lines], ...]``; for a document read as JSON,
    ``[["*", "", null]]``."""
    try:
        doc = json.loads(doc_text)
        if not isinstance(doc, dict):
            raise _Unusual
        days, image, outputs = _lines(doc)
        (image + outputs).encode()  # a lone surrogate (from a JSON escape) is not UTF-8
        return json.dumps([[day, image, outputs] for day in sorted(days)])
    except Exception:  # noqa: BLE001 - whatever it is, the JSON reader reads it: a write never fails here
        return json.dumps([[ANY_DAY, READ_AS_JSON, None]])
