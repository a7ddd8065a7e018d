"""docs/api.md, the reference of wschat's public API, is generated from the code and current.

scripts/api_reference.py reads the package with griffe and writes every name of
``wschat.__all__`` with its signature and docstring. These tests fail when a public name (or a
public method or property of an exported class) has no docstring, and when docs/api.md is not
what the script writes today, saying how to regenerate it.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest

import wschat

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "api_reference.py"
PAGE = ROOT / "docs" / "api.md"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_reference", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_name_has_a_docstring(script: ModuleType) -> None:
    missing = script.undocumented()
    assert not missing, f"public names without a docstring (docs/api.md needs one): {missing}"


def test_docs_api_md_is_current(script: ModuleType) -> None:
    assert PAGE.read_text(encoding="utf-8") == script.render(), (
        f"docs/api.md is stale: run `{script.REGENERATE}` and commit the result"
    )


def test_the_page_has_a_section_for_every_public_name() -> None:
    headings = re.findall(r"(?m)^### `(\w+)`$", PAGE.read_text(encoding="utf-8"))
    assert sorted(headings) == sorted(wschat.__all__)


def test_a_name_without_a_docstring_is_found(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check above can fail: a copy of the package with one docstring removed."""
    monkeypatch.chdir(tmp_path)  # griffe looks in the working directory first
    copy = tmp_path / "wschat"
    shutil.copytree(ROOT / "wschat", copy, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    replica = copy / "teaching" / "replica.py"
    text = replica.read_text(encoding="utf-8")
    replica.write_text(text.replace("#: The one message the test's server sends", "# The", 1),
                       encoding="utf-8")
    import griffe

    package = griffe.load("wschat", search_paths=[str(tmp_path)], resolve_aliases=True,
                          resolve_external=False, docstring_parser=None)
    assert script.undocumented(package) == ["GREETING"]


def test_the_check_mode_tells_how_to_regenerate(
    script: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    stale = tmp_path / "api.md"
    stale.write_text(PAGE.read_text(encoding="utf-8").replace("`probe`", "`sonda`", 1),
                     encoding="utf-8")
    monkeypatch.setattr(script, "OUT", stale)
    assert script.main(["api_reference.py", "--check"]) == 1
    assert f"docs/api.md is stale: run {script.REGENERATE}" in capsys.readouterr().err
    stale.write_text(PAGE.read_text(encoding="utf-8"), encoding="utf-8")
    assert script.main(["api_reference.py", "--check"]) == 0
