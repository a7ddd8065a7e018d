"""wschat's public names: every one in ``__all__`` resolves, the lazy-import table and the
TYPE_CHECKING imports of wschat/__init__.py say the same thing, and a name that reads as an
exception is one (in the style of httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import wschat
from wschat.core.errors import WschatError

INIT = Path(wschat.__file__)
NAMES = [name for name in wschat.__all__ if name != "__version__"]


def type_checking_imports() -> dict[str, str]:
    """Name -> module of every import under ``if TYPE_CHECKING:`` in wschat/__init__.py."""
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module is not None
                for alias in stmt.names:
                    found[alias.asname or alias.name] = stmt.module
    return found


@pytest.mark.parametrize("name", wschat.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(wschat, name) is not None


def test_all_has_no_repeats_and_dir_lists_it() -> None:
    assert len(set(wschat.__all__)) == len(wschat.__all__)
    assert sorted(dir(wschat)) == sorted(wschat.__all__)


def test_the_lazy_table_and_the_type_checking_imports_agree_with_all() -> None:
    table = wschat._WHERE
    assert set(table) == set(NAMES)
    assert type_checking_imports() == table


@pytest.mark.parametrize("name", NAMES)
def test_each_name_comes_from_the_module_the_table_names(name: str) -> None:
    assert getattr(wschat, name) is getattr(importlib.import_module(wschat._WHERE[name]), name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        wschat.Nope  # noqa: B018


@pytest.mark.parametrize("name", ["ServerCrashed", "InvalidURL", "WireError", "WschatError"])
def test_the_errors_a_caller_catches_are_exported(name: str) -> None:
    assert name in wschat.__all__
    assert issubclass(getattr(wschat, name), WschatError)


@pytest.mark.parametrize("name", NAMES)
def test_a_name_that_reads_as_an_exception_is_one_and_every_exception_is_a_wschat_error(
    name: str,
) -> None:
    """``except wschat.X:`` works for every exported X that names an error, and catches what
    ``except wschat.WschatError:`` catches (the events are ErrorEvent, TypingNotice...)."""
    value = getattr(wschat, name)
    if inspect.isclass(value) and issubclass(value, BaseException):
        assert issubclass(value, WschatError), f"{name} is an exception outside WschatError"
    else:
        assert not name.endswith("Error"), f"{name} reads as an exception but is not one"
