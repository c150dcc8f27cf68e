"""Subscriptions: recurring deliveries (``config/subscriptions.yaml``), one DAG each."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from image_pipeline.deliver.mail import one_line, validate_address
from image_pipeline.deliver.request import DeliveryRequest
from image_pipeline.core.errors import InvalidRequest


log = logging.getLogger(__name__)


_SUBSCRIPTION_NAME = re.compile(r"^[a-z0-9][a-z0-9_]{0,49}$")
SUBSCRIPTION_FIELDS = {"name", "recipient", "cron", "selection", "description"}


@dataclass(frozen=True)
class Subscription:
    """A recurring delivery: ``selection`` of the images retrieved in each run's data interval,
    emailed to ``recipient`` on ``cron`` (one DAG each, so it runs on its schedule and backfills)."""

    name: str
    recipient: str
    cron: str
    selection: dict[str, Any]
    description: str = ""

    def for_interval(self, start: datetime, end: datetime, occasion: str | None = None) -> DeliveryRequest:
        """The request of one period: the images retrieved in ``[start, end)``, to the subscriber."""
        return DeliveryRequest.for_selection({**self.selection, "since": start.isoformat(), "until": end.isoformat()},
                                             self.recipient, occasion)


def load_subscriptions(path: str | Path, recipes: Any = None) -> list[Subscription]:
    """The subscriptions of a YAML file (``subscriptions: [...]``), validated; a missing file has none.
    ``recipes``: the recipe names a subscription may ask for (None: not checked)."""
    import yaml

    try:
        content = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        return []
    items = content.get("subscriptions") or []
    if not isinstance(items, list):
        raise InvalidRequest(f"{path}: 'subscriptions' must be a list")
    subscriptions, names = [], set()
    for i, item in enumerate(items):
        where = f"{path}: subscription {i + 1}"
        if not isinstance(item, dict) or set(item) - SUBSCRIPTION_FIELDS or not {"name", "recipient", "cron",
                                                                               "selection"} <= set(item):
            raise InvalidRequest(f"{where} must be a mapping of name, recipient, cron, selection (and description)")
        name = str(item["name"])
        if not _SUBSCRIPTION_NAME.match(name) or name in names:
            raise InvalidRequest(f"{where}: name {name!r} must be unique, lowercase letters, digits and '_'")
        names.add(name)
        selection = dict(item["selection"] or {})
        if set(selection) & {"since", "until", "run_id"}:
            raise InvalidRequest(f"{where}: the selection's date range is each run's data interval; "
                                 "give keyword, label or recipe")
        try:
            recipient = validate_address(str(item["recipient"]))
            # A throw-away interval proves the selection is valid before any DAG is built from it.
            request = DeliveryRequest.for_selection({**selection, "since": "2000-01-01", "until": "2000-01-02"})
            if recipes is not None and request.recipe not in recipes:
                raise InvalidRequest(f"unknown recipe {request.recipe!r}; known: {', '.join(sorted(recipes))}")
        except InvalidRequest as exc:  # the address, the selection or the recipe refused: said where
            raise InvalidRequest(f"{where}: {exc}") from None
        subscriptions.append(Subscription(name, recipient, str(item["cron"]), selection,
                                          one_line(item.get("description", ""), 500)))
    return subscriptions
