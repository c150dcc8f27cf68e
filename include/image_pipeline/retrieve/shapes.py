"""What a search source's answer is taken for, whatever it holds: the parsers read third-party JSON
and HTML, so a field of an unexpected type is read as empty (the result is skipped, or the answer
refused with a reason), never an exception (tests/unit/fuzz fuzzes every parser with this contract)."""

from __future__ import annotations

from typing import Any


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def text(value: Any) -> str:
    """A string field; anything else (a number, a list, null) is no value."""
    return value if isinstance(value, str) else ""


def number(value: Any, default: int = 0) -> int:
    """An integer field (a count, an index); anything that is not a plain number is ``default``."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 1e18:
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return default
