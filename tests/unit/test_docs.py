"""The documentation site: its generated pages are what their sources generate now, README.md stays short,
and every relative link of README.md and of the pages reaches a file (and a heading, when it names one).

The reference pages (docs/reference/*.md) are written by scripts/generate-docs from the settings' fields,
ui/openapi.json and the parsed DAGs. Each is regenerated here in memory and compared with the committed
one, so a change to a source without `make docs-generate` fails; the tests below also change each source
and check that the page then reads as stale, so the comparison cannot pass by comparing nothing."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from importlib.machinery import SourceFileLoader
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_loader = SourceFileLoader("generate_docs", str(ROOT / "scripts" / "generate-docs"))
_spec = importlib.util.spec_from_loader(_loader.name, _loader)
GENERATOR = importlib.util.module_from_spec(_spec)
_loader.exec_module(GENERATOR)

README_MAX_LINES = 150


def stale_pages(pages: dict[str, str]) -> str:
    """The assertion message for pages that differ from the committed ones ("" when none does)."""
    stale = GENERATOR.stale(pages)
    return f"stale generated pages {stale}: run `make docs-generate` and commit docs/reference/" if stale else ""


@pytest.fixture(scope="module")
def dag_forms():
    return GENERATOR.dag_forms()  # a DagBag in a subprocess: once for the module


def assert_current(name: str, page: str) -> None:
    message = stale_pages({name: page})
    assert not message, message


def test_settings_reference_is_current():
    assert_current("settings.md", GENERATOR.settings_page())


def test_api_reference_is_current():
    assert_current("api.md", GENERATOR.api_page())


def test_dag_params_reference_is_current(dag_forms):
    assert_current("dag-params.md", GENERATOR.dag_params_page(dag_forms))


def test_a_changed_setting_makes_its_page_stale(monkeypatch):
    """A field's default, then its description, changed in the settings model: the page no longer matches."""
    from image_pipeline.settings import ProcessingSettings

    field = ProcessingSettings.model_fields["max_frames"]
    monkeypatch.setattr(field, "default", 7)
    page = GENERATOR.settings_page()
    assert "| `GALLERY_MAX_FRAMES` | int | `7` |" in page
    assert "make docs-generate" in stale_pages({"settings.md": page})
    monkeypatch.undo()

    monkeypatch.setattr(field, "description", "a described limit")
    page = GENERATOR.settings_page()
    assert "| `GALLERY_MAX_FRAMES` | int | `1000` | A described limit |" in page
    assert "make docs-generate" in stale_pages({"settings.md": page})


def test_every_field_is_a_documented_variable_the_settings_read(monkeypatch):
    """One row per field (the search endpoints one per source), each with a meaning, and each variable is
    really read by Settings.from_env."""
    from image_pipeline.retrieve.sources import SOURCES
    from image_pipeline.settings import Settings, variables

    rows = {row.variable: row for row in GENERATOR.setting_rows()}
    own = variables()
    assert set(own.values()) <= set(rows)
    assert all(row.meaning for row in rows.values()), [name for name, row in rows.items() if not row.meaning]
    endpoints = set(rows) - set(own.values())
    assert endpoints == {f"GALLERY_{name.upper()}_URL" for name in ("bing", "google", "baidu", "flickr",
                                                                     "openverse", "wikimedia")}
    for variable in endpoints:
        monkeypatch.setenv(variable, "http://127.0.0.1:9/search")
    monkeypatch.setenv("GALLERY_MAX_FRAMES", "5")
    settings = Settings.from_env()
    assert set(settings.downloads.endpoints()) == {name[len("GALLERY_"):-len("_URL")].lower()
                                                   for name in endpoints} <= set(SOURCES)
    assert settings.processing.max_frames == 5
    # Defaults under the project's folder are shown as <project>, the same on every checkout.
    assert rows["GALLERY_SQLITE_PATH"].default == "`<project>/data/catalog.sqlite3`"
    assert rows["GALLERY_STORE_URL"].default == "`file://<project>/data`"


