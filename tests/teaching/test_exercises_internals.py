"""wschat.teaching.exercises.internals: notebook 04's checkers accept the solution, reject
plausible wrong answers with a hint, and answer garbage with a verdict."""

from __future__ import annotations

import pytest
from exercisekit import Case, assert_covers, case_id, check_case

from wschat.teaching.exercises import internals
from wschat.teaching.exercises.internals import verificar_buffer_sem_pular, verificar_reenvio

SOLUTION = {"id": "20", "texto": "reunião às 15h", "quem recebe": ["ana1"]}

CASES = [
    Case(verificar_reenvio, SOLUTION, [
        {"id": "21", "texto": "reunião às 16h", "quem recebe": ["ana1", "ana2", "joao", "bob"]},
        {"id": "20", "texto": "reunião às 16h", "quem recebe": ["ana1"]},
        {"id": "20", "texto": "reunião às 15h", "quem recebe": ["ana1", "ana2"]},
        {"id": "20", "texto": "reunião às 15h", "quem recebe": []},
        {"id": "20", "texto": "reunião às 15h", "quem recebe": ["ana1", "bob", "joao", "ana2"]},
        {"id": "20", "texto": "reunião às 15h", "quem recebe": ["ana"]},
        {"id": "20"},
    ]),
    Case(verificar_buffer_sem_pular, [1, 2, 1], [[1, 1, 1], [2, 2, 2], [1, 2, 2], [2, 2, 1],
                                                [0, 2, 1], [1, 2], "1, 2, 1"]),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_checker(case: Case) -> None:
    check_case(case)


def test_every_checker_has_a_case() -> None:
    assert_covers(internals, CASES)


@pytest.mark.parametrize("answer", [
    {"id": 20, "texto": "Reunião às 15h", "quem recebe": ["ana (aba 1)"]},
    {"ID": "#20", "Texto": "reuniao as 15h", "Quem recebe": ("aba 1",)},
    {"id": 20.0, "texto": " reunião às 15h ", "quem recebe": "ana1"},
])
def test_the_resend_checker_accepts_the_usual_spellings(answer: object) -> None:
    assert verificar_reenvio(answer)


def test_the_seam_checker_accepts_a_tuple_and_digit_strings() -> None:
    assert verificar_buffer_sem_pular((1, 2, 1))
    assert verificar_buffer_sem_pular(["1", "2", "1"])
    assert not verificar_buffer_sem_pular([True, 2, True])


def test_each_wrong_part_gets_its_own_hint() -> None:
    assert "(a)" in verificar_buffer_sem_pular([2, 2, 1]).message
    assert "(b)" in verificar_buffer_sem_pular([1, 1, 1]).message
    assert "(c)" in verificar_buffer_sem_pular([1, 2, 2]).message
    assert "id" in verificar_reenvio({**SOLUTION, "id": "21"}).message
    assert "texto" in verificar_reenvio({**SOLUTION, "texto": "reunião às 16h"}).message
    assert "quem recebe" in verificar_reenvio({**SOLUTION, "quem recebe": ["ana1", "bob"]}).message
    # "ana" names a user, not a session: the hint asks which tab, without saying which.
    for ana in (["ana"], "Ana", ["ana", "joao"]):
        hint = verificar_reenvio({**SOLUTION, "quem recebe": ana}).message
        assert "duas abas" in hint and "Certo" not in hint
