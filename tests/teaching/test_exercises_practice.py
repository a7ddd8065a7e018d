"""Notebook 02's exercise checkers: each accepts its solution, rejects plausible wrong answers
with a hint, and the solution is what really happens, against servers started here on
127.0.0.1 (an echoing one, one that closes before any message, one that never speaks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest
import websocket
from exercisekit import Case, assert_covers, case_id, check_case
from websocket._url import parse_url
from websockets.asyncio.server import ServerConnection, serve

from wschat import GREETING
from wschat.cli import main
from wschat.server.thread import BackgroundServer
from wschat.teaching.exercises import practice
from wschat.teaching.exercises.practice import (
    verificar_linha_que_espera,
    verificar_probe_com_eco,
    verificar_probe_sem_mensagem,
    verificar_ws_e_wss,
)
from wschat.teaching.probe import probe

CASES = [
    Case(
        verificar_probe_com_eco,
        ([GREETING, "oi"], False),
        [([GREETING], True), ([GREETING, "oi"], True), (["oi", GREETING], False),
         (["oi"], False)],
    ),
    Case(verificar_probe_sem_mensagem, 8, [0, 6, 7, 1]),
    Case(verificar_ws_e_wss, ("a", 443), [("a", 80), ("b", 443), ("c", 443), ("a", 8765)]),
    Case(
        verificar_linha_que_espera,
        ("recv", 60),
        [("create_connection", 60), ("recv", float("inf")), ("recv", 0), ("close", 60)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_checker(case: Case) -> None:
    check_case(case)


def test_every_checker_has_a_case() -> None:
    assert_covers(practice, CASES)


@pytest.mark.parametrize("answer", [("recv", 60), ("ws.recv()", 60.0), ("print(ws.recv())", 60)])
def test_the_waiting_call_may_be_written_several_ways(answer: object) -> None:
    assert verificar_linha_que_espera(answer)


def test_the_placeholder_gets_a_friendly_hint() -> None:
    for checker in (verificar_probe_com_eco, verificar_probe_sem_mensagem, verificar_ws_e_wss,
                    verificar_linha_que_espera):
        verdict = checker(None)
        assert not verdict and "None" in verdict.message


# ------------------------------------------------------------------ the solutions are true

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextmanager
def ws_server(handler: Handler) -> Iterator[str]:
    """A websockets server running ``handler`` on a free loopback port; yields its URL."""

    async def run(ready: Callable[[int], None], stop: asyncio.Event) -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            ready(server.sockets[0].getsockname()[1])
            await stop.wait()

    with BackgroundServer(run, host="127.0.0.1", name="test-exercise-server") as server:
        yield f"ws://127.0.0.1:{server.port}/"


async def greet_then_echo(connection: ServerConnection) -> None:
    await connection.send(GREETING)
    async for message in connection:
        await connection.send(message)


async def close_at_once(connection: ServerConnection) -> None:
    await connection.close(1000)


async def never_speak(connection: ServerConnection) -> None:
    await connection.wait_closed()


def test_exercise_1_the_probe_against_an_echoing_server() -> None:
    with ws_server(greet_then_echo) as url:
        result = probe(url, count=2, send="oi", timeout=1.5)
    assert verificar_probe_com_eco(([m.data for m in result.messages], result.timed_out))


def test_exercise_2_the_probe_exits_8_when_the_server_closes_first(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ws_server(close_at_once) as url:
        code = main(["probe", url])
    assert verificar_probe_sem_mensagem(code)
    assert "before any message" in capsys.readouterr().err


def test_exercise_3_a_wss_url_without_a_port_means_443_and_ws_80() -> None:
    assert parse_url("wss://websocket-fh6l.onrender.com/")[:3] == (
        "websocket-fh6l.onrender.com", 443, "/")
    assert parse_url("ws://example.invalid/")[1] == 80


def test_exercise_4_recv_is_what_waits_and_the_timeout_bounds_it() -> None:
    with ws_server(never_speak) as url:
        ws = websocket.create_connection(url, timeout=0.3)  # returns: the handshake is done
        try:
            started = time.monotonic()
            with pytest.raises(websocket.WebSocketTimeoutException):
                ws.recv()
            assert time.monotonic() - started >= 0.25  # it waited for the timeout, not less
        finally:
            ws.close()
