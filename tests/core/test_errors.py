"""The exception tree drawn in wschat.core.errors' docstring is the real one, and what the
package raises outside it is what that docstring lists (argument checks, wrong state...)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import wschat
from wschat.core import errors
from wschat.core.errors import WschatError

PACKAGE = Path(wschat.__file__).parent

#: Raised outside the tree, as the docstring says (each is named in it).
DOCUMENTED = {"ValueError", "TypeError", "RuntimeError", "TimeoutError", "OSError", "AssertionError"}
#: Raised because a protocol of Python asks for it, not as a wschat error.
PROTOCOL = {
    "AttributeError": "a module's __getattr__ (PEP 562)",
    "NotImplementedError": "an abstract method of StoreBase",
    "ArgumentTypeError": "argparse's way to refuse a command-line value",
    "SystemExit": "python -m wschat ends with its exit status",
}


def drawn() -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """Class name -> (its parent in the drawing, the extra bases in parentheses)."""
    assert errors.__doc__ is not None
    block = errors.__doc__.split("::\n", 1)[1]
    tree: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    parents: list[str] = []
    for line in block.splitlines()[1:]:
        if not line.strip():
            break
        body = line[4:]
        match = re.match(r"^([ │├└─]*)(\w+)(?: \((\w+)\))?", body)
        assert match is not None, line
        depth = len(match.group(1)) // 4
        name = match.group(2)
        del parents[depth:]
        tree[name] = (parents[-1] if parents else None, (match.group(3),) if match.group(3) else ())
        parents.append(name)
    return tree


def real() -> dict[str, tuple[str | None, tuple[str, ...]]]:
    for info in pkgutil.walk_packages(wschat.__path__, "wschat."):
        if info.name != "wschat.__main__":
            importlib.import_module(info.name)
    found: dict[str, tuple[str | None, tuple[str, ...]]] = {"WschatError": (None, ())}
    todo = [WschatError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            wschat_bases = [b for b in sub.__bases__ if issubclass(b, WschatError)]
            assert len(wschat_bases) == 1, sub
            others = tuple(b.__name__ for b in sub.__bases__ if not issubclass(b, WschatError))
            found[sub.__name__] = (wschat_bases[0].__name__, others)
            todo.append(sub)
    return found


def test_the_drawing_is_the_tree_of_classes() -> None:
    assert drawn() == real()


def raised_names() -> set[tuple[str, str]]:
    """(module path, exception class name) of every ``raise Name(...)`` of the package, the
    notebooks' demonstration helpers in wschat/teaching aside (the probe is kept)."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith("teaching/") and not rel.startswith("teaching/probe/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                found.add((rel, name))
    return found


def test_every_raise_is_in_the_tree_or_documented_outside_it() -> None:
    tree = real()
    assert errors.__doc__ is not None
    text = " ".join(errors.__doc__.split())
    for name in DOCUMENTED:
        assert f"``{name}``" in text, f"{name} is raised but the docstring does not say when"
    stray = {
        (rel, name) for rel, name in raised_names()
        if name not in tree and name not in DOCUMENTED and name not in PROTOCOL
        and not name.startswith("_")  # a module's private signal, caught inside it
    }
    assert not stray, f"raised outside WschatError and not in errors' docstring: {sorted(stray)}"
