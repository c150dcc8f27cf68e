"""Every ``except`` of the project's code (include/, plugins/, dags/) that catches ``Exception``,
``BaseException`` or ``ValueError`` (alone, in a tuple, or through a module's tuple of exceptions such as
``DECODE_ERRORS``), or a bare ``except:``, is at a documented boundary: either it cleans up and
propagates (its last statement is a bare ``raise``: a rollback, a temporary file removed), or the
``except`` line carries a comment saying what it classifies and why.

Ruff's ``BLE`` rules keep ``Exception`` and ``BaseException`` out (pyproject.toml) unless a ``noqa``
says why; no ruff rule covers ``ValueError``, the word a hundred libraries use for a hundred things (a
malformed date, a JSON document, an argument check, a bug): caught bare, it turns any of them into
"bad input" (an invalid request, a quarantined image). This test is that rule. The comment must say
something (three words at least, a ``noqa`` directive not counted)."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("include", "plugins", "dags")
BROAD = frozenset({"Exception", "BaseException", "ValueError"})
BARE = "<bare except>"
NOQA = re.compile(r"noqa(?::\s*[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)?", re.IGNORECASE)


@dataclass(frozen=True)
class Offender:
    path: str
    line: int
    caught: tuple[str, ...]
    text: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: catches {', '.join(self.caught)} | {self.text}"


def _module_file(module: str, package_roots: dict[str, Path]) -> Path | None:
    """The file of an importable module of the project (``image_pipeline.process.decode``), if any."""
    head, *rest = module.split(".")
    root = package_roots.get(head)
    if root is None:
        return None
    base = root.joinpath(*rest)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


class _Module:
    """One parsed module: its tuples of exception names (``NAME = (A, B)`` at module level) and what it
    imports by name from the project's other modules, to follow ``except SOME_ERRORS:``."""

    def __init__(self, path: Path, source: str):
        self.path, self.source = path, source
        self.tree = ast.parse(source, filename=str(path))
        self.tuples: dict[str, ast.expr] = {}
        self.imported: dict[str, tuple[str, str]] = {}  # local name -> (module, name)
        for node in self.tree.body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.tuples[target.id] = node.value
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)

    def comment_lines(self) -> dict[int, str]:
        comments = {}
        for token in tokenize.generate_tokens(io.StringIO(self.source).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.string
        return comments


class Checker:
    """Finds the handlers that catch too much without saying why, in any set of sources."""

    def __init__(self, package_roots: dict[str, Path] | None = None):
        self.package_roots = package_roots or {}
        self._modules: dict[Path, _Module] = {}

    def module(self, path: Path, source: str | None = None) -> _Module:
        if path not in self._modules:
            self._modules[path] = _Module(path, path.read_text() if source is None else source)
        return self._modules[path]

    def names(self, expr: ast.expr | None, module: _Module, seen: frozenset[str] = frozenset()) -> set[str]:
        """The exception names an ``except`` clause's expression stands for, tuples of names followed."""
        if expr is None:
            return {BARE}
        if isinstance(expr, ast.Tuple):
            return set().union(*(self.names(e, module, seen) for e in expr.elts))
        if isinstance(expr, ast.Attribute):
            return {expr.attr}
        if not isinstance(expr, ast.Name) or expr.id in seen:
            return set()
        seen = seen | {expr.id}
        if expr.id in module.tuples:
            return self.names(module.tuples[expr.id], module, seen)
        if expr.id in module.imported:
            source_module, name = module.imported[expr.id]
            path = _module_file(source_module, self.package_roots)
            if path is not None:
                other = self.module(path)
                if name in other.tuples:
                    return self.names(other.tuples[name], other, frozenset({name}))
        return {expr.id}

    def offenders(self, path: Path, source: str | None = None, shown_as: str | None = None) -> list[Offender]:
        module = self.module(path, source)
        comments = module.comment_lines()
        lines = module.source.splitlines()
        found = []
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.ExceptHandler):
                continue
            caught = self.names(node.type, module) & (BROAD | {BARE})
            if not caught:
                continue
            last = node.body[-1]
            if isinstance(last, ast.Raise) and last.exc is None:
                continue  # clean-up, then the same exception goes on
            # the except clause's own lines (a long tuple may wrap), up to its body
            clause = range(node.lineno, node.body[0].lineno)
            said = " ".join(NOQA.sub("", comments.get(n, "")).strip(" #-:") for n in clause)
            if len(said.split()) >= 3:
                continue
            found.append(Offender(shown_as or str(path), node.lineno, tuple(sorted(caught)),
                                  lines[node.lineno - 1].strip()))
        return found


def project_offenders() -> list[Offender]:
    checker = Checker({"image_pipeline": ROOT / "include" / "image_pipeline"})
    found = []
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += checker.offenders(path, shown_as=str(path.relative_to(ROOT)))
    return found


def test_every_broad_handler_is_a_documented_boundary():
    offenders = project_offenders()
    for offender in offenders:
        print(offender)
    assert not offenders, ("handlers that catch Exception, BaseException or ValueError without a comment on "
                           "their except line saying what they classify and why (or ending in a bare raise):\n"
                           + "\n".join(map(str, offenders)))


def _check(tmp_path: Path, source: str, *, others: dict[str, str] | None = None) -> list[tuple[int, tuple[str, ...]]]:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in (others or {}).items():
        (package / f"{name}.py").write_text(text)
    path = package / "mod.py"
    path.write_text(source)
    return [(o.line, o.caught) for o in Checker({"pkg": package}).offenders(path)]


def test_the_checker_finds_what_it_should_and_nothing_else(tmp_path):
    source = '''
import json
from pkg.errors import PARSE_ERRORS
LOCAL = (KeyError, ValueError)

def f(text):
    try:
        return json.loads(text)
    except ValueError:
        return None
    except (KeyError, Exception):
        return None
    except:
        return None
    except LOCAL:
        return None
    except PARSE_ERRORS:
        return None
    except json.JSONDecodeError:
        return None
    except ValueError:  # noqa: BLE001
        return None
    except ValueError:  # json's word for a text that is not JSON: skipped
        return None
    except (
        KeyError,
        ValueError,  # a reply without the field, or not JSON: skipped
    ):
        return None
    except BaseException:
        undo()
        raise
    except BaseException as exc:
        raise RuntimeError("translated") from exc
'''
    found = _check(tmp_path, source, others={"errors": "PARSE_ERRORS = (OSError, ValueError)\n"})
    assert found == [(9, ("ValueError",)), (11, ("Exception",)), (13, (BARE,)), (15, ("ValueError",)),
                     (17, ("ValueError",)), (21, ("ValueError",)), (33, ("BaseException",))]
