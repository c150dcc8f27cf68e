"""The lock files (constraints.txt, requirements/*.txt: `make lock`, scripts/lock) checked offline.

Whether `make lock` would write them again byte for byte needs the package index, which no test may
reach: `make lock-check` does that. What can be checked here is what goes wrong between two runs of
`make lock`: a dependency added to or changed in pyproject.toml without locking again, a lock file
edited by hand (a version that differs between files, an entry without a hash, a package nothing
requires), and a venv that is not the lock's (a package installed by hand, or another version).
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"
REQUIREMENTS = ROOT / "requirements"
PROJECT = "image-pipeline"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Entry:
    version: str
    hashes: list[str] = field(default_factory=list)
    via: set[str] = field(default_factory=set)


def parse(text: str) -> dict[str, Entry]:
    """A uv-written lock file: each pin with its hashes and the packages that require it (`# via`)."""
    entries: dict[str, Entry] = {}
    current: Entry | None = None
    for line in text.splitlines():
        if m := PIN.match(line):
            current = entries[normalize(m.group(1))] = Entry(m.group(2))
        elif current is not None and (h := re.match(r"^\s+--hash=sha256:([0-9a-f]{64})", line)):
            current.hashes.append(h.group(1))
        elif current is not None and (v := re.match(r"^    # (?:via )?(?:  )?([A-Za-z0-9][\w.-]*)", line)) \
                and v.group(1) != "via":
            current.via.add(normalize(v.group(1)))
    return entries


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def direct(extras: tuple[str, ...]) -> list[Requirement]:
    """pyproject.toml's requirements with ``extras`` (an extra naming the project itself, an alias, expanded)."""
    optional = project()["optional-dependencies"]
    found, todo, seen = [Requirement(r) for r in project()["dependencies"]], list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in optional[extra]:
            req = Requirement(spec)
            if normalize(req.name) == PROJECT:
                todo.extend(req.extras)
            else:
                found.append(req)
    return found


def problems(lock: dict[str, Entry], requirements: list[Requirement], *, hashed: bool) -> list[str]:
    """What a lock file for ``requirements`` lacks or holds beyond them."""
    found = []
    for req in requirements:
        entry = lock.get(normalize(req.name))
        if entry is None:
            found.append(f"{req.name} (pyproject.toml) is not locked: run make lock")
        elif not req.specifier.contains(entry.version, prereleases=True):
            found.append(f"{req.name}=={entry.version} does not satisfy pyproject.toml's {req}: run make lock")
    # Every entry is required by the project or by another entry that is: nothing stale, nothing by hand.
    reached, frontier = set(), {PROJECT}
    while frontier:
        frontier = {name for name, entry in lock.items() if entry.via & frontier} - reached
        reached |= frontier
    found += [f"{name} is locked but nothing in pyproject.toml's closure requires it" for name in sorted(set(lock) - reached)]
    if hashed:
        found += [f"{name} has no hash" for name, entry in sorted(lock.items()) if not entry.hashes]
    return found


def sets() -> dict[str, tuple[str, ...]]:
    """scripts/lock's install sets: name -> extras."""
    source = (ROOT / "scripts" / "lock").read_text()
    block = re.search(r"^SETS: .*?^}", source, re.MULTILINE | re.DOTALL).group(0)
    have = set(project()["optional-dependencies"])  # as scripts/lock: an extra gone leaves its sets without it
    return {name: tuple(e for e in re.findall(r'"([\w-]+)"', extras) if e in have)
            for name, extras in re.findall(r'^\s+"([\w-]+)": \(([^)]*)\)', block, re.MULTILINE)}


@pytest.fixture(scope="module")
def union() -> dict[str, Entry]:
    return parse(CONSTRAINTS.read_text())


def test_constraints_txt_locks_every_extra_and_nothing_else(union):
    extras = tuple(project()["optional-dependencies"])
    assert problems(union, direct(extras), hashed=False) == []


@pytest.mark.parametrize("name", ["base", "ml", "ml-fab", "test", "export", "bench"])
def test_each_install_set_is_its_extras_with_the_versions_of_constraints_txt(name, union):
    assert name in sets()
    lock = parse((REQUIREMENTS / f"{name}.txt").read_text())
    assert problems(lock, direct(sets()[name]), hashed=True) == []
    assert {k: e.version for k, e in lock.items() if union[k].version != e.version} == {}


