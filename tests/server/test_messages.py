"""Acceptance tests of live sending: public and private messages, who, help and commands,
text limits, presence and the send rate limit.

Every test starts a real server (``ServerThread``, through the ``serve`` and ``server``
fixtures) on a free loopback port, once per store backend, and talks to it with the raw
``websockets`` client through ``chatkit``. Nothing here de-duplicates or filters what the
server sends: each assertion about "once" counts the frames exactly as they came.
"""

from __future__ import annotations

import pytest
from chatkit import (
    Clients,
    Frame,
    expect_silence,
    ids,
    presence,
    publish,
    recv_json,
    recv_n,
    send_json,
    silent,
    tab,
)
from threadkit import PW, Serve

from wschat.server.thread import ServerThread

#: Every test here runs once per store backend (memory, SQLite, Redis: tests/conftest.py).
pytestmark = pytest.mark.backends


# --------------------------------------------------------------------------- messages


async def test_public_message_reaches_every_session_once(server: ServerThread, clients: Clients) -> None:
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    echo = await publish(ana1, "oi a todos")
    assert (echo["from"], echo["to"], echo["text"]) == ("ana", None, "oi a todos")
    assert isinstance(echo["ts"], (int, float))
    for sock in (ana2, bob):
        message = await recv_json(sock)
        assert (message["id"], message["from"], message["to"], message["text"]) == (
            echo["id"], "ana", None, "oi a todos"
        )
    await silent(ana1, ana2, bob)


@pytest.mark.parametrize("form", ["to field", "/msg command"])
async def test_private_message_reaches_both_users_sessions_once(
    server: ServerThread, clients: Clients, form: str
) -> None:
    carol, _ = await clients.login(server.url, "carol", PW)
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob1, bob = await clients.login(server.url, "bob", PW)
    bob2, _ = await tab(clients, server.url, bob)
    await presence(carol, "ana", True)
    await presence(carol, "bob", True)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    if form == "to field":
        echo = await publish(ana1, "segredo", to="bob")
    else:
        await send_json(ana1, {"type": "send", "text": "/msg bob segredo", "ref": "k"})
        echo = await recv_json(ana1)
        assert echo["ref"] == "k"
    assert (echo["from"], echo["to"], echo["text"]) == ("ana", "bob", "segredo")
    for sock in (ana2, bob1, bob2):
        message = await recv_json(sock)
        assert (message["id"], message["from"], message["to"], message["text"]) == (
            echo["id"], "ana", "bob", "segredo"
        )
    await silent(carol, ana1, ana2, bob1, bob2)


async def test_private_message_to_oneself_arrives_once_per_session(
    server: ServerThread, clients: Clients
) -> None:
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    echo = await publish(ana1, "lembrete", to="ana")
    assert echo["to"] == "ana"
    assert ids([await recv_json(ana2)]) == [echo["id"]]
    await silent(ana1, ana2, bob)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "send", "text": "oi", "to": "ninguem", "ref": "x"},
        {"type": "send", "text": "/msg ninguem oi", "ref": "x"},
        {"type": "send", "text": "oi", "to": "nome inválido", "ref": "x"},
    ],
    ids=["to field", "/msg", "invalid name"],
)
async def test_private_to_unknown_user_is_refused_and_not_stored(
    server: ServerThread, clients: Clients, frame: Frame
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await send_json(ana, frame)
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "unknown_user", "x")
    assert isinstance(error["detail"], str) and error["detail"]
    await send_json(ana, {"type": "history", "limit": 10})
    assert (await recv_json(ana))["messages"] == []
    _, welcome = await clients.login(server.url, "bob", PW)
    assert welcome["last"] is None


