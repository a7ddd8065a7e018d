"""Notebook 01's exercise checkers: each accepts its solution, rejects plausible wrong answers
with a hint, and the solution is what the protocol really does."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from exercisekit import Case, assert_covers, case_id, check_case

from wschat.core import wire
from wschat.teaching.exercises import concepts
from wschat.teaching.exercises.concepts import (
    EXERCISE_KEY,
    EXERCISE_TEXT,
    verificar_accept,
    verificar_bytes_do_quadro,
    verificar_codigo_sem_close,
    verificar_espera_do_polling,
)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3, written out independently
ACCEPT = base64.b64encode(hashlib.sha1((EXERCISE_KEY + GUID).encode()).digest()).decode()

CASES = [
    Case(
        verificar_accept,
        ACCEPT,
        [
            base64.b64encode(hashlib.sha1(EXERCISE_KEY.encode()).digest()).decode(),  # no GUID
            hashlib.sha1((EXERCISE_KEY + GUID).encode()).hexdigest(),  # hex, not base64
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",  # the RFC's example, for another key
            EXERCISE_KEY,
            ACCEPT[:-2],
        ],
    ),
    Case(
        verificar_espera_do_polling,
        (0.55, 1.05),
        [(0.5, 1.0), (0.6, 1.1), (1.05, 1.05), (0.55, 0.55), (550, 1050), (0.25, 0.5), 0.55],
    ),
    Case(
        verificar_bytes_do_quadro,
        bytes([0x81, 0x84]),
        ["81 83", "81 04", bytes([0x82, 0x84]), [0x01, 0x84], "01 03", "c1 84"],
    ),
    Case(
        verificar_codigo_sem_close,
        (1006, "b"),
        [(1006, "a"), (1006, "c"), (1005, "b"), (1000, "b"), (1001, "b"), (1002, "a")],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_checker(case: Case) -> None:
    check_case(case)


def test_every_checker_has_a_case() -> None:
    assert_covers(concepts, CASES)


def test_the_accept_is_the_one_the_project_computes_and_not_the_rfc_example() -> None:
    assert wire.accept_key(EXERCISE_KEY) == ACCEPT
    assert base64.b64decode(EXERCISE_KEY) == b"wschat-exercicio"  # 16 bytes, as §4.1 asks
    assert ACCEPT != wire.accept_key("dGhlIHNhbXBsZSBub25jZQ==")


def test_the_frame_bytes_are_what_a_client_sends() -> None:
    frame = wire.encode_frame(wire.Opcode.TEXT, EXERCISE_TEXT, mask=os.urandom(4))
    assert frame[:2] == bytes([0x81, 0x84])
    assert len(EXERCISE_TEXT) == 3 and len(EXERCISE_TEXT.encode()) == 4


def test_the_polling_wait_is_half_an_interval_plus_half_a_round_trip() -> None:
    """A poller's request reaches the server RTT/2 after it leaves; an event waits for the
    next arrival (uniform over one interval), then the answer travels RTT/2 back."""
    import random

    interval, rtt = 1.0, 0.1
    rng = random.Random(6455)
    arrivals = [k * interval + rtt / 2 for k in range(1000)]  # requests reaching the server
    waits = []
    for _ in range(20_000):
        event = rng.uniform(arrivals[0], arrivals[-2])
        next_arrival = min(a for a in arrivals[int(event) : int(event) + 2] if a >= event)
        waits.append(next_arrival - event + rtt / 2)
    assert abs(sum(waits) / len(waits) - 0.55) < 0.01
    assert 1.04 < max(waits) <= 1.05 + 1e-9


def test_the_close_code_of_a_drop_may_not_be_sent() -> None:
    with pytest.raises(wire.FrameError):
        wire.close_payload(1006)


@pytest.mark.parametrize(
    "answer",
    [b"\x81\x84", [0x81, 0x84], (129, 132), "81 84", "0x81 0x84", "0x81, 0x84", "8184",
     "10000001 10000100", "0b10000001 0b10000100"],
)
def test_the_frame_bytes_may_be_written_several_ways(answer: object) -> None:
    assert verificar_bytes_do_quadro(answer)


@pytest.mark.parametrize(
    "answer", [(0.55, 1.05), ("0,55", "1,05"), ("550 ms", "1,05 s"), [0.5 + 0.05, 1.0 + 0.05]]
)
def test_the_polling_wait_may_be_written_several_ways(answer: object) -> None:
    assert verificar_espera_do_polling(answer)


@pytest.mark.parametrize(
    "answer", [ACCEPT, f"  {ACCEPT}\n", f"Sec-WebSocket-Accept: {ACCEPT}", ACCEPT.encode()]
)
def test_the_accept_may_come_with_its_header_name_or_as_bytes(answer: str | bytes) -> None:
    assert verificar_accept(answer)  # bytes: what base64.b64encode returns


@pytest.mark.parametrize("letter", ["b", "B", "(b)", "b)", "b) ele registra justamente a falta"])
def test_the_letter_may_be_written_several_ways(letter: str) -> None:
    assert verificar_codigo_sem_close((1006, letter))


def test_a_choice_text_is_not_read_as_its_first_letter() -> None:
    assert not verificar_codigo_sem_close((1006, "a falta de um close"))


def test_the_placeholder_gets_a_friendly_hint() -> None:
    for checker in (verificar_accept, verificar_espera_do_polling, verificar_bytes_do_quadro,
                    verificar_codigo_sem_close):
        verdict = checker(None)
        assert not verdict and "None" in verdict.message
