"""The library's shape, checked: no import cycle between its modules (imports under TYPE_CHECKING
count: a cycle hidden from the interpreter is still two modules that cannot be understood apart), no
private name (a leading underscore) used from another module (what a module offers others is its
public names), and no module so long that it hides several things (over ~400 lines, a module says in
its docstring why it is one). The contracts between packages (stages independent, only the adapter
imports Airflow, the layers) are import-linter's, in pyproject.toml, run by `make lint` (a step of
`make test`)."""

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
    graph = grimp.build_graph("image_pipeline", exclude_type_checking_imports=False)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & graph.modules for m in graph.modules}
    assert cycles(edges) == []


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_uses(sources: dict[str, str], packages: set[str]) -> list[str]:
    """Where a module (``sources``: module name -> its text; ``packages``: those that are packages)
    takes another module's private name: ``from pkg.mod import _name`` (relative imports too) or
    ``mod._name`` through an imported module."""
    found = []
    for module, text in sorted(sources.items()):
        package = module if module in packages else module.rpartition(".")[0]
        aliases: dict[str, str] = {}  # a local name -> the library module it is
        tree = ast.parse(text)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    imported = ".".join(base + ([node.module] if node.module else []))
                else:
                    imported = node.module or ""
                if imported not in sources:
                    continue
                for alias in node.names:
                    if private(alias.name):
                        found.append(f"{module}: from {imported} import {alias.name}")
                    elif f"{imported}.{alias.name}" in sources:
                        aliases[alias.asname or alias.name] = f"{imported}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and alias.name in sources:
                        aliases[alias.asname] = alias.name
                    elif not alias.asname and alias.name.split(".")[0] in sources:
                        aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and private(node.attr):
                chain, value = [], node.value
                while isinstance(value, ast.Attribute):
                    chain.insert(0, value.attr)
                    value = value.value
                if isinstance(value, ast.Name) and value.id in aliases:
                    owner = ".".join([aliases[value.id], *chain])
                    if owner in sources and owner != module:
                        found.append(f"{module}: {owner}.{node.attr}")
    return found


def library_sources() -> tuple[dict[str, str], set[str]]:
    sources, packages = {}, set()
    for path in LIBRARY.rglob("*.py"):
        parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        sources[module] = path.read_text()
        if parts[-1] == "__init__":
            packages.add(module)
    return sources, packages


def test_private_uses_finds_them():
    sources = {
        "lib": "", "lib.a": "def _hidden(): pass\ndef shown(): pass\n",
        "lib.b": "from lib.a import _hidden, shown\n",
        "lib.c": "from lib import a\nimport lib.a\nimport lib.a as alias\n"
                 "a._hidden(); lib.a._hidden(); alias._hidden(); a.shown(); a.__name__\n",
        "lib.d": "from . import a\nfrom .a import _hidden\na._hidden()\n",
        "lib.e": "import os\nos._exit; self._x = 1\n",
    }
    assert private_uses(sources, {"lib"}) == [
        "lib.b: from lib.a import _hidden",
        "lib.c: lib.a._hidden", "lib.c: lib.a._hidden", "lib.c: lib.a._hidden",
        "lib.d: from lib.a import _hidden", "lib.d: lib.a._hidden",
    ]


def test_no_module_uses_another_modules_private_names():
    assert private_uses(*library_sources()) == []


def test_long_modules_say_why_they_are_one():
    unexplained = []
    for path in sorted(LIBRARY.rglob("*.py")):
        lines = len(path.read_text().splitlines())
        if lines > LONG and WHY_MARKER not in (ast.get_docstring(ast.parse(path.read_text())) or ""):
            unexplained.append(f"{path.relative_to(LIBRARY)} ({lines} lines)")
    assert unexplained == []
