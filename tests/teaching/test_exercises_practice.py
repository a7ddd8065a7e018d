"""Notebook 02's exercise checkers: each accepts its solution, rejects plausible wrong answers
with a hint, and the solution is what really happens, against servers started here on
127.0.0.1 (an echoing one, one that pings and closes before any message, one that answers
503 to every handshake, one that never speaks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus

import pytest
import websocket
from exercisekit import Case, assert_covers, case_id, check_case
from websocket._url import parse_url
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

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
    Case(verificar_probe_sem_mensagem, (8, 7), [(0, 7), (8, 6), (8, 1), (7, 7), (8, 8), 8]),
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


@pytest.mark.parametrize(
    "answer",
    [("recv", 60), ("ws.recv()", 60.0), ("print(ws.recv())", 60), ("WS.RECV()", "60"),
     ("recv", "60 s")],
)
def test_the_waiting_call_may_be_written_several_ways(answer: object) -> None:
    assert verificar_linha_que_espera(answer)


@pytest.mark.parametrize("answer", [("a", 443), ("A", "443"), ("(a)", 443), ("a) só a URL", 443)])
def test_the_letter_may_be_written_several_ways(answer: object) -> None:
    assert verificar_ws_e_wss(answer)


def test_exercise_2_takes_the_codes_as_text_too() -> None:
    assert verificar_probe_sem_mensagem(("8", "7"))
    assert verificar_probe_sem_mensagem([8, 7])


def test_exercise_2_names_the_server_whose_code_is_wrong() -> None:
    only_a = verificar_probe_sem_mensagem((0, 7)).message
    only_b = verificar_probe_sem_mensagem((8, 6)).message
    assert "Em A" in only_a and "Em B" not in only_a
    assert "Em B" in only_b and "Em A" not in only_b


def test_exercise_1_a_greeting_not_written_out_gets_told_the_order_is_right() -> None:
    verdict = verificar_probe_com_eco((["saudação", "oi"], False))
    assert not verdict and "ordem está certa" in verdict.message


def test_the_placeholder_gets_a_friendly_hint() -> None:
    for checker in (verificar_probe_com_eco, verificar_probe_sem_mensagem, verificar_ws_e_wss,
                    verificar_linha_que_espera):
        verdict = checker(None)
        assert not verdict and "None" in verdict.message


# ------------------------------------------------------------------ the solutions are true

Handler = Callable[[ServerConnection], Awaitable[None]]


def still_waking(connection: ServerConnection, request: Request) -> Response:
    """Answer every handshake 503, as a free host that is still waking up may."""
    return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "acordando\n")


@contextmanager
def ws_server(handler: Handler, *, waking: bool = False) -> Iterator[str]:
    """A websockets server running ``handler`` on a free loopback port; yields its URL.
    With ``waking``, it answers every handshake with 503 instead."""

    async def run(ready: Callable[[int], None], stop: asyncio.Event) -> None:
        process_request = still_waking if waking else None
        async with serve(handler, "127.0.0.1", 0, process_request=process_request) as server:
            ready(server.sockets[0].getsockname()[1])
            await stop.wait()

    with BackgroundServer(run, host="127.0.0.1", name="test-exercise-server") as server:
        yield f"ws://127.0.0.1:{server.port}/"


async def greet_then_echo(connection: ServerConnection) -> None:
    await connection.send(GREETING)
    async for message in connection:
        await connection.send(message)


async def ping_then_close(connection: ServerConnection) -> None:
    pong = await connection.ping(b"acordado?")
    await asyncio.wait_for(pong, 5)  # the probe's library answered the ping
    await connection.close(1000)


async def never_speak(connection: ServerConnection) -> None:
    await connection.wait_closed()


def test_exercise_1_the_probe_against_an_echoing_server() -> None:
    with ws_server(greet_then_echo) as url:
        result = probe(url, count=2, send="oi", timeout=1.5)
    assert verificar_probe_com_eco(([m.data for m in result.messages], result.timed_out))


def test_exercise_2_the_probe_exits_8_and_7_against_the_two_servers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with ws_server(ping_then_close) as url:  # a ping is answered, not counted as a message
        code_a = main(["probe", url])
    assert "before any message: close code 1000" in capsys.readouterr().err
    with ws_server(never_speak, waking=True) as url:  # 503 to every handshake
        code_b = main(["probe", url, "--timeout", "10"])
    assert "again on the one retry" in capsys.readouterr().err
    assert (code_a, code_b) == (8, 7)
    assert verificar_probe_sem_mensagem((code_a, code_b))


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
