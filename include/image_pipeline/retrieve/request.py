"""Retrieval requests: a form's or a saved search's request validated before anything is fetched,
(one request per task: one per keyword for a search engine), and narrowed to a run's data interval
(each source's date filter); what is particular to a source is its module's (:mod:`.sources`).
:class:`RetrievalRequest` is the typed form of a request (XCom: ``to_dict``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from image_pipeline.retrieve.sources import ENGINES, SEARCH_ENGINES, source_module
from image_pipeline.core.errors import InvalidRequest


REQUEST_FIELDS = ("engine", "keywords", "count", "filters", "site_url", "urls")  # the form's and a saved search's


def validate_request(*, engine: str, keywords: list[str] | None = None, count: int = 20,
                     filters: dict | None = None, site_url: str = "", urls: list[str] | None = None,
                     max_count: int = 1000) -> list[dict]:
    """Check a retrieval request before any side effect; returns one normalised request per task
    (one per keyword for a search engine) or raises ValueError with what is wrong."""
    if engine not in ENGINES:
        raise InvalidRequest(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    cleaned = []
    for keyword in keywords or []:
        keyword = (keyword or "").strip()
        if not keyword:
            raise InvalidRequest("keywords must not be empty")
        if len(keyword) > 100 or any(not (c.isalnum() or c in " -_.") for c in keyword):
            raise InvalidRequest(f"keyword {keyword!r}: use at most 100 letters, digits, spaces, '-', '_' or '.'")
        if keyword not in cleaned:
            cleaned.append(keyword)
    if not isinstance(count, int) or not 1 <= count <= max_count:
        raise InvalidRequest(f"count must be between 1 and {max_count}, got {count!r}")
    filters = dict(filters or {})
    base = {"engine": engine, "count": count, "filters": filters, "site_url": "", "urls": []}
    source = source_module(engine)
    if engine in SEARCH_ENGINES:
        if not cleaned:
            raise InvalidRequest(f"engine {engine!r} needs at least one keyword")
        checked = source.check(base, site_url=site_url, urls=urls, max_count=max_count)
        return [{**checked, "keyword": k} for k in cleaned]
    if filters:
        raise InvalidRequest(f"engine {engine!r} takes no search filters")
    checked = source.check(base, site_url=site_url, urls=urls, max_count=max_count)
    return [{**checked, "keyword": cleaned[0] if cleaned else engine}]


def load_saved_searches(path: str | Path, max_count: int = 1000) -> list[dict]:
    """The saved searches of a YAML file, validated and expanded into requests (one per keyword)."""
    import yaml

    try:
        content = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise InvalidRequest(f"saved searches file not found: {path}") from None
    searches = content.get("searches") or []
    if not isinstance(searches, list):
        raise InvalidRequest(f"{path}: 'searches' must be a list")
    requests = []
    for i, search in enumerate(searches):
        if not isinstance(search, dict) or set(search) - set(REQUEST_FIELDS):
            raise InvalidRequest(f"{path}: search {i + 1} must be a mapping of engine, keywords, count, filters, "
                                 "site_url, urls")
        try:
            requests += validate_request(**{"engine": "bing", **search, "max_count": max_count})
        except (TypeError, InvalidRequest) as exc:  # a key the request does not take, or a value it refuses
            raise InvalidRequest(f"{path}: search {i + 1}: {exc}") from None
    return requests


def with_window(request: dict, start: datetime | None, end: datetime | None, now: datetime) -> dict:
    """The request with its run's data interval passed to the source's date filter, where it has one."""
    if start is None or end is None:
        return request
    return source_module(request["engine"]).with_window(request, start, end, now)


def plan_requests(params: dict, *, scheduled: bool, searches_file: str | Path, max_count: int = 1000,
                  window: tuple[datetime | None, datetime | None] = (None, None),
                  now: datetime | None = None) -> list[dict]:
    """What one run retrieves: the form's request for a manual run; for a scheduled or backfill
    run, the saved searches narrowed to the run's data interval. Raises ValueError when invalid."""
    if not scheduled:
        return validate_request(**{k: params[k] for k in REQUEST_FIELDS if k in params}, max_count=max_count)
    now = now or datetime.now(timezone.utc)
    return [with_window(r, window[0], window[1], now) for r in load_saved_searches(searches_file, max_count)]


def is_http_url(url: str) -> bool:
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


@dataclass(frozen=True)
class RetrievalRequest:
    """One validated retrieval task's request (what :func:`validate_request` returns, typed)."""

    engine: str
    keyword: str
    count: int = 20
    filters: dict[str, Any] = field(default_factory=dict)
    site_url: str = ""
    urls: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"engine": self.engine, "count": self.count, "filters": dict(self.filters), "site_url": self.site_url,
                "urls": list(self.urls), "keyword": self.keyword}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "RetrievalRequest":
        return cls(values["engine"], values["keyword"], int(values.get("count", 20)), dict(values.get("filters") or {}),
                   values.get("site_url") or "", list(values.get("urls") or []))
