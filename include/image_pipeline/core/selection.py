"""Which images a run works on: the one selection type of processing and delivery.

Every field filters and an empty field does not: ``keyword``, ``run_id`` (the retrieval run),
``label`` (a content label of the features) and a ``[since, until)`` range of retrieval time (ISO
dates or times, UTC when naive; normalised to the catalog's timestamp form). Delivery asks more of
it (a filter at least, both ends of a range: see ``image_pipeline.deliver.request``) and adds the
recipe whose outputs it sends.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from image_pipeline.core.catalog.roles import Images
from image_pipeline.core.errors import InvalidRequest

_TEXT_FIELD = re.compile(r"^[^\x00-\x1f\x7f]{1,250}$")
FIELDS = ("keyword", "run_id", "label", "since", "until", "images")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_IMAGES = 1000  # images chosen one by one (the gallery's multi-select)


def _day_or_time(value: str) -> str:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Selection:
    keyword: str | None = None
    run_id: str | None = None
    label: str | None = None
    since: str | None = None  # retrieved at or after
    until: str | None = None  # retrieved before
    images: tuple[str, ...] | None = None  # chosen one by one, by content hash

    def __post_init__(self) -> None:
        if self.images is not None:
            chosen = tuple(sorted(set(self.images)))
            well_formed = all(isinstance(s, str) and _SHA256.match(s) for s in chosen)
            if not chosen or len(chosen) > MAX_IMAGES or not well_formed:
                raise InvalidRequest(f"images must be 1 to {MAX_IMAGES} sha256 hex digests")
            object.__setattr__(self, "images", chosen)
        for name in ("keyword", "run_id", "label"):
            value = getattr(self, name)
            if value is not None and not _TEXT_FIELD.match(value):
                raise InvalidRequest(f"{name} must be 1-250 printable characters, got {value!r}")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None:
                # fromisoformat's word for a text that is not an ISO date or time (TypeError: not a text);
                # OverflowError: a time of year 1 east of UTC, which leaves the calendar in UTC
                try:
                    object.__setattr__(self, name, _day_or_time(value))
                except (ValueError, TypeError, OverflowError):  # not a date or time one can use: refused
                    raise InvalidRequest(f"{name} must be an ISO date or time, got {value!r}") from None
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise InvalidRequest(f"since ({self.since}) must be before until ({self.until})")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Selection":
        """From a form, a config file or XCom: empty strings mean "not given"; unknown keys are refused."""
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise InvalidRequest(f"unknown selection fields: {', '.join(sorted(unknown))}")
        return cls(**{k: (v if v not in ("", None) else None) for k, v in values.items()})

    def to_dict(self) -> dict[str, str]:
        """The fields that are set (JSON-serialisable, for XCom and the delivery ledger)."""
        return {k: list(v) if k == "images" else v for k, v in asdict(self).items() if v is not None}

    @property
    def everything(self) -> bool:
        return not (self.keyword or self.run_id or self.label or self.since or self.until or self.images)

    def find_filters(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`Images.find` for this selection."""
        filters: dict[str, Any] = {"keyword": self.keyword, "run_id": self.run_id}
        if self.label:
            filters["label"] = self.label
        if self.since or self.until:
            filters["between"] = ("retrieved_at", self.since or "", self.until or "\uffff")
        return filters

    def sha256s(self, catalog: Images) -> set[str]:
        if self.images is None:
            return {d["sha256"] for d in catalog.find(**self.find_filters())}
        chosen = {s for s in self.images if catalog.get(s) is not None}
        if self.keyword or self.run_id or self.label or self.since or self.until:
            chosen &= {d["sha256"] for d in catalog.find(**self.find_filters())}
        return chosen

    def parts(self) -> list[str]:
        """Its filters in words (``describe`` of a delivery starts with the recipe)."""
        parts = []
        if self.keyword:
            parts.append(f"keyword {self.keyword!r}")
        if self.label:
            parts.append(f"label {self.label!r}")
        if self.run_id:
            parts.append(f"run {self.run_id}")
        if self.since:
            parts.append(f"retrieved {self.since[:19]}Z to {(self.until or '')[:19]}Z")
        if self.images:
            parts.append(f"{len(self.images)} chosen image{'s' if len(self.images) > 1 else ''}")
        return parts

    def describe(self) -> str:
        return ", ".join(self.parts()) or "every image"

    def key(self, **extra: Any) -> str:
        """A stable text form (with ``extra`` fields, e.g. the recipe): part of the delivery ledger's key."""
        return json.dumps({**{k: v for k, v in extra.items() if v is not None}, **self.to_dict()}, sort_keys=True)
