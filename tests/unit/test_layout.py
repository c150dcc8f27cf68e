"""The library's shape, checked: no import cycle between its modules, and no module so long that it
hides several things (over ~400 lines, a module says in its docstring why it is one). The contracts
between packages (stages independent, only the adapter imports Airflow, the layers) are
import-linter's, in pyproject.toml, run by `make lint` (a step of `make test`)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

LIBRARY = Path(__file__).resolve().parents[2] / "include" / "image_pipeline"
LONG = 450  # ~400 lines, with some slack
WHY_MARKER = "Why one module:"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), i.e. the import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in edges[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while (popped := stack.pop()) != module:
                component.append(popped)
            if component:
                found.append(sorted([module, *component]))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_cycles_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_library_has_no_import_cycle():
    graph = grimp.build_graph("image_pipeline", exclude_type_checking_imports=True)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & graph.modules for m in graph.modules}
    assert cycles(edges) == []


def test_long_modules_say_why_they_are_one():
    unexplained = []
    for path in sorted(LIBRARY.rglob("*.py")):
        lines = len(path.read_text().splitlines())
        if lines > LONG and WHY_MARKER not in (ast.get_docstring(ast.parse(path.read_text())) or ""):
            unexplained.append(f"{path.relative_to(LIBRARY)} ({lines} lines)")
    assert unexplained == []
