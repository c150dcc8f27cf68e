"""Images with a problem, and trying them again."""

from __future__ import annotations

from image_pipeline.core.catalog.roles import Problems
from support.catalog_records import failure, output, record

ROLES = (Problems,)


def test_retry_lifts_a_quarantine_forgets_failures_and_records_who(catalog):
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    for sha in (a, b, c):
        record(catalog, sha)
    at = "2026-11-01T11:00:00.000000+00:00"
    catalog.record_processing(a, {"half_gray": output()})
    catalog.record_quarantine(a, "failed 3 times: TypeError", "process", "q/a", at, kind="unexpected")
    catalog.record_processing(b, {}, failures={"mark": failure()})
    catalog.trash_image(c, "ann")
    catalog.record_quarantine(c, "cannot decode image", "process", "q/c", at)
    assert [d["sha256"] for d in catalog.problems()] == [a, b]  # the trash left out
    doc, changed = catalog.retry_image(a, "ann", at)
    assert changed and doc["status"] == "processed" and doc["quarantine"] is None
    assert doc["history"][-1]["action"] == "retry" and doc["history"][-1]["changes"]["quarantine"]["kind"] == "unexpected"
    doc, changed = catalog.retry_image(b, "ann", at)
    assert changed and doc["status"] == "raw" and not doc["failures"]
    assert catalog.retry_image(b, "ann", at)[1] is False  # nothing left to retry
    assert catalog.problems() == [] and catalog.due([("half_gray", 1, None), ("mark", 1, "f1")], None) == [a, b]
