"""The catalog's roles (:mod:`image_pipeline.core.catalog.roles`), checked: every public method of
:class:`Catalog` is in exactly one role (a method added to the catalog must be given one), each
backend plays every role with the role's parameters (a caller typed by the role calls it as the
backend takes it), and each role has a contract test module beside this one naming it in ``ROLES``
(a role without a contract test fails). Each check is shown failing on a broken copy."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any, Protocol

import pytest

from image_pipeline.core.catalog import Catalog, MongoCatalog, SqliteCatalog, roles
from image_pipeline.core.catalog.roles import DailyMetrics, Images

HERE = Path(__file__).parent
# The composition root's, which opens a catalog and closes it: no stage is handed it.
OWNER = {"close"}
# A backend's own public methods, outside every role: SQLite's derives the analytics facts of rows
# another writer wrote (a day's reading calls it first; the analytics benchmark, after a bulk load).
BACKEND_OWN = {SqliteCatalog: {"refresh_facts"}, MongoCatalog: set()}


def role_protocols(module: Any) -> list[type]:
    """The protocols a module defines, in order."""
    return [v for v in vars(module).values()
            if isinstance(v, type) and v.__module__ == module.__name__ and Protocol in v.__bases__]


ROLES = role_protocols(roles)


def methods_of(role: type) -> set[str]:
    return {name for name, value in vars(role).items() if callable(value) and not name.startswith("_")}


def public_methods(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_") and callable(getattr(cls, name))}


def parameters(function: Any) -> str:
    """A method's parameters as a caller sees them: names, kinds and defaults (annotations aside)."""
    signature = inspect.signature(function)
    return str(signature.replace(parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
                                 return_annotation=signature.empty))


def role_problems(role_list: list[type], catalog_class: type) -> list[str]:
    """Where the roles do not split ``catalog_class``'s public methods, each into exactly one role."""
    problems, owner = [], {}
    for role in role_list:
        for name in sorted(methods_of(role)):
            if name in owner:
                problems.append(f"{name} is in both {owner[name]} and {role.__name__}")
            owner[name] = role.__name__
    problems += [f"{catalog_class.__name__}.{name} is in no role"
                 for name in sorted(public_methods(catalog_class) - OWNER - set(owner))]
    problems += [f"{owner[name]}.{name} is no method of {catalog_class.__name__}"
                 for name in sorted(set(owner) - public_methods(catalog_class))]
    return problems


def backend_problems(catalog: Any, role_list: list[type]) -> list[str]:
    """Where a backend's catalog does not play a role as the role says."""
    problems = []
    for role in role_list:
        if not isinstance(catalog, role):
            problems.append(f"{type(catalog).__name__} is no {role.__name__}")
            continue
        problems += [f"{type(catalog).__name__}.{name} takes {parameters(getattr(type(catalog), name))}, "
                     f"{role.__name__}.{name} {parameters(getattr(role, name))}"
                     for name in sorted(methods_of(role))
                     if parameters(getattr(type(catalog), name)) != parameters(getattr(role, name))]
    return problems


def contract_modules() -> dict[str, tuple[type, ...]]:
    """Each role's contract test module beside this one (``test_catalog_<role>_contract.py``), and
    the roles it names. (pytest put this folder on sys.path: the modules import by their names.)"""
    return {path.stem: tuple(getattr(importlib.import_module(path.stem), "ROLES", ()))
            for path in sorted(HERE.glob("test_catalog_*_contract.py"))}


def untested(role_list: list[type], modules: dict[str, tuple[type, ...]]) -> list[str]:
    """The roles no contract module names, and the modules that name none."""
    named = {role for module_roles in modules.values() for role in module_roles}
    return ([role.__name__ for role in role_list if role not in named]
            + [f"{module} names no role" for module, module_roles in modules.items() if not module_roles])


def test_every_public_method_of_the_catalog_is_in_exactly_one_role():
    assert role_problems(ROLES, Catalog) == []


def test_each_backend_plays_every_role_with_its_parameters(catalog):
    assert backend_problems(catalog, ROLES) == []
    assert public_methods(type(catalog)) - public_methods(Catalog) == BACKEND_OWN[type(catalog)]


def test_each_role_has_a_contract_test_module():
    assert untested(ROLES, contract_modules()) == []


# --- each check on a broken copy -----------------------------------------------------------------

class ImagesWithoutIterImages(Protocol):
    def get(self, sha256: str) -> dict[str, Any] | None: ...

    def find(self, **filters: Any) -> list[dict[str, Any]]: ...


class ImagesAgain(Protocol):
    def get(self, sha256: str) -> dict[str, Any] | None: ...


def test_the_role_check_finds_a_method_in_no_role_or_in_two():
    others = [role for role in ROLES if role is not Images]
    assert role_problems([ImagesWithoutIterImages, *others], Catalog) == ["Catalog.iter_images is in no role"]
    assert role_problems([*ROLES, ImagesAgain], Catalog) == ["get is in both Images and ImagesAgain"]

    class GrownCatalog(Catalog):
        def rename_image(self, sha256: str, name: str) -> None: ...

    assert role_problems(ROLES, GrownCatalog) == ["GrownCatalog.rename_image is in no role"]

    class ShrunkCatalog(Catalog):  # a method gone from the catalog, still in its role
        get = None

    assert role_problems(ROLES, ShrunkCatalog) == ["Images.get is no method of ShrunkCatalog"]


def test_the_backend_check_finds_a_missing_method_and_other_parameters(tmp_path):
    class HalfImages:
        def get(self, sha256): ...

        def find(self, **filters): ...

    assert backend_problems(HalfImages(), [Images]) == ["HalfImages is no Images"]

    class RenamedParameter(SqliteCatalog):
        def iter_images(self, size=1000):
            return super().iter_images(size)

    with RenamedParameter(tmp_path / "c.sqlite3") as renamed:
        assert backend_problems(renamed, ROLES) == [
            "RenamedParameter.iter_images takes (self, size=1000), Images.iter_images (self, batch_size=1000)"]


def test_a_backend_without_a_roles_method_cannot_be_opened():
    """The roles' methods are abstract: a backend lacking one fails when opened, not when called."""
    with pytest.raises(TypeError, match="admit_request"):
        type("IncompleteCatalog", (Catalog,), {})()


def test_the_contract_check_finds_a_role_without_a_module():
    modules = contract_modules()
    without_metrics = {name: named for name, named in modules.items() if DailyMetrics not in named}
    assert untested(ROLES, without_metrics) == ["DailyMetrics"]
    assert untested(ROLES, {**modules, "test_catalog_empty_contract": ()}) == [
        "test_catalog_empty_contract names no role"]
