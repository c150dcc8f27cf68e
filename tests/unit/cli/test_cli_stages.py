"""The `gallery` command as a person runs it: every command's --help explains every argument,
--version, the gallery's stages without Airflow, and `image-pipeline` as the deprecated alias."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support.samples import make_samples

from image_pipeline.cli import build_parser, main

BIN = Path(sys.executable).parent  # the venv's bin: where pip put the console scripts
COMMANDS = ["process", "recipes", "upload", "retrieve", "process-pending", "problems", "retry", "report", "deliver",
            "last-delivery",
            "resolve-delivery"]


def run(*args, command: str = "gallery", check_status: int | None = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / command), *map(str, args)], capture_output=True, text=True, timeout=300)
    if check_status is not None:
        assert proc.returncode == check_status, proc.stdout + proc.stderr
    return proc


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_the_command_list():
    assert list(subcommands()) == COMMANDS
    out = run("--help").stdout
    for name in COMMANDS:
        assert f"    {name}" in out
    assert "examples:" in out


def test_every_argument_of_every_command_is_explained():
    for name, parser in subcommands().items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help and len(action.help) > 15, (name, action.dest)
        assert parser.epilog and parser.epilog.startswith("examples:\n  gallery"), name


@pytest.mark.parametrize("name", COMMANDS)
def test_help_of_each_command(name):
    out = run(name, "--help").stdout
    assert out.startswith(f"usage: gallery {name}") and "examples:\n  " in out
    for action in subcommands()[name]._actions:
        for option in action.option_strings:
            assert option in out, (name, option)


def test_version_is_the_package_version():
    from importlib.metadata import version

    proc = run("--version")
    assert proc.stdout.strip() == f"gallery {version('image-pipeline')}"


def test_usage_errors_exit_2():
    assert "required: COMMAND" in run(check_status=2).stderr
    assert "invalid choice" in run("frobnicate", check_status=2).stderr
    assert "required: SRC, DEST" in run("process", check_status=2).stderr


def test_the_stages_without_airflow(pipeline_env, tmp_path):
    """upload, retrieve, process-pending, report, deliver, last-delivery, each as a process."""
    samples = tmp_path / "samples"
    make_samples(samples)
    assert json.loads(run("upload", samples).stdout) == {"uploaded": 8}
    (retrieved,) = json.loads(run("retrieve", "--engine", "inbox", "--keyword", "cli").stdout)
    assert (retrieved["new"], retrieved["quarantined"]) == (7, 1)  # the truncated JPEG fails later
    assert json.loads(run("process-pending").stdout)["processed"] == 6
    assert json.loads(run("process-pending").stdout)["processed"] == 0  # nothing pending any more
    # The truncated JPEG: quarantined as the image's fault, listed, tried again, quarantined again.
    (broken,) = [p for p in json.loads(run("problems").stdout) if p["quarantine"]["stage"] == "process"]
    assert broken["quarantine"]["kind"] == "image" and "truncated" in broken["quarantine"]["reason"]
    assert json.loads(run("retry", broken["sha256"], "--by", "ops").stdout)["retried"] == [broken["sha256"]]
    assert broken["sha256"] not in {p["sha256"] for p in json.loads(run("problems").stdout)}
    assert json.loads(run("process-pending").stdout)["quarantined"] == 1
    assert "name the images" in run("retry", check_status=2).stderr
    assert "overview" in json.loads(run("report").stdout)
    run("deliver", "--keyword", "cli", "--to", "me@example.com")
    lines = dict(line.split(": ", 1) for line in run("last-delivery", "--keyword", "cli").stdout.splitlines())
    assert lines["images"] == "6"
    with zipfile.ZipFile(lines["archive"]) as zf:
        assert sum(n.startswith("images/") for n in zf.namelist()) == 6
    assert lines["email"].startswith(str(pipeline_env / "outbox"))
    assert run("last-delivery", "--keyword", "nothing", check_status=1).stderr.strip() == "no delivery yet"


def test_the_stages_in_process(pipeline_env, tmp_path, capsys):
    samples = tmp_path / "samples"
    make_samples(samples)
    assert main(["upload", str(samples)]) == 0
    assert main(["retrieve", "--engine", "inbox", "--keyword", "cli"]) == 0
    assert main(["process-pending", "--recipe", "thumb", "--batch-size", "2"]) == 0
    assert '"processed": 6' in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["retrieve", "--engine", "bing"], "needs at least one keyword"),
    (["retrieve", "--engine", "bing", "--keyword", "x", "--filters", "{not json"], "Expecting property name"),
    (["retrieve", "--engine", "nonesuch"], "invalid choice"),
    (["retrieve", "--engine", "bing", "--keyword", "x", "--count", "0"], "count must be between"),
    (["process-pending", "--recipe", "nonesuch"], "unknown recipe 'nonesuch'"),
    (["deliver", "--recipe", "nonesuch"], "unknown recipe 'nonesuch'"),
    (["upload", "/nonexistent"], "not a folder"),
    (["resolve-delivery", "abc"], "required: --as"),
])
def test_refused_requests_are_usage_errors(pipeline_env, args, message):
    proc = run(*args, check_status=2)
    assert message in proc.stderr and f"usage: gallery {args[0]}" in proc.stderr
    assert not (pipeline_env / "raw").exists()


def test_image_pipeline_is_a_deprecated_alias_with_the_old_names(pipeline_env, tmp_path):
    samples = tmp_path / "samples"
    make_samples(samples)
    proc = run("upload", samples, command="image-pipeline")
    assert proc.stderr == "image-pipeline is deprecated and goes in the next release: use `gallery upload`\n"
    assert json.loads(proc.stdout) == {"uploaded": 8}
    run("retrieve", "--engine", "inbox", "--keyword", "old", command="image-pipeline")
    proc = run("process", command="image-pipeline")  # the old name of process-pending
    assert "use `gallery process-pending`" in proc.stderr and json.loads(proc.stdout)["processed"] == 6
    assert "usage: image-pipeline" in run("--help", command="image-pipeline").stdout
