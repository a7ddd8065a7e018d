"""wschat.teaching.exercises.scale: notebook 05's checkers accept the solution, reject plausible
wrong answers with a hint, and answer garbage with a verdict."""

from __future__ import annotations

import pytest
from exercisekit import Case, assert_covers, case_id, check_case

from wschat.teaching.exercises import scale
from wschat.teaching.exercises.scale import verificar_entregas, verificar_reinicio

CASES = [
    Case(verificar_reinicio, "ab", ["b", "a", "abc", "bc", "c", "", ["b", "c"], "abd"]),
    Case(verificar_entregas, (3000, 4, 6), [
        (1000, 4, 6), (2997, 4, 6), (3000, 1, 6), (3000, 3, 6), (3000, 3000, 6), (3000, 4, 2), (3000, 4, 3),
        (3000, 4), [3000, "quatro", 6],
    ]),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_checker(case: Case) -> None:
    check_case(case)


def test_every_checker_has_a_case() -> None:
    assert_covers(scale, CASES)


@pytest.mark.parametrize("answer", ["ab", "ba", "a, b", "A e B", ["a", "b"], {"b", "a"}, "(a) (b)"])
def test_the_restart_checker_accepts_the_usual_spellings(answer: object) -> None:
    assert verificar_reinicio(answer)


@pytest.mark.parametrize("answer", [(3000, 4, 6), [3000, 4, 6], ("3.000", "4", "6"),
                                    (3000.0, 4.0, 6.0)])
def test_the_deliveries_checker_accepts_the_usual_spellings(answer: object) -> None:
    assert verificar_entregas(answer)


def test_each_wrong_part_gets_its_own_hint() -> None:
    assert "(a)" in verificar_entregas((2997, 4, 6)).message
    assert "(a)" in verificar_entregas((1000, 4, 6)).message
    assert "(b)" in verificar_entregas((3000, 1, 6)).message
    # 3: the node that wrote the entry would not read it back; the hint names that node.
    assert "gravou" in verificar_entregas((3000, 3, 6)).message
    assert "(c)" in verificar_entregas((3000, 4, 3)).message
    assert "(c)" in verificar_reinicio("abc").message
    assert "(a)" in verificar_reinicio("b").message
    assert "(b)" in verificar_reinicio("a").message