@pytest.mark.parametrize("text", ["/msg", "/msg bob", "/msg bob    ", "/msg    "])
async def test_msg_usage_errors(server: ServerThread, clients: Clients, text: str) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    await send_json(ana, {"type": "send", "text": text, "ref": "u"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "invalid_message", "u")
    assert "/msg" in error["detail"]  # the usage hint
    await silent(ana, bob)


@pytest.mark.parametrize("frame", [{"type": "who"}, {"type": "send", "text": "/who"}], ids=["object", "command"])
async def test_who_lists_online_users(server: ServerThread, clients: Clients, frame: Frame) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await clients.login(server.url, "bob", PW)
    await clients.login(server.url, "carol", "outra")  # registered ...
    await presence(ana, "bob", True)
    await presence(ana, "carol", True)
    await send_json(ana, frame)
    users = await recv_json(ana)
    assert users["type"] == "users"
    assert sorted(users["online"]) == ["ana", "bob", "carol"]


async def test_help_lists_the_commands_in_portuguese(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await send_json(ana, {"type": "send", "text": "/help"})
    help_ = await recv_json(ana)
    assert help_["type"] == "help"
    for command in ("/msg", "/who", "/help", "/logout"):
        assert command in help_["text"]
    words = {"mensagem", "usuários", "todos", "ajuda", "sair", "comandos"}
    assert words & set(help_["text"].lower().replace(":", " ").split())
    await expect_silence(ana)


async def test_a_json_help_frame_is_invalid_message(server: ServerThread, clients: Clients) -> None:
    """PROTOCOL.md's client frames are login, send, who, history and logout; any other type
    is ``invalid_message``. Help is the command ``/help``, which the error points to."""
    ana, _ = await clients.login(server.url, "ana", PW)
    await send_json(ana, {"type": "help", "ref": "h"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "invalid_message", "h")
    assert "/help" in error["detail"]
    await expect_silence(ana)
    await send_json(ana, {"type": "send", "text": "/help", "ref": "h2"})
    assert (await recv_json(ana))["type"] == "help"


async def test_unknown_command(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    await send_json(ana, {"type": "send", "text": "/dance agora", "ref": "c"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "unknown_command", "c")
    await expect_silence(bob)
    await publish(ana, "segue aberta")


LENGTHS = [
    ("public 4000", {"text": "é" * 4000}, None),
    ("public 4001", {"text": "é" * 4001}, "too_long"),
    ("to 4000", {"text": "ç" * 4000, "to": "ana"}, None),
    ("to 4001", {"text": "ç" * 4001, "to": "ana"}, "too_long"),
    ("/msg 4000", {"text": "/msg ana " + "ã" * 4000}, None),
    ("/msg 4001", {"text": "/msg ana " + "ã" * 4001}, "too_long"),
]


@pytest.mark.parametrize(("fields", "code"), [c[1:] for c in LENGTHS], ids=[c[0] for c in LENGTHS])
async def test_text_length_counts_code_points(
    server: ServerThread, clients: Clients, fields: Frame, code: str | None
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await send_json(ana, {"type": "send", "ref": "L", **fields})
    answer = await recv_json(ana)
    if code is None:
        assert answer["type"] == "message" and len(answer["text"]) == 4000
    else:
        assert (answer["type"], answer["code"], answer["ref"]) == ("error", code, "L")
        await send_json(ana, {"type": "history", "limit": 10})
        assert (await recv_json(ana))["messages"] == []


# --------------------------------------------------------------------------- presence


@pytest.mark.parametrize("last_close", ["close", "abort"])
async def test_presence_only_for_first_and_last_session(
    server: ServerThread, clients: Clients, last_close: str
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob1, bob = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    bob2, _ = await tab(clients, server.url, bob)
    await silent(ana, bob1)
    await bob2.close()
    await silent(ana, bob1)
    if last_close == "close":
        await bob1.close()
    else:
        assert bob1.transport is not None
        bob1.transport.abort()  # the connection drops without a close handshake
    await presence(ana, "bob", False)
    await send_json(ana, {"type": "who"})
    assert (await recv_json(ana))["online"] == ["ana"]


# --------------------------------------------------------------------------- rate limit


async def test_sends_are_rate_limited_across_sessions(serve: Serve, clients: Clients) -> None:
    server = serve(rate_limit=1, burst=3)
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    accepted = []
    for sender, receiver in ((ana1, ana2), (ana2, ana1), (ana1, ana2)):
        accepted.append(await publish(sender, "dentro do limite"))
        await recv_json(receiver)
    for sender, ref in ((ana2, "fora-1"), (ana1, "fora-2")):
        await send_json(sender, {"type": "send", "text": "demais", "ref": ref})
        error = await recv_json(sender)
        assert (error["type"], error["code"], error["ref"]) == ("error", "rate_limited", ref)
    assert ids(await recv_n(bob, 3)) == ids(accepted)
    await silent(ana1, ana2, bob)
    await send_json(ana1, {"type": "who"})  # only sends are counted, and the socket stays open
    assert (await recv_json(ana1))["type"] == "users"
    # Another user has a bucket of their own.
    await publish(bob, "eu posso")


async def test_default_rate_limit_allows_a_burst_of_100(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    for i in range(130):
        await send_json(ana, {"type": "send", "text": f"m{i}", "ref": str(i)})
    frames = await recv_n(ana, 130)
    kinds = [f["type"] for f in frames]
    assert 100 <= kinds.count("message") < 130
    assert all(f["code"] == "rate_limited" for f in frames if f["type"] == "error")


async def test_a_lower_rate_limit_lowers_the_burst_too(serve: Serve, clients: Clients) -> None:
    """PROTOCOL.md: bursts of twice the rate, for any rate (not only on the command line)."""
    server = serve(rate_limit=2)
    ana, _ = await clients.login(server.url, "ana", PW)
    for i in range(8):
        await send_json(ana, {"type": "send", "text": f"m{i}", "ref": str(i)})
    kinds = [f["type"] for f in await recv_n(ana, 8)]
    # A burst of 4, plus at most one token refilled if sending took more than half a second.
    assert kinds.count("message") in (4, 5), kinds


async def test_rate_limit_zero_turns_it_off(serve: Serve, clients: Clients) -> None:
    server = serve(rate_limit=0)
    ana, _ = await clients.login(server.url, "ana", PW)
    for i in range(300):
        await send_json(ana, {"type": "send", "text": f"m{i}", "ref": str(i)})
    frames = await recv_n(ana, 300)
    assert [(f["type"], f["ref"]) for f in frames] == [("message", str(i)) for i in range(300)]
