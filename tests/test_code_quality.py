"""The code's own rules, kept by the suite: ruff's lint and mypy --strict (pyproject.toml) on
the package, the benchmarks and the tests.

Both tools come with the test extra, so a missing one is a broken install, not a skip. They
read only files, never the network; mypy's cache goes to a temporary folder so that a run
leaves nothing in the tree.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


def test_ruff_finds_nothing() -> None:
    result = run("ruff", "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_passes_on_the_package_and_the_benchmarks(tmp_path: Path) -> None:
    # The packages checked are pyproject.toml's [tool.mypy] packages: wschat and benchmarks.
    result = run("mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_mypy_strict_passes_on_the_tests(tmp_path: Path) -> None:
    # The same settings; tests/ is no package, so modules are named by their path under tests/
    # (mypy_path and explicit_package_bases in pyproject.toml).
    result = run("mypy", "--cache-dir", str(tmp_path / "mypy"), "tests")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout
