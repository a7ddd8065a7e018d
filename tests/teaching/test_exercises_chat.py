"""wschat.teaching.exercises.chat: notebook 03's checkers accept the solution, reject plausible
wrong answers with a hint, and the answer key agrees with the real server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest
from exercisekit import Case, assert_covers, case_id, check_case
from websockets.asyncio.server import ServerConnection, broadcast
from websockets.exceptions import ConnectionClosedError

from wschat import Disconnected, Message, ServerThread
from wschat.client.chat_client import RECONNECT_CODES
from wschat.teaching.chatdemo import log_in, said
from wschat.teaching.exercises import chat as exercises
from wschat.teaching.exercises.chat import (
    RECONNECT_CASES,
    REPLAY_LOG,
    verificar_quem_recebe,
    verificar_reconexao,
    verificar_replay,
    verificar_who,
)

Who = Callable[[dict[str, set[ServerConnection]], str, ServerConnection], tuple[set[Any], str]]


def minimal_chat(who: Who | None) -> Callable[[ServerConnection], Any]:
    """Notebook 03's minimal chat (its own ``sessions``), with ``who`` as ``/who`` if given."""
    sessions: dict[str, set[ServerConnection]] = {}

    def private(user: str, ws: ServerConnection, args: str) -> tuple[set[Any], str]:
        to, _, text = args.partition(" ")
        if to not in sessions or not text.strip():
            return {ws}, "erro: use /msg NOME TEXTO, com NOME online"
        return sessions[to] | sessions[user], f"{user} → {to}: {text}"

    commands: dict[str, Callable[[str, ServerConnection, str], tuple[set[Any], str]]] = {
        "/msg": private}
    if who is not None:
        commands["/who"] = lambda user, ws, args: who(sessions, user, ws)

    async def chat(ws: ServerConnection) -> None:
        user = str(await ws.recv())
        sessions.setdefault(user, set()).add(ws)
        try:
            await ws.send(f"bem-vindo, {user}")
            async for line in ws:
                command, _, args = str(line).partition(" ")
                if command in commands:
                    targets, text = commands[command](user, ws, args)
                else:
                    said = line if isinstance(line, str) else line.decode()
                    targets, text = set().union(*sessions.values()), f"{user}: {said}"
                broadcast(targets, text)
        except ConnectionClosedError:
            pass
        finally:
            sessions[user].discard(ws)
            if not sessions[user]:
                del sessions[user]

    return chat


def names(sessions: dict[str, set[ServerConnection]]) -> str:
    return "online: " + ", ".join(sorted(sessions))


SOLUTION = minimal_chat(lambda sessions, user, ws: ({ws}, names(sessions)))
WRONG_CHATS = [
    minimal_chat(None),  # no /who: the line is a public message
    minimal_chat(lambda sessions, user, ws: (sessions[user], names(sessions))),  # every tab of the user
    minimal_chat(lambda sessions, user, ws: (set().union(*sessions.values()), names(sessions))),
    minimal_chat(lambda sessions, user, ws: (
        {ws}, "online: " + ", ".join(u for u in sessions for _ in sessions[u]))),  # one per tab
    minimal_chat(lambda sessions, user, ws: ({ws}, f"online: {user}")),  # only oneself
]

RECONNECT = {"wifi": (1006, True), "sair": (1000, False), "senha": (4001, False)}

CASES = [
    Case(verificar_reconexao, RECONNECT,
         [{**RECONNECT, "wifi": (1006, False)},          # the drop the test asks to survive
          {**RECONNECT, "sair": (1000, True)},           # a logout that comes back
          {**RECONNECT, "senha": (4001, True)},          # retrying a wrong password forever
          {**RECONNECT, "wifi": (1001, True)}, {**RECONNECT, "wifi": (1011, True)},
          {**RECONNECT, "sair": (1006, False)}, {**RECONNECT, "senha": (1008, False)},
          {"wifi": (1006, True), "sair": (1000, False)}, (1006, "b")]),
    Case(verificar_quem_recebe, {"ana-1", "ana-2", "joao-celular", "joao-pc"},
         [{"joao-celular", "joao-pc"}, {"ana-1", "joao-celular", "joao-pc"},
          {"ana-1", "ana-2", "joao-celular", "joao-pc", "bob"}, {"ana-1", "ana-2", "joao-pc"},
          {"ana", "joao"}]),
    Case(verificar_replay, [42, 44, 45],
         [[42, 43, 44, 45], [42, 44], [44, 45, 42], [41, 42, 44, 45], [42, 44, 44, 45]]),
    Case(verificar_who, SOLUTION, WRONG_CHATS),
]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_checker(case: Case) -> None:
    check_case(case)


def test_every_checker_has_a_case() -> None:
    assert_covers(exercises, CASES)


def test_answers_may_be_written_in_other_plain_forms() -> None:
    assert verificar_reconexao({"WiFi ": ["1006", "sim"], "sair": (1000, "não"),
                                "SENHA": ("4001", "nao")})
    assert verificar_quem_recebe(["ANA-1", "ana-2 ", "joao-celular", "joao-pc"])
    assert verificar_quem_recebe({"ana 1", "ana_2", "joao celular", "joao-pc"})
    assert verificar_quem_recebe("ana-1, ana-2, joao-celular, joao-pc,")
    assert verificar_replay(("42", "44", "45"))
    assert verificar_replay("42, 44, 45") and verificar_replay("[42 44 45]")


def test_users_instead_of_sessions_get_told_to_answer_per_session() -> None:
    verdict = verificar_quem_recebe({"ana", "joao"})
    assert not verdict and "não por usuário" in verdict.message


def test_exercise_1_answer_key_is_the_real_clients_reconnect_policy() -> None:
    # The client reconnects after exactly the codes its RECONNECT_CODES name; the exercise's
    # three cases must say the same.
    assert {code: code in RECONNECT_CODES for code, _ in RECONNECT_CASES.values()} == {
        code: back for code, back in RECONNECT_CASES.values()}
    assert RECONNECT_CASES == RECONNECT


def test_a_server_function_that_never_answers_gets_a_hint_in_bounded_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exercises, "WHO_TIMEOUT", 0.5)

    async def silent(ws: ServerConnection) -> None:  # never sends the welcome line
        await asyncio.Event().wait()

    verdict = verificar_who(silent)
    # This hint, not "did not answer in time": the check ended within its own bound (the
    # caller never waits longer), and its thread and server are gone.
    assert not verdict and "boas-vindas" in verdict.message
    assert not [t for t in threading.enumerate() if t.name == "verificar_who"]


def test_a_who_that_breaks_the_connection_gets_a_hint() -> None:
    broken = minimal_chat(lambda sessions, user, ws: None)  # type: ignore[arg-type,return-value]
    verdict = verificar_who(broken)
    assert not verdict and "falhou" in verdict.message


def test_a_who_that_raises_is_named_with_the_readers_line_and_logs_no_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    # (text, targets) swapped: broadcast() raises inside websockets; the hint names the
    # reader's line that called it, not a line of websockets.
    swapped = minimal_chat(lambda sessions, user, ws: (names(sessions), {ws}))  # type: ignore[arg-type,return-value]
    verdict = verificar_who(swapped)
    assert not verdict and "TypeError" in verdict.message
    assert "broadcast(targets, text)" in verdict.message
    assert not [r for r in caplog.records if r.name.startswith("websockets")]


# The answer key of exercises 2 and 3 is what the real server does.


async def test_exercise_2_answer_is_who_the_server_delivers_a_private_message_to() -> None:
    with ServerThread() as server:
        sessions = {
            "ana-1": await log_in("ana-1", server.url, "ana", "senha-da-ana"),
            "joao-celular": await log_in("joao-celular", server.url, "joao", "senha-do-joao"),
            "bob": await log_in("bob", server.url, "bob", "senha-do-bob"),
        }
        sessions["ana-2"] = await log_in("ana-2", server.url, "ana", "senha-da-ana")
        sessions["joao-pc"] = await log_in("joao-pc", server.url, "joao", "senha-do-joao")
        await sessions["ana-1"].client.send("/msg joao oi")
        await sessions["joao-pc"].read_until(said("oi"))
        await sessions["bob"].client.send("depois")  # public: everyone reads up to it
        got = set()
        for name, screen in sessions.items():
            await screen.read_until(said("depois"))  # in log order: "oi" came first, if at all
            if "oi" in [m.text for m in screen.messages()]:
                got.add(name)
        assert verificar_quem_recebe(got), got
        for screen in sessions.values():
            await screen.client.close()


async def test_exercise_3_answer_is_what_the_server_replays() -> None:
    with ServerThread() as server:
        ana = await log_in("ana", server.url, "ana", "senha-da-ana")
        bob = await log_in("bob", server.url, "bob", "senha-do-bob")
        phone = await log_in("joao-celular", server.url, "joao", "senha-do-joao")
        pc = await log_in("joao-pc", server.url, "joao", "senha-do-joao")
        await ana.client.send("visto")
        seen = (await pc.read_until(said("visto")))[-1]
        assert isinstance(seen, Message)
        back = asyncio.Event()
        await pc.client.drop(until=back)
        await pc.read_until(lambda e: isinstance(e, Disconnected))
        # The log after the id the computer saw, as the exercise's table has it.
        senders = {"ana": ana, "bob": bob, "joao": phone}
        log_ids = {}
        for number, (sender, to) in sorted(REPLAY_LOG.items()):
            text = f"mensagem {number}"
            await senders[sender].client.send(text, to=to)
            sent = (await senders[sender].read_until(said(text)))[-1]
            assert isinstance(sent, Message)
            log_ids[sent.id] = number
        back.set()
        replay = await pc.read_until(said(f"mensagem {max(REPLAY_LOG)}"))
        replayed = [log_ids[m.id] for m in pc.messages() if m.id in log_ids
                    and pc.how[m.id] == "replay"]
        assert seen.id not in log_ids and replay
        assert verificar_replay(replayed), replayed
        for screen in (ana, bob, phone, pc):
            await screen.client.close()
