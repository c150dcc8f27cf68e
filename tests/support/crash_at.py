"""A pipeline run killed (SIGKILL, no cleanup) at one of the points where it writes: what the crash
tests start in a child process before retrying in their own.

    python tests/support/crash_at.py POINT STORE_DIR CATALOG SAMPLES_DIR

Points: ``object_before_record`` (a processed object written, its record not), ``record_before_next``
(an image's record written, the next image not started), ``archive_upload`` (halfway through writing
the archive), ``email_commit`` (the delivery committed in the ledger, the message not handed over).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.pipeline_state import run_pipeline  # noqa: E402

POINTS = ("object_before_record", "record_before_next", "archive_upload", "email_commit")


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def deliver_once(store, catalog):
    """The delivery that follows archiving (to the outbox: the channel that can tell what arrived)."""
    from image_pipeline.core.selection import Selection
    from image_pipeline.deliver import deliver
    from image_pipeline.deliver.mail import OutboxMailer
    from image_pipeline.process.recipes import get_recipe

    return deliver(store, catalog, OutboxMailer(store), Selection(keyword="demo"), get_recipe("half_gray"),
                   recipient="you@example.com", sender="Pipeline <p@example.com>", attach_max_bytes=10_000_000,
                   link_expiry_seconds=60)


def main(point: str, store_dir: str, catalog_path: str, samples: str) -> None:
    import image_pipeline.core.storage as storage
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.deliver.mail import OutboxMailer

    store = storage.LocalStore(store_dir)
    catalog = SqliteCatalog(catalog_path)
    if point == "object_before_record":  # the third processed output written, then killed
        written = []
        put_file = store.put_file

        def put_then_die(key, path, content_type=None):
            put_file(key, path, content_type)
            if key.startswith("processed/"):
                written.append(key)
                if len(written) == 3:
                    die()
        store.put_file = put_then_die
    elif point == "record_before_next":  # the second image's record written, then killed
        recorded = []
        record = catalog.record_processing

        def record_then_die(*args, **kwargs):
            record(*args, **kwargs)
            recorded.append(args[0])
            if len(recorded) == 2:
                die()
        catalog.record_processing = record_then_die
    elif point == "archive_upload":  # half the archive's bytes in its temporary file, then killed
        put_file = store.put_file

        def copy_half_then_die(src, dst, length=0):
            data = src.read()
            dst.write(data[: len(data) // 2])
            dst.flush()
            die()

        def put_half_then_die(key, path, content_type=None):
            if key.startswith("archives/"):
                storage.shutil.copyfileobj = copy_half_then_die
            return put_file(key, path, content_type)
        store.put_file = put_half_then_die
    elif point == "email_commit":  # the ledger says "committing", the message is not written yet
        send = OutboxMailer.send

        def commit_then_die(self, msg, commit=lambda: None):
            return send(self, msg, lambda: (commit(), die()))
        OutboxMailer.send = commit_then_die
    else:
        raise SystemExit(f"unknown point {point!r}; one of {POINTS}")
    run_pipeline(store, catalog, samples)
    deliver_once(store, catalog)
    raise SystemExit(f"the run reached its end without crashing at {point}")


if __name__ == "__main__":
    main(*sys.argv[1:5])
