"""The committed React bundle is built from the current ``ui/`` sources and left as built: the build
(ui/vite.config.ts) writes build-info.json with a sha256 over the sources and one of the bundle;
this recomputes both without Node.js. On failure: ``make ui`` and commit the result."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from image_pipeline.ui.react_app import BUNDLE, STATIC_DIR, base_path, react_app

ROOT = Path(__file__).resolve().parents[3]
UI = ROOT / "ui"
# The same inputs as sourcesHash() in ui/vite.config.ts.
HASHED_FILES = ["package.json", "package-lock.json", "tsconfig.json", "vite.config.ts"]
HASHED_DIRS = ["src", "public"]
REBUILD = "the committed bundle is stale: run `make ui` and commit include/image_pipeline/ui/static/"


def sources() -> list[str]:
    found = list(HASHED_FILES)
    for folder in HASHED_DIRS:
        found += [p.relative_to(UI).as_posix() for p in (UI / folder).rglob("*") if p.is_file()]
    return sorted(f for f in found if not any(part.startswith(".") for part in f.split("/")))


def sources_hash(files: list[str]) -> str:
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode() + b"\0" + (UI / name).read_bytes() + b"\0")
    return digest.hexdigest()


@pytest.fixture(scope="module")
def info() -> dict:
    return json.loads((STATIC_DIR / "build-info.json").read_text())


def test_bundle_is_built_from_the_current_sources(info):
    files = sources()
    assert info["files"] == files, REBUILD
    assert info["sources"] == sources_hash(files), REBUILD


def test_bundle_is_the_one_built(info):
    assert info["bundle"] == BUNDLE
    assert hashlib.sha256((STATIC_DIR / BUNDLE).read_bytes()).hexdigest() == info["bundle_sha256"], REBUILD


def test_bundle_takes_react_and_chakra_from_the_host():
    text = (STATIC_DIR / BUNDLE).read_text()
    head = text[:1000]
    assert re.search(r"\b\w+\.AirflowPlugin=", head.replace(" ", ""))  # UMD: the default export as globalThis.AirflowPlugin
    for host_global in ("React", "ReactJSXRuntime", "ReactRouterDOM", "ChakraUI"):
        assert f".{host_global}" in head, host_global
    assert "@license React" not in text and "react.production" not in text  # React itself is not bundled


def test_bundle_carries_its_own_tanstack_query():
    """The host's TanStack Query is inside Airflow's own bundle, not a global a plugin can share: ours is
    bundled, and its provider is the app's (src/main.tsx)."""
    text = (STATIC_DIR / BUNDLE).read_text()
    required = re.findall(r'require\("([^"]+)"\)', text[:1000])
    assert required and not any(name.startswith("@tanstack/") for name in required), required
    assert "No QueryClient set, use QueryClientProvider to set one" in text


def test_node_modules_are_not_committed():
    assert "ui/node_modules/" in (ROOT / ".gitignore").read_text().splitlines()


@pytest.mark.parametrize("base_url, prefix", [
    ("/", ""), (None, ""), ("", ""), ("http://localhost:8080", ""), ("http://localhost:8080/", ""),
    ("/airflow", "/airflow"), ("/airflow/", "/airflow"), ("https://example.com/team/airflow/", "/team/airflow"),
])
def test_bundle_url_carries_the_base_path(base_url, prefix):
    assert base_path(base_url) == prefix
    spec = react_app(base_url)
    assert spec["bundle_url"] == f"{prefix}/gallery/static/main.umd.cjs"
    assert spec["name"] == "Gallery" and spec["url_route"] == "gallery" and spec["destination"] == "nav"
    for key in ("icon", "icon_dark_mode"):
        assert (STATIC_DIR / spec[key].rsplit("/", 1)[1]).is_file()