def test_descriptions_come_from_the_model_s_fields():
    """Each group of the model is a section; a field's variable and description are what the row shows."""
    import pydantic

    from image_pipeline.settings import setting

    class Limits(pydantic.BaseModel):
        limit: int = setting("GALLERY_LIMIT", 3, "a typed limit")

    class Model(pydantic.BaseModel):
        limits: Limits = pydantic.Field(default_factory=Limits)

    assert GENERATOR.declared_settings(Model) == [
        GENERATOR.DeclaredSetting("limits", "limit", "GALLERY_LIMIT", "int", 3, "a typed limit")]


def test_a_changed_api_document_makes_its_page_stale():
    document = json.loads((ROOT / "ui" / "openapi.json").read_text(encoding="utf-8"))
    assert not GENERATOR.stale({"api.md": GENERATOR.api_page(copy.deepcopy(document))})
    document["paths"]["/api/facets"]["get"]["summary"] = "Renamed"
    page = GENERATOR.api_page(document)
    assert "| `GET` | `/gallery/api/facets` | Renamed |" in page
    assert "make docs-generate" in stale_pages({"api.md": page})


def test_api_reference_lists_every_operation_and_model():
    document = json.loads((ROOT / "ui" / "openapi.json").read_text(encoding="utf-8"))
    page = GENERATOR.api_page(document)
    for path, item in document["paths"].items():
        for method in item:
            assert f"| `{method.upper()}` | `/gallery{path}` |" in page
    for name in document["components"]["schemas"]:
        assert f"\n### {name}\n" in page
    assert "**200** [ImagePage](#imagepage)" in page  # GET /api/images answers a page of the gallery


def test_dag_forms_are_read_from_the_parsed_dags(dag_forms):
    """What Airflow parses, not a copy: the required fields tests/dags/test_forms.py finds, the recipes' list."""
    required = {dag_id: {f["name"] for f in form["fields"] if f["required"]} for dag_id, form in dag_forms.items()}
    assert required["image_request"] == {"keywords", "email"}
    assert not any(required[dag_id] for dag_id in required if dag_id != "image_request")
    assert set(dag_forms) == {"gallery_retrieve", "gallery_inbox", "gallery_process", "gallery_analytics",
                              "gallery_deliver", "image_request"}
    changed = copy.deepcopy(dag_forms)
    changed["image_request"]["fields"][0]["description"] = "Changed."
    assert "make docs-generate" in stale_pages({"dag-params.md": GENERATOR.dag_params_page(changed)})


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move the details into docs/"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def relative_links(text: str) -> list[str]:
    """The relative link targets of a Markdown text, outside code blocks and code spans."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [target for target in LINK.findall(text) if not re.match(r"^([a-z]+:|#)", target)]


def anchors(path: Path) -> set[str]:
    """The heading anchors MkDocs gives a page (Python-Markdown's toc slugs)."""
    from markdown.extensions.toc import slugify

    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    return {slugify(heading.replace("`", ""), "-") for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, re.MULTILINE)}


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in relative_links(path.read_text(encoding="utf-8")):
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve()
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no such heading)")
    return broken


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_every_relative_link_reaches_a_file_and_heading():
    checked = 0
    for path in documents():
        assert broken_links(path) == [], f"{path.relative_to(ROOT)} links to what is not there"
        checked += len(relative_links(path.read_text(encoding="utf-8")))
    assert checked > 50  # the README and the pages link to each other and to the screenshots


def test_the_link_check_finds_a_broken_link(tmp_path):
    (tmp_path / "there.md").write_text("# A heading\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md) [ok](there.md#a-heading) [web](https://example.org) `[code](gone.md)`\n"
                    "[gone](gone.md) ![gone](images/gone.png) [no heading](there.md#elsewhere)\n", encoding="utf-8")
    assert broken_links(page) == ["gone.md (no such file)", "images/gone.png (no such file)",
                                  "there.md#elsewhere (no such heading)"]


def test_the_readme_shows_a_screenshot_and_the_two_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"!\[[^\]]+\]\(docs/images/[^)]+\.(jpg|png)\)", text)
    assert "make run" in text and "make test" in text and "http://localhost:8080" in text
