"""The delivery email's subject and body, from Jinja templates (``config/email``, or ``GALLERY_EMAIL_TEMPLATES``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from image_pipeline.core.selection import Selection
from image_pipeline.deliver.mail import one_line
from image_pipeline.deliver.request import describe
from image_pipeline.settings import config_dir

log = logging.getLogger(__name__)


TEMPLATES_DIR = config_dir() / "email"


def render_message(context: dict[str, Any], templates_dir: str | Path | None = None) -> tuple[str, str]:
    """Subject and body from the Jinja templates ``subject.txt.j2`` and ``body.txt.j2`` (sandboxed:
    a template cannot reach Python internals). The subject is made one line."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(loader=FileSystemLoader(str(templates_dir or TEMPLATES_DIR)), autoescape=False,
                               undefined=StrictUndefined, keep_trailing_newline=True)
    subject = env.get_template("subject.txt.j2").render(context)
    body = env.get_template("body.txt.j2").render(context)
    return one_line(subject), body


def message_context(entry: dict[str, Any], archive: Any, selection: Selection, recipe: str) -> dict[str, Any]:
    return {
        "images": archive.images, "selection": describe(selection, recipe), "recipe": recipe,
        "keyword": selection.keyword, "label": selection.label, "since": selection.since, "until": selection.until,
        "archive_bytes": archive.bytes, "archive_mib": round(archive.bytes / 2**20, 1),
        "attached": entry["attached"], "attachment_name": entry["attachment_name"], "link": entry.get("link"),
        "link_expires_at": entry.get("link_expires_at"), "files": archive.rows,
    }
