"""Notebook 01_conceitos: it runs top to bottom offline, and what its cells leave behind holds.

Each ``check_*`` function runs in the notebook's kernel after the notebook (tests/nbkit.py):
its parameters name the notebook's variables.
"""

from __future__ import annotations

from typing import Any

from nbkit import Run

NOTEBOOK = "01_conceitos"


def test_runs_without_errors(notebook_run: Run) -> None:
    assert notebook_run.errors() == []


def test_check(notebook_run: Run, check: Any) -> None:
    notebook_run.assert_held(check)
