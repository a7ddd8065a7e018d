"""What every exercise checker must do (wschat.teaching.exercises), as one table per notebook.

A test module of a notebook's checkers lists one :class:`Case` per checker and runs
:func:`check_case` on each, plus :func:`assert_covers` once, so that no checker goes untested:

    CASES = [Case(verificar_accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", ["abc", "s3pPLMBi"])]

    @pytest.mark.parametrize("case", CASES, ids=case_id)
    def test_checker(case: Case) -> None:
        check_case(case)

    def test_every_checker_has_a_case() -> None:
        assert_covers(concepts, CASES)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from wschat.teaching.exercises import Verdict

__all__ = ["GARBAGE", "Case", "assert_covers", "case_id", "check_case"]

#: Answers of the wrong kind altogether: a checker answers each with a verdict, never a traceback.
GARBAGE: tuple[Any, ...] = (None, "", "   ", 0, -1, 1e309, float("nan"), [], {}, object(), b"\xff")


@dataclass(frozen=True)
class Case:
    """A checker, the exercise's solution, and at least two plausible wrong answers."""

    checker: Callable[[Any], Verdict]
    solution: Any
    wrong: Sequence[Any]


def case_id(case: Case) -> str:
    return case.checker.__name__


def check_case(case: Case) -> None:
    """The checker accepts the solution, rejects every wrong answer (with a hint in Portuguese
    that does not give the solution away) and answers garbage with a verdict."""
    assert len(case.wrong) >= 2, "give at least two plausible wrong answers"
    verdict = case.checker(case.solution)
    assert isinstance(verdict, Verdict) and verdict.correct, verdict
    for answer in case.wrong:
        verdict = case.checker(answer)
        assert isinstance(verdict, Verdict), f"{answer!r}: {verdict!r}"
        assert not verdict.correct, f"accepted the wrong answer {answer!r}"
        assert verdict.message.strip(), f"no hint for {answer!r}"
        if isinstance(case.solution, str) and len(case.solution) > 3:
            assert case.solution not in verdict.message, f"the hint gives the solution away: {verdict}"
    for answer in GARBAGE:
        verdict = case.checker(answer)
        assert isinstance(verdict, Verdict) and not verdict.correct, f"{answer!r}: {verdict!r}"


def assert_covers(module: ModuleType, cases: Sequence[Case]) -> None:
    """Every ``verificar_*`` function of ``module`` has a case, and each has a docstring."""
    checkers = {
        name for name, value in inspect.getmembers(module, inspect.isfunction)
        if name.startswith("verificar_") and value.__module__ == module.__name__
    }
    covered = {case.checker.__name__ for case in cases}
    assert checkers, f"{module.__name__} has no checker"
    assert checkers == covered, f"checkers without a case: {sorted(checkers - covered)}"
    for name in checkers:
        assert inspect.getdoc(getattr(module, name)), f"{name} has no docstring"
