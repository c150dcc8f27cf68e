"""A selection of images chosen one by one (the gallery's multi-select): checked, normalised, and
combined with the other filters."""

from __future__ import annotations

import pytest

from image_pipeline.core.selection import MAX_IMAGES, Selection
from image_pipeline.core.errors import InvalidRequest


def test_chosen_images_are_normalised_and_described():
    a, b = "a" * 64, "b" * 64
    chosen = Selection.from_dict({"images": [b, a, b]})
    assert chosen.images == (a, b) and not chosen.everything
    assert chosen.to_dict() == {"images": [a, b]} and "2 chosen images" in chosen.describe()
    assert Selection.from_dict(chosen.to_dict()) == chosen  # through XCom and back


@pytest.mark.parametrize("images", [[], ["../etc/passwd"], ["A" * 64], ["a" * 63], [f"{i:064x}" for i in range(MAX_IMAGES + 1)]])
def test_malformed_choices_are_refused(images):
    with pytest.raises(InvalidRequest, match="images"):
        Selection(images=tuple(images))


def test_chosen_images_meet_the_other_filters(tmp_path):
    from image_pipeline.core.catalog import SqliteCatalog

    with SqliteCatalog(tmp_path / "c.sqlite3") as catalog:
        for sha, keyword in (("a" * 64, "cats"), ("b" * 64, "dogs")):
            catalog.record_image(sha, raw_key=f"raw/{sha}.jpg", format="JPEG", width=1, height=1, bytes=1, source="urls",
                                 uri=f"http://x/{sha}", keyword=keyword, run_id="r1", seen_at="2026-11-01T00:00:00+00:00")
        assert Selection(images=("a" * 64, "b" * 64, "c" * 64)).sha256s(catalog) == {"a" * 64, "b" * 64}
        assert Selection(images=("a" * 64, "b" * 64), keyword="dogs").sha256s(catalog) == {"b" * 64}
