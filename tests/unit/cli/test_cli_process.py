"""`gallery process SRC DEST`: mirror, report, exit status; the ad-hoc recipe flags; and every real
photo through it, with recipes and with `--resize 800x600 --format webp --quality 80 --max-size 200KB`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from airflow_stack import corpus_dir

from image_pipeline.cli import main
from image_pipeline.process.folder import plan_outputs
from image_pipeline.process.recipes import get_recipe

BIN = Path(sys.executable).parent  # the venv's bin: where pip put the console scripts
REPORT_FILE_KEYS = {"source", "status", "reason", "target_met", "outputs", "seconds"}
REPORT_OUTPUT_KEYS = {"recipe", "path", "format", "width", "height", "bytes", "quality", "target_bytes", "target_met"}


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
    """``gallery ARGS`` as a person runs it; (exit status, stdout + stderr)."""
    proc = subprocess.run([str(BIN / "gallery"), *map(str, args)], capture_output=True, text=True, timeout=600)
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


# --- the ad-hoc recipe flags ---------------------------------------------------------------------


@pytest.fixture
def photos(tmp_path):
    """A landscape JPEG with EXIF (camera make), a portrait PNG and a small one, all noisy (they compress badly)."""
    import numpy as np

    src = tmp_path / "photos"
    src.mkdir()
    rng = np.random.default_rng(7)
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    Image.fromarray(rng.integers(0, 256, (1200, 1600, 3), dtype=np.uint8)).save(src / "wide.jpg", quality=95,
                                                                                 exif=exif)
    Image.fromarray(rng.integers(0, 256, (1000, 500, 3), dtype=np.uint8)).save(src / "tall.png")
    Image.new("RGB", (200, 100), (10, 120, 200)).save(src / "small.jpg")
    return src


def report_of(path: Path) -> dict:
    data = json.loads(path.read_text())
    return {f["source"]: f for f in data["files"]} | {"totals": data["totals"]}


def test_resize_format_quality_max_size(photos, tmp_path):
    dest, report = tmp_path / "out", tmp_path / "r.json"
    status, output = run_cli("process", photos, dest, "--resize", "800x600", "--format", "webp", "--quality", "80",
                             "--max-size", "100KB", "--report", report)
    assert status == 0, output
    files = report_of(report)
    sizes = {"wide.jpg": (800, 600), "tall.png": (300, 600), "small.jpg": (200, 100)}  # fit within, no upscale
    for source, size in sizes.items():
        (out,) = files[source]["outputs"]
        assert out["path"] == source.rsplit(".", 1)[0] + ".webp" and out["target_bytes"] == 100_000
        with Image.open(dest / out["path"]) as im:
            assert im.format == "WEBP" and im.size == size
        assert out["target_met"] == (out["bytes"] <= 100_000) == files[source]["target_met"]
    assert files["small.jpg"]["target_met"] and files["small.jpg"]["outputs"][0]["quality"] == 80
    assert files["totals"]["target_met"] + files["totals"]["target_missed"] == 3
    assert f"{files['totals']['target_met']} met the size target" in output


def test_a_missed_size_is_written_reported_and_counted(photos, tmp_path):
    dest, report = tmp_path / "out", tmp_path / "r.json"
    status, output = run_cli("process", photos, dest, "--format", "jpeg", "--max-size", "20kb",
                             "--min-quality", "40", "--report", report)
    assert status == 0, output  # a missed size is not a failure: the file is written at --min-quality
    files = report_of(report)
    (wide,) = files["wide.jpg"]["outputs"]
    assert wide["target_met"] is False and wide["quality"] == 40 and wide["bytes"] > 20_000
    assert (dest / "wide.jpg").stat().st_size == wide["bytes"]
    assert files["small.jpg"]["target_met"] is True
    assert files["totals"]["target_missed"] == 2 and files["totals"]["target_met"] == 1
    assert "1 met the size target, 2 did not (tall.png, wide.jpg)" in output


def test_longest_scale_upscale_grayscale(photos, tmp_path):
    def sizes(*flags, fmt="jpeg") -> dict[str, tuple[int, int, str]]:
        dest = tmp_path / "_".join(f.strip("-") for f in flags)
        status, output = run_cli("process", photos, dest, *flags)
        assert status == 0, output
        found = {}
        for path in dest.rglob("*.*"):
            with Image.open(path) as im:
                assert im.format == fmt.upper()
                found[path.stem] = (*im.size, im.mode)
        return found

    assert sizes("--longest", "400") == {"wide": (400, 300, "RGB"), "tall": (200, 400, "RGB"),
                                         "small": (200, 100, "RGB")}
    assert sizes("--scale", "25", "--grayscale", "--format", "png", fmt="png") == {
        "wide": (400, 300, "L"), "tall": (125, 250, "L"), "small": (50, 25, "L")}
    assert sizes("--resize", "x300", "--upscale")["small"] == (600, 300, "RGB")
    assert sizes("--resize", "400x", "--upscale")["small"] == (400, 200, "RGB")


def test_exif_is_kept_unless_strip(photos, tmp_path):
    for flags, make in ([], "TestCam"), (["--strip"], None):
        dest = tmp_path / f"out{len(flags)}"
        assert run_cli("process", photos, dest, "--longest", "500", *flags)[0] == 0
        with Image.open(dest / "wide.jpg") as im:
            assert im.getexif().get(0x010F) == make


def test_the_flags_build_the_recipe_a_yaml_file_would(tmp_path):
    """One parser for both: the ad-hoc recipe's fingerprint is the equivalent YAML recipe's."""
    from image_pipeline.cli import build_parser
    from image_pipeline.cli.folder import _recipes
    from image_pipeline.settings import Settings

    args = build_parser().parse_args(["process", "a", "b", "--resize", "800x600", "--format", "WEBP", "--quality",
                                      "80", "--max-size", "0.2MB", "--grayscale", "--strip"])
    (adhoc,) = _recipes(args, Settings.from_env())
    yaml_file = tmp_path / "same.yaml"
    yaml_file.write_text("name: same\noperations: [auto_orient, grayscale, {resize: {width: 800, height: 600}}]\n"
                         "output: {format: webp, quality: 80, target_bytes: 200000, min_quality: 30, "
                         "metadata: strip, color_profile: srgb}\n")
    assert adhoc.name == "adhoc" and adhoc.fingerprint == get_recipe(str(yaml_file)).fingerprint
    assert adhoc.description == "ad hoc: --resize 800x600 --format webp --quality 80 --max-size 200000 --strip --grayscale"
    assert adhoc.gray_first  # a luma-only decode serves it


@pytest.mark.parametrize("flags, message", [
    (["--recipe", "web", "--resize", "800x600"], "cannot be combined with the ad-hoc flags"),
    (["--resize", "800"], "is not WIDTHxHEIGHT"),
    (["--resize", "0x600"], "must be positive"),
    (["--resize", "800x600", "--longest", "100"], "not allowed with argument --resize"),
    (["--longest", "-5"], "must be at least 1"),
    (["--scale", "0"], "above 0%"),
    (["--max-size", "lots"], "is not a size"),
    (["--max-size", "5GB"], "is not a size"),
    (["--format", "png", "--max-size", "100KB"], "target_bytes needs a lossy format"),
    (["--format", "gif"], "invalid choice"),
    (["--quality", "0"], "quality must be an integer from 1 to 100"),
    (["--quality", "101"], "quality must be an integer from 1 to 100"),
    (["--max-size", "1MB", "--quality", "50", "--min-quality", "60"], "min_quality must not exceed quality"),
    (["--min-quality", "20"], "give --max-size too"),
    (["--upscale"], "--upscale goes with --resize"),
])
def test_bad_ad_hoc_flags_are_usage_errors(photos, tmp_path, flags, message):
    status, output = run_cli("process", photos, tmp_path / "out", *flags)
    assert status == 2 and message in output and "usage: gallery process" in output, output
    assert not (tmp_path / "out").exists()


def test_parsing_sizes_and_boxes():
    from image_pipeline.cli.folder import parse_box, parse_bytes

    assert [parse_bytes(t) for t in ("123456", "500KB", "500 kb", "2MB", "1.5M", "300KiB", "1MiB", "200k")] == [
        123456, 500_000, 500_000, 2_000_000, 1_500_000, 307_200, 1_048_576, 200_000]
    assert [parse_box(t) for t in ("800x600", "800X600", "800×600", "800x", "x600")] == [
        (800, 600), (800, 600), (800, 600), (800, None), (None, 600)]


def test_the_real_photo_corpus_at_800x600_webp_under_200kb(tmp_path):
    """The issue's check: every output WebP within 800x600; the report's target_met is the output's size."""
    corpus = corpus_dir()
    dest, report = tmp_path / "out", tmp_path / "r.json"
    proc = subprocess.run([str(BIN / "gallery"), "process", str(corpus), str(dest), "--resize", "800x600",
                           "--format", "webp", "--quality", "80", "--max-size", "200KB", "--workers", "2",
                           "--report", str(report)], capture_output=True, text=True, timeout=900)
    files = report_of(report)
    totals = files.pop("totals")
    assert files.pop("MANIFEST.tsv")["status"] == "quarantined" and proc.returncode == 1  # not an image
    assert len(files) >= 60 and all(f["status"] == "ok" for f in files.values())
    for source, entry in files.items():
        (out,) = entry["outputs"]
        path = dest / out["path"]
        with Image.open(path) as im, Image.open(corpus / source) as original:
            assert im.format == "WEBP" and im.width <= 800 and im.height <= 600, source
            assert max(im.width / 800, im.height / 600) > 0.99 or im.size == original.size, source  # fit, no upscale
        assert out["bytes"] == path.stat().st_size
        assert entry["target_met"] is out["target_met"] is (path.stat().st_size <= 200_000), source
        if not entry["target_met"]:
            assert out["quality"] == 30  # the floor: the nearest to the size the recipe allows
    met = sum(f["target_met"] for f in files.values())
    assert (totals["target_met"], totals["target_missed"]) == (met, len(files) - met)
    assert met >= 0.9 * len(files)
    assert f"{met} met the size target, {len(files) - met} did not" in proc.stderr
    print(f"corpus: {len(files)} images, {met} met 200 KB, {totals['seconds']} s")


