"""The `gallery process` batch tool: mirror, report, exit status; and every real photo through it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from image_pipeline.process.folder import main, plan_outputs
from image_pipeline.process.recipes import get_recipe

REPORT_FILE_KEYS = {"source", "status", "reason", "outputs", "seconds"}
REPORT_OUTPUT_KEYS = {"recipe", "path", "format", "width", "height", "bytes"}


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    (src / "trip" / "day1").mkdir(parents=True)
    Image.new("RGB", (640, 480), (200, 30, 30)).save(src / "a.jpg")
    Image.new("RGBA", (300, 500), (0, 0, 255, 128)).save(src / "a.png")  # same stem as a.jpg
    Image.new("L", (1000, 200), 80).save(src / "trip" / "day1" / "b.webp")
    (src / "trip" / "notes.txt").write_text("not an image")
    (src / ".hidden.jpg").write_bytes(b"ignored")
    return src


def run_cli(*args) -> tuple[int, str]:
    proc = subprocess.run([sys.executable, "-m", "image_pipeline.process.folder", *map(str, args)],
                          capture_output=True, text=True)
    return proc.returncode, proc.stdout + proc.stderr


def test_mirror_report_and_exit_status(tree, tmp_path):
    dest, report = tmp_path / "out", tmp_path / "report.json"
    status, output = run_cli("process", tree, dest, "--recipe", "half_gray", "--recipe", "thumb",
                             "--workers", "2", "--report", report)
    assert status == 1, output  # notes.txt was quarantined
    assert "4/4 100%" in output and "img/s" in output  # the progress bar's last state
    data = json.loads(report.read_text())
    assert [f["source"] for f in data["files"]] == ["a.jpg", "a.png", "trip/day1/b.webp", "trip/notes.txt"]
    for entry in data["files"]:
        assert set(entry) == REPORT_FILE_KEYS
        for out in entry["outputs"]:
            assert set(out) == REPORT_OUTPUT_KEYS
            with Image.open(dest / out["path"]) as im:
                assert (im.width, im.height) == (out["width"], out["height"])
                assert out["bytes"] == (dest / out["path"]).stat().st_size
    by_source = {f["source"]: f for f in data["files"]}
    assert by_source["trip/notes.txt"]["status"] == "quarantined" and by_source["trip/notes.txt"]["reason"]
    assert by_source["trip/notes.txt"]["outputs"] == []
    paths = {o["path"] for f in data["files"] for o in f["outputs"]}
    assert paths == {"half_gray/a.jpg.jpg", "half_gray/a.png.jpg", "half_gray/trip/day1/b.jpg",
                     "thumb/a.jpg.jpg", "thumb/a.png.jpg", "thumb/trip/day1/b.jpg"}
    assert {(o["width"], o["height"]) for o in by_source["a.jpg"]["outputs"]} == {(320, 240)}
    assert data["totals"]["files"] == 4 and data["totals"]["quarantined"] == 1 and data["totals"]["outputs"] == 6
    assert not list(dest.rglob(".gallery-*"))  # no temporary leftovers


def test_all_good_exits_zero_and_one_recipe_mirrors_directly(tree, tmp_path):
    (tree / "trip" / "notes.txt").unlink()
    dest = tmp_path / "out"
    assert main(["process", str(tree), str(dest)]) == 0
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*.jpg")) == ["a.jpg.jpg", "a.png.jpg",
                                                                             "trip/day1/b.jpg"]


def test_recipe_file(tree, tmp_path):
    (tree / "trip" / "notes.txt").unlink()
    recipe = tmp_path / "square.yaml"
    recipe.write_text("name: square\noperations: [{resize: {width: 64, height: 64, mode: fill}}]\n"
                      "output: {format: png}\n")
    assert main(["process", str(tree), str(tmp_path / "out"), "--recipe", str(recipe)]) == 0
    with Image.open(tmp_path / "out" / "trip" / "day1" / "b.png") as im:
        assert im.size == (64, 64)


@pytest.mark.parametrize("args", [
    ["process"],
    ["process", "/nonexistent", "/tmp/x"],
    ["process", "{src}", "{dest}", "--recipe", "nonesuch"],
    ["process", "{src}", "{dest}", "--workers", "0"],
    ["process", "{src}", "{src}/inside"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(tree, tmp_path, args):
    args = [a.format(src=tree, dest=tmp_path / "out") for a in args]
    status, output = run_cli(*args)
    assert status == 2, output
    assert not (tmp_path / "out").exists()


def test_plan_outputs_names_are_unique(tmp_path):
    (tmp_path / "x").mkdir()
    for name in ("p.jpg", "p.png", "q.jpg"):
        (tmp_path / "x" / name).write_bytes(b"")
    planned = plan_outputs(tmp_path / "x", tmp_path / "o", [get_recipe("thumb")])
    names = [outs["thumb"].name for _, outs in planned]
    assert names == ["p.jpg.jpg", "p.png.jpg", "q.jpg"]


def test_every_real_photo_comes_out_right(wallpapers, tmp_path):
    """The corpus through the three shipped recipes: dimensions, mode, format and orientation."""
    dest, report = tmp_path / "out", tmp_path / "report.json"
    status = main(["process", str(wallpapers), str(dest), "--recipe", "half_gray", "--recipe", "web",
                   "--recipe", "thumb", "--workers", "2", "--report", str(report)])
    data = json.loads(report.read_text())
    by_source = {f["source"]: f for f in data["files"]}
    assert by_source.pop("MANIFEST.tsv")["status"] == "quarantined" and status == 1
    assert len(by_source) >= 60 and all(f["status"] == "ok" for f in by_source.values())
    for source, entry in by_source.items():
        with Image.open(wallpapers / source) as original:
            w, h = original.size

            if original.getexif().get(0x0112, 1) in (5, 6, 7, 8):
                w, h = h, w
        outs = {o["recipe"]: o for o in entry["outputs"]}
        assert (outs["half_gray"]["width"], outs["half_gray"]["height"]) == (w // 2, h // 2), source
        for name, side in (("web", 1920), ("thumb", 320)):
            f = min(1.0, side / max(w, h))
            assert max(outs[name]["width"], outs[name]["height"]) == round(max(w, h) * f), (source, name)
            assert abs(outs[name]["width"] / outs[name]["height"] - w / h) < 0.02, (source, name)
        for name, (fmt, modes) in {"half_gray": ("JPEG", ("L",)), "web": ("WEBP", ("RGB", "RGBA")),
                                   "thumb": ("JPEG", ("L", "RGB"))}.items():
            with Image.open(dest / outs[name]["path"]) as im:
                assert im.format == fmt and im.mode in modes, (source, name, im.mode)
                assert im.size == (outs[name]["width"], outs[name]["height"])
