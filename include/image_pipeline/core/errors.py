"""Errors every stage shares."""

from __future__ import annotations


class BadImage(ValueError):
    """The bytes are not an image this pipeline can read; the message is the quarantine reason."""
