"""Lazy package exports: a package names its public names and the module each lives in, and a
module is imported only when one of its names is first used, so importing a stage package (DAG
files do) stays light."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, ...]], *,
                 search_modules: bool = False) -> tuple[list[str], Callable[[str], Any]]:
    """``__all__`` and the module-level ``__getattr__`` of ``package``. With ``search_modules``, a
    name not listed is also looked up among the listed modules (and a module by its own name)."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        if search_modules and not name.startswith("__"):
            for module in exports:
                if name == module.rpartition(".")[2]:
                    return importlib.import_module(module)
                loaded = importlib.import_module(module)
                if hasattr(loaded, name):
                    return getattr(loaded, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(where), __getattr__
