"""Fuzzing the image engine (decode -> operations -> encode) with hypothesis: valid images of every
format the pipeline reads, mutated (bytes flipped, inserted, cut, headers spliced) or replaced by
arbitrary bytes. Whatever the input, it ends as outputs that decode or as :class:`BadImage` with a
reason (the quarantine), within the time limit and without unbounded memory. Time-bounded for CI:
``FUZZ_EXAMPLES`` examples (default 400); the crashers found are replayed from ``crashers/``.
"""

from __future__ import annotations

import io
import os
import resource
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from image_pipeline.core.errors import BadImage
from image_pipeline.process.engine import process_image
from image_pipeline.process.limits import Limits
from image_pipeline.process.recipes import all_recipes, parse_recipe

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
CRASHERS = Path(__file__).parent / "crashers"
LIMITS = Limits(max_pixels=4_000_000, max_frames=50, time_limit=10)
SECONDS_PER_INPUT = 30  # the engine's own limit plus the decode it cannot interrupt
MEMORY_GROWTH_LIMIT = 1024 * 1024  # KiB of peak RSS the whole fuzzing may add (ru_maxrss is in KiB)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def recipes():
    """The shipped recipes and one exercising many operations and a lossless alpha output."""
    busy = parse_recipe({"name": "busy", "operations": [
        "auto_orient", {"rotate": {"angle": 33}}, {"crop": {"aspect": "4:3"}}, {"resize": {"longest": 96}},
        "equalize", {"blur": {"radius": 1}}, "sepia", "sharpen", {"flip": {"direction": "vertical"}}],
        "output": {"format": "png"}})
    return [*all_recipes().values(), busy]


def seed_images() -> list[bytes]:
    """Small valid files of each format: the fuzzer mutates them."""
    seeds = []
    base = Image.radial_gradient("L").resize((48, 32)).convert("RGB")
    for fmt, mode, kw in [("JPEG", "RGB", {"quality": 80}), ("JPEG", "RGB", {"progressive": True}),
                          ("PNG", "RGBA", {}), ("PNG", "P", {}), ("PNG", "I;16", {}), ("GIF", "P", {}),
                          ("WEBP", "RGBA", {}), ("TIFF", "RGB", {"compression": "tiff_lzw"}), ("BMP", "RGB", {}),
                          ("ICO", "RGBA", {}), ("PPM", "RGB", {})]:
        buf = io.BytesIO()
        base.convert(mode).save(buf, fmt, **kw)
        seeds.append(buf.getvalue())
    frames = [base.rotate(a) for a in (0, 90, 180)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    seeds.append(buf.getvalue())
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: auto_orient has work to do
    buf = io.BytesIO()
    base.save(buf, "JPEG", exif=exif.tobytes())
    seeds.append(buf.getvalue())
    return seeds


SEEDS = seed_images()


@st.composite
def image_bytes(draw) -> bytes:
    """A seed with mutations, two seeds spliced, or arbitrary bytes."""
    kind = draw(st.sampled_from(["mutate", "splice", "truncate", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if kind == "splice":
        other = draw(st.sampled_from(SEEDS))
        cut = draw(st.integers(0, len(data)))
        return bytes(data[:cut] + other[draw(st.integers(0, len(other))):])
    for _ in range(draw(st.integers(1, 12))):
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "insert", "delete", "big"]))
        if op == "flip":
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at: at + draw(st.integers(1, 16))]
        else:  # a size field made huge (dimensions, chunk lengths)
            data[at: at + 4] = b"\x7f\xff\xff\xff"
        if not data:
            break
    return bytes(data)


def outcome(data: bytes) -> str:
    """Run one input through the engine: ``"output"`` or ``"quarantine"``; anything else fails."""
    with tempfile.TemporaryDirectory(prefix="fuzz-engine-") as tmp:
        src = Path(tmp) / "input"
        src.write_bytes(data)
        started = time.monotonic()
        try:
            result = process_image(src, recipes(), lambda r: Path(tmp) / f"out-{r.name}.{r.ext}", limits=LIMITS)
        except BadImage as exc:
            assert str(exc).strip(), "a quarantine needs a reason"
            return "quarantine"
        finally:
            assert time.monotonic() - started < SECONDS_PER_INPUT
        for name, facts in result.outputs.items():
            with Image.open(facts["path"]) as out:
                out.load()
                assert out.size == (facts["width"], facts["height"]), name
        return "output"


STATS = {"output": 0, "quarantine": 0}


@FUZZ
@given(image_bytes())
def test_any_bytes_end_as_outputs_or_a_quarantine_with_a_reason(data):
    STATS[outcome(data)] += 1


def test_fuzzing_stays_within_time_and_memory(capsys):
    """Runs the property above under a stopwatch and a peak-memory check, and prints the figures."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    STATS.update(output=0, quarantine=0)
    test_any_bytes_end_as_outputs_or_a_quarantine_with_a_reason()
    seconds = time.monotonic() - started
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert STATS["output"] + STATS["quarantine"] >= EXAMPLES  # every example ran to an outcome
    assert STATS["output"] and STATS["quarantine"]  # both ends reached: the mutations are not all fatal
    assert growth < MEMORY_GROWTH_LIMIT
    with capsys.disabled():
        print(f"\nengine fuzzing: {sum(STATS.values())} executions in {seconds:.1f} s "
              f"({STATS['output']} outputs, {STATS['quarantine']} quarantined), peak RSS +{growth // 1024} MiB")


@pytest.mark.parametrize("crasher", sorted(p.name for p in CRASHERS.glob("engine-*")), ids=str)
def test_crashers_found_by_fuzzing_end_in_a_quarantine(crasher):
    assert outcome((CRASHERS / crasher).read_bytes()) == "quarantine"
