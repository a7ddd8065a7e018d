"""Notebook 05_escala: it runs top to bottom offline, and what its cells leave behind holds.

Each ``check_*`` function runs in the notebook's kernel after the notebook (tests/nbkit.py):
its parameters name the notebook's variables.
"""

from __future__ import annotations

from typing import Any

from nbkit import Run

from wschat.teaching.redis_server import find_redis_server

NOTEBOOK = "05_escala"


def test_runs_without_errors(notebook_run: Run) -> None:
    assert notebook_run.errors() == []


def test_check(notebook_run: Run, check: Any) -> None:
    notebook_run.assert_held(check)


def test_no_redis_section_was_skipped_where_the_suite_has_redis(notebook_run: Run) -> None:
    if find_redis_server() is not None:
        assert "SEM REDIS" not in notebook_run.printed()
