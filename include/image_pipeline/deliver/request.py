"""What a delivery task is asked: :class:`DeliveryRequest` (a recipe's outputs for the one core
:class:`~image_pipeline.core.selection.Selection`, to a recipient, for an occasion), serialisable for XCom."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from image_pipeline.core.selection import Selection
from image_pipeline.core.errors import InvalidRequest

log = logging.getLogger(__name__)


def check_deliverable(selection: Selection) -> Selection:
    """Delivery asks more of a selection than processing: a filter at least, and both ends of a range."""
    if (selection.since is None) != (selection.until is None):
        raise InvalidRequest("a date range needs both since and until")
    if not (selection.keyword or selection.run_id or selection.label or selection.since or selection.images):
        raise InvalidRequest("a selection needs a keyword, a retrieval run id, a label, a date range or chosen images")
    return selection


def describe(selection: Selection, recipe: str) -> str:
    return ", ".join([f"recipe {recipe}"] + selection.parts())


@dataclass(frozen=True)
class DeliveryRequest:
    recipe: str
    selection: Selection
    recipient: str = ""
    occasion: str | None = None

    def __post_init__(self) -> None:
        check_deliverable(self.selection)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "DeliveryRequest":
        """From ``{"selection": {"recipe": ..., "keyword": ...}, "recipient": ..., "occasion": ...}``
        (a form, a config file, XCom); empty strings mean "not given"."""
        chosen = dict(values.get("selection") or {})
        recipe = chosen.pop("recipe", None) or "half_gray"
        return cls(recipe, Selection.from_dict(chosen), values.get("recipient") or "", values.get("occasion"))

    @classmethod
    def for_selection(cls, chosen: dict[str, Any], recipient: str = "",
                      occasion: str | None = None) -> "DeliveryRequest":
        """From a selection's fields and its ``recipe`` (a form's or a subscription's)."""
        return cls.from_dict({"selection": chosen, "recipient": recipient, "occasion": occasion})

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"selection": {"recipe": self.recipe, **self.selection.to_dict()},
                               "recipient": self.recipient}
        if self.occasion is not None:
            out["occasion"] = self.occasion
        return out

    def describe(self) -> str:
        return describe(self.selection, self.recipe)