def test_workers_take_every_file_largest_first_from_a_bounded_queue(tmp_path, monkeypatch):
    """More files than the queue holds (two per worker): every one is processed once, the largest
    submitted first."""
    from concurrent.futures import ProcessPoolExecutor

    from image_pipeline.process import folder

    src = tmp_path / "src"
    src.mkdir()
    for i in range(9):
        Image.effect_noise((60 + 40 * i, 50), 50).convert("RGB").save(src / f"{i}.png")
    submitted = []
    real_submit = ProcessPoolExecutor.submit

    def submit(pool, fn, path, *args):
        submitted.append(path.name)
        return real_submit(pool, fn, path, *args)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", submit)
    status, result = folder.run(src, tmp_path / "out", ["thumb"], workers=2, progress_stream=open(os.devnull, "w"))
    assert status == 0 and result["totals"]["ok"] == 9
    assert sorted(submitted) == sorted(f"{i}.png" for i in range(9))
    sizes = [(src / name).stat().st_size for name in submitted]
    assert sizes == sorted(sizes, reverse=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{i}.jpg" for i in range(9))


def test_gallery_recipes_lists_the_saved_recipes_after_the_files(tmp_path, monkeypatch, capsys):
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.process.recipes import save_recipe

    monkeypatch.setenv("GALLERY_SQLITE_PATH", str(tmp_path / "catalog.sqlite3"))
    with SqliteCatalog(tmp_path / "catalog.sqlite3") as catalog:
        save_recipe(catalog, {"name": "soft_gray", "description": "Gray and soft", "operations": ["grayscale"]}, "ann")
        save_recipe(catalog, {"name": "soft_gray", "description": "Gray and soft", "operations": ["sepia"]}, "ann")
    assert main(["recipes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("thumb") and "saved" not in line for line in lines)
    (saved,) = [line for line in lines if line.startswith("soft_gray")]
    assert "v2" in saved and "Gray and soft" in saved and "(saved in the gallery)" in saved
