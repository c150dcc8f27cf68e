"""The gallery's listing of the catalog: filters, sort orders and the keyset cursor, shared by both backends.

A page is asked for with :class:`ImageFilters`, a sort (``newest``: latest ``retrieved_at`` first,
``oldest``: the reverse; ``sha256`` breaks ties either way), a limit and a cursor. The cursor is the
last item's ``(retrieved_at, sha256)``, opaque to callers (URL-safe base64 of JSON): the next page
starts strictly after it, so pages never repeat or skip an image, whatever is inserted meanwhile
(``retrieved_at`` never changes once recorded). No OFFSET: a page deep in the gallery costs what the
first one does.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from image_pipeline.core.catalog.base import to_iso
from image_pipeline.core.errors import InvalidRequest

STATUSES = ("raw", "processed", "quarantined")
SORTS = ("newest", "oldest")
MAX_LIMIT = 500
# Multi-valued fields the gallery filters on (and counts in facets), by facet name: the document's
# array and, for arrays of objects, the member that holds the value.
TERMS = {"keywords": ("keywords", None), "labels": ("features.labels", "name"), "sources": ("sources", "source"),
         "tags": ("tags", None)}


def _bound(value: str | date | datetime | None, *, end: bool) -> str | None:
    """A time bound in the catalog's ISO form; a bare day means its start (``since``) or the start
    of the next day (``until``: the day is included)."""
    if value is None or value == "":
        return None
    given = value
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
        except ValueError:  # fromisoformat's word for a text that is not an ISO date or time: refused
            raise InvalidRequest(f"not a date or time: {value!r}") from None
    try:
        if not isinstance(value, datetime):
            value = datetime.combine(value + timedelta(days=1) if end else value, time.min, tzinfo=timezone.utc)
        elif value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return to_iso(value)
    except OverflowError:  # the calendar's edge: until 9999-12-31, a time of year 1 east of UTC
        raise InvalidRequest(f"out of the calendar's range: {given!r}") from None


@dataclass(frozen=True)
class ImageFilters:
    """What the gallery filters on; every given filter must hold (None: not filtered).

    ``source`` is a source or engine name (``bing``, ``inbox``...); ``since``/``until`` bound
    ``retrieved_at`` (``[since, until)``; a bare ``YYYY-MM-DD`` until includes that day);
    ``has_faces`` True keeps images with at least one face, False those with none recorded;
    ``duplicates`` True keeps images of a near-duplicate group (a ``duplicate_of`` or named by one);
    ``group`` keeps the near-duplicate group whose first image is that sha256 (it and those naming it);
    ``tag`` keeps images carrying every tag given (one, or a tuple); ``trashed`` False (the default)
    hides the trash, True shows only the trash.
    """

    keyword: str | None = None
    label: str | None = None
    source: str | None = None
    since: str | None = None
    until: str | None = None
    format: str | None = None
    status: str | None = None
    has_faces: bool | None = None
    duplicates: bool = False
    group: str | None = None
    tag: tuple[str, ...] | str | None = None
    trashed: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.tag, str):
            object.__setattr__(self, "tag", (self.tag,))
        elif self.tag is not None:
            object.__setattr__(self, "tag", tuple(sorted(set(self.tag))) or None)
        if self.status is not None and self.status not in STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")
        object.__setattr__(self, "since", _bound(self.since, end=False))
        object.__setattr__(self, "until", _bound(self.until, end=True))

    @classmethod
    def of(cls, filters: "ImageFilters | dict[str, Any] | None") -> "ImageFilters":
        if filters is None:
            return cls()
        if isinstance(filters, cls):
            return filters
        unknown = set(filters) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidRequest(f"unknown filters: {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in filters.items() if v is not None and v != ""})

    def terms(self) -> list[tuple[str, str]]:
        """The multi-valued filters as (facet, value): ``keywords``, ``labels``, ``sources``."""
        given = (("keywords", self.keyword), ("labels", self.label), ("sources", self.source),
                 *(("tags", t) for t in self.tag or ()))
        return [(kind, value) for kind, value in given if value is not None]

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if k == "tag" else v for k, v in asdict(self).items() if v is not None and v is not False}


def check_page(sort: str, limit: int) -> None:
    if sort not in SORTS:
        raise InvalidRequest(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}")


def encode_cursor(doc: dict[str, Any]) -> str:
    raw = json.dumps([doc["retrieved_at"], doc["sha256"]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    """The ``(retrieved_at, sha256)`` a cursor holds; :class:`InvalidRequest` for anything that is not one."""
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor.encode("ascii") + b"=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (UnicodeError, binascii.Error, json.JSONDecodeError):  # not ASCII, base64, UTF-8 or JSON: refused
        raise InvalidRequest("invalid cursor") from None
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        raise InvalidRequest("invalid cursor")
    return value[0], value[1]


def page_of(docs: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], str | None]:
    """``limit + 1`` documents asked for: the page, and the next cursor when there is more."""
    if len(docs) > limit:
        docs = docs[:limit]
        return docs, encode_cursor(docs[-1])
    return docs, None
