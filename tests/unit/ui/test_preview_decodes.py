"""The editor's previews from a decode kept while the image is edited: the same pictures as a decode
per preview, the original read once, and the kept decodes bounded by their pixels' bytes and by time
since their last use."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from PIL import Image, ImageChops, ImageStat

CHAINS = {
    "colour": [{"saturation": {"factor": 1.3}}, {"blur": {"radius": 3}}, "sharpen"],
    "geometry": [{"crop": {"box": [50, 40, 350, 260]}}, {"rotate": {"angle": 90}}, "sepia"],
    "gray": ["grayscale", {"blur": {"radius": 3}}, {"contrast": {"factor": 1.4}}],
    "resize first": [{"resize": {"width": 120}}, "sharpen"],
}


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    """A photo-like JPEG with a camera orientation (a decode kept must keep it too)."""
    path = tmp_path_factory.mktemp("preview") / "photo.jpg"
    im = Image.effect_noise((400, 300), 60).convert("RGB")
    im.paste((200, 60, 30), (40, 40, 200, 160))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: shown 300 x 400
    im.save(path, quality=90, exif=exif.tobytes())
    return path


def pixels(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        return im.convert("RGB")


@pytest.mark.parametrize("chain", CHAINS, ids=list(CHAINS))
def test_a_chain_on_a_kept_decode_is_the_chain_on_a_fresh_one(photo, chain):
    from image_pipeline.process.engine import decode_for_preview, preview_image
    from image_pipeline.process.recipes import parse_recipe

    recipe = parse_recipe({"name": "preview", "operations": CHAINS[chain]}, "preview", [])
    fresh = preview_image(photo, recipe, 256)
    kept = decode_for_preview(photo, 256)
    first, again = preview_image(kept, recipe, 256), preview_image(kept, recipe, 256)
    assert (first.width, first.height, first.content_type) == (fresh.width, fresh.height, fresh.content_type)
    assert first.data == again.data  # the kept decode is never changed by a chain
    assert first.timings["decode"] == 0.0
    # A chain the engine would start from a luma-only or smaller decode runs on the colour one: the
    # same picture within rounding.
    difference = ImageStat.Stat(ImageChops.difference(pixels(fresh.data), pixels(first.data))).mean
    assert max(difference) < 1.5, difference


def test_the_route_reads_the_original_once_and_serves_the_same_preview(client, as_user, backends):
    items = client.get("/api/images", params={"status": "processed"}, headers=as_user("viewer")).json()["items"]
    sha = next(i["sha256"] for i in items if i["format"] == "JPEG")
    url, body = f"/api/images/{sha}/preview", {"operations": CHAINS["colour"], "max_side": 256}
    first = client.post(url, json=body, headers=as_user("viewer"))
    assert first.status_code == 200
    # The original gone from the store: the decode kept for its editing still serves previews.
    raw = backends.catalog.get(sha)["raw_key"]
    original = backends.store.path(raw)
    moved = original.with_suffix(".away")
    original.rename(moved)
    try:
        again = client.post(url, json=body, headers=as_user("viewer"))
        other = client.post(url, json={"operations": ["grayscale"], "max_side": 256}, headers=as_user("viewer"))
        larger = client.post(url, json={"operations": [], "max_side": 512}, headers=as_user("viewer"))
    finally:
        moved.rename(original)
    assert again.status_code == 200 and again.content == first.content
    assert other.status_code == 200 and pixels(other.content).size == pixels(first.content).size
    assert larger.status_code != 200  # another size is another decode: of the original, which is not there
    decodes = backends.__dict__["preview_decodes"]
    assert (decodes.hits, decodes.misses) == (2, 2) and len(decodes) == 1


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def sized(n: int) -> SimpleNamespace:
    return SimpleNamespace(nbytes=n)


def test_kept_decodes_are_bounded_by_bytes_least_recently_used_first():
    from image_pipeline.ui.previews import PreviewDecodes

    decodes = PreviewDecodes(max_bytes=100, idle_seconds=60, clock=Clock())
    made = []

    def make(n):
        return lambda: made.append(n) or sized(n)

    a = decodes.get("a", make(40))
    decodes.get("b", make(40))
    assert decodes.get("a", make(99)) is a  # kept: not made again, and now the most recently used
    decodes.get("c", make(40))  # 120 > 100: b, the least recently used, goes
    assert decodes.nbytes == 80 and len(decodes) == 2
    decodes.get("b", make(40))
    assert made == [40, 40, 40, 40]  # b was made again
    decodes.get("huge", make(101))  # larger than the bound: given, not kept
    assert "huge" not in decodes._entries and decodes.nbytes <= 100


def test_a_decode_unused_past_the_idle_time_is_dropped():
    from image_pipeline.ui.previews import PreviewDecodes

    clock = Clock()
    decodes = PreviewDecodes(max_bytes=1000, idle_seconds=600, clock=clock)
    decodes.get("edited", lambda: sized(10))
    decodes.get("left", lambda: sized(10))
    clock.now = 500
    decodes.get("edited", lambda: sized(99))  # still being edited
    clock.now = 700
    decodes.get("another", lambda: sized(10))  # "left" was last used 700 s ago
    assert set(decodes._entries) == {"edited", "another"} and decodes.nbytes == 20