def test_every_set_scripts_lock_writes_is_committed_and_nothing_else():
    committed = {p.stem for p in REQUIREMENTS.glob("*.txt")} - {"weights"}
    assert committed == set(sets())


def test_the_lock_was_written_by_the_uv_it_pins(union):
    header = CONSTRAINTS.read_text().split("\n\n")[0]
    assert f"uv {union['uv'].version} pip compile" in CONSTRAINTS.read_text().splitlines()[1], header
    assert "Upper bounds: " in CONSTRAINTS.read_text()[:1000]


def test_the_weights_wheel_is_pinned_with_its_hash_and_never_installed(union):
    wanted = [Requirement(line) for line in (REQUIREMENTS / "weights.in").read_text().splitlines()
              if line and not line.startswith("#")]
    lock = parse((REQUIREMENTS / "weights.txt").read_text())
    assert [(normalize(r.name), str(r.specifier)) for r in wanted] == [(k, f"=={e.version}") for k, e in lock.items()]
    assert all(e.hashes for e in lock.values())
    assert not set(lock) & set(union)  # its dependencies (pillow<13) never meet the project's


def test_the_test_set_holds_no_torch():
    """The test install's check of the ONNX file reads torch's recorded outputs: torch and its CUDA
    packages (~3.9 GB from PyPI) come only with make export-check."""
    lock = parse((REQUIREMENTS / "test.txt").read_text())
    assert [name for name in lock if re.match(r"torch|triton|nvidia-|cuda-", name)] == []
    assert "torch" in parse((REQUIREMENTS / "export.txt").read_text())


def test_the_venv_holds_the_locked_versions_only():
    """make install-test's venv: every package in it is in requirements/test.txt at that version, or in
    requirements/export.txt where make export-check added it (a local label such as torch's +cpu aside),
    and every package pyproject.toml names is there."""
    lock = parse((REQUIREMENTS / "test.txt").read_text())
    installed = {normalize(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()}
    if "torch" in installed:
        lock = {**parse((REQUIREMENTS / "export.txt").read_text()), **lock}
    unlocked = {name: version for name, version in installed.items()
                if name not in {PROJECT, "pip"} and (name not in lock or Version(version).public != lock[name].version)}
    assert unlocked == {}, "installed beside the lock (make install-test installs exactly requirements/test.txt)"
    assert [r.name for r in direct(sets()["test"]) if normalize(r.name) not in installed] == []


# The check itself, on doctored copies: each kind of drift is caught.

def _doctored(text: str, pattern: str, replacement: str) -> dict[str, Entry]:
    changed = re.sub(pattern, replacement, text, count=1, flags=re.MULTILINE)
    assert changed != text, pattern
    return parse(changed)


def test_a_dependency_changed_in_pyproject_without_locking_again_fails_the_check():
    lock = parse((REQUIREMENTS / "test.txt").read_text())
    found = problems(lock, [*direct(sets()["test"]), Requirement("pillow>=99"), Requirement("not-locked-yet")],
                     hashed=True)
    assert f"pillow=={lock['pillow'].version} does not satisfy pyproject.toml's pillow>=99: run make lock" in found
    assert "not-locked-yet (pyproject.toml) is not locked: run make lock" in found


@pytest.mark.parametrize("pattern, replacement, expected", [
    (r"^duckdb==.*\n(    .*\n)*", "", "duckdb (pyproject.toml) is not locked: run make lock"),
    (r"^six==", "zzz-by-hand==1.0\n    # via nothing-here\nsix==",
     "zzz-by-hand is locked but nothing in pyproject.toml's closure requires it"),
    (r"^(six==\S+) \\\n(    --hash=.*\n)+", r"\1\n", "six has no hash"),
])
def test_a_lock_file_edited_by_hand_fails_the_check(pattern, replacement, expected):
    text = (REQUIREMENTS / "test.txt").read_text()
    assert expected in problems(_doctored(text, pattern, replacement), direct(sets()["test"]), hashed=True)
