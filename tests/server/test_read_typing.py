"""Acceptance tests of the v3 read position and typing notices (PROTOCOL.md, "Read position,
typing, drain and metrics (v3)"), over real sockets with the raw chatkit client.

Every test runs on each store backend (memory, SQLite, Redis); tests/cluster/test_cluster.py
has the ones that need two server processes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from chatkit import (
    Clients,
    Frame,
    ids,
    presence,
    publish,
    read_backlog,
    recv_json,
    send_json,
    silent,
)
from threadkit import PW, Serve
from websockets.asyncio.client import ClientConnection

from wschat.core.defaults import TYPING_INTERVAL
from wschat.server.thread import ServerThread

#: Every test here runs once per store backend (memory, SQLite, Redis: tests/conftest.py).
pytestmark = pytest.mark.backends


async def tab(clients: Clients, url: str, welcome: Frame) -> tuple[ClientConnection, Frame]:
    """Another session of the user of ``welcome`` (with its token), its backlog read."""
    ws, again = await clients.login(url, welcome["user"], token=welcome["token"])
    await read_backlog(ws, again)
    return ws, again


async def joined(clients: Clients, url: str, user: str) -> tuple[ClientConnection, Frame]:
    """A fresh login of ``user`` with its backlog read."""
    ws, welcome = await clients.login(url, user, PW)
    await read_backlog(ws, welcome)
    return ws, welcome


async def ana_twice_and_bob(
    clients: Clients, url: str
) -> tuple[ClientConnection, ClientConnection, ClientConnection]:
    """Two sessions of ana, then bob, each with its backlog read and bob's arrival seen by both
    of ana's sessions."""
    ana1, welcome = await joined(clients, url, "ana")
    ana2, _ = await tab(clients, url, welcome)
    bob, _ = await joined(clients, url, "bob")
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    return ana1, ana2, bob


async def mark_read(ws: ClientConnection, entry_id: str, ref: str | None = None) -> None:
    frame: Frame = {"type": "read", "id": entry_id}
    if ref is not None:
        frame["ref"] = ref
    await send_json(ws, frame)


# --------------------------------------------------------------------------- welcome


async def test_welcome_counts_unread_messages_of_others_visible_to_the_user(
    server: ServerThread, clients: Clients
) -> None:
    await joined(clients, server.url, "cid")  # registered, then offline
    await clients.aclose()
    bob, _ = await joined(clients, server.url, "bob")
    ana, first = await joined(clients, server.url, "ana")
    assert (first["read"], first["unread"]) == (None, 0)
    await presence(bob, "ana", True)
    await publish(ana, "minha")  # her own: never unread
    assert (await recv_json(bob))["type"] == "message"
    await publish(bob, "oi a todos")
    await publish(bob, "só para a ana", to="ana")
    await publish(bob, "só para o cid", to="cid")  # not visible to ana
    for _ in range(2):
        assert (await recv_json(ana))["type"] == "message"
    await publish(ana, "nota para mim", to="ana")  # her own again
    _, welcome = await clients.login(server.url, "ana", PW)
    assert welcome["read"] is None and welcome["unread"] == 2


async def test_read_moves_forward_only_and_reaches_every_session_of_the_user_alone(
    server: ServerThread, clients: Clients
) -> None:
    ana1, ana2, bob = await ana_twice_and_bob(clients, server.url)
    sent = [await publish(bob, f"m{i}") for i in range(3)]
    for ws in (ana1, ana2):
        assert ids([await recv_json(ws) for _ in range(3)]) == [m["id"] for m in sent]

    await mark_read(ana2, sent[1]["id"])
    for ws in (ana1, ana2):  # the sending tab included
        assert await recv_json(ws) == {"type": "read", "id": sent[1]["id"]}
    await silent(ana1, ana2, bob)  # once each; never to another user

    await mark_read(ana1, sent[0]["id"])  # older: nothing changes, nothing is sent
    await mark_read(ana1, sent[1]["id"])  # equal: the same
    await silent(ana1, ana2, bob)

    _, again = await clients.login(server.url, "ana", PW)
    assert (again["read"], again["unread"]) == (sent[1]["id"], 1)
    await mark_read(ana1, sent[2]["id"])
    for ws in (ana1, ana2):
        assert await recv_json(ws) == {"type": "read", "id": sent[2]["id"]}
    _, third = await clients.login(server.url, "ANA", PW)
    assert (third["read"], third["unread"]) == (sent[2]["id"], 0)


@pytest.mark.parametrize("bad", ["private", "absent", "garbage"])
async def test_read_of_an_id_the_user_cannot_see_is_refused(
    server: ServerThread, clients: Clients, bad: str
) -> None:
    await joined(clients, server.url, "cid")  # registered, then offline
    await clients.aclose()
    bob, _ = await joined(clients, server.url, "bob")
    private = await publish(bob, "segredo", to="cid")
    ana, _ = await joined(clients, server.url, "ana")
    await presence(bob, "ana", True)
    entry_id = {"private": private["id"], "absent": "999999", "garbage": "um-id"}[bad]
    await mark_read(ana, entry_id, ref="r-1")
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "invalid_message", "r-1")
    await silent(ana, bob)
    _, again = await clients.login(server.url, "ana", PW)
    assert again["read"] is None  # nothing changed


async def test_read_is_not_rate_limited_as_a_send(serve: Serve, clients: Clients) -> None:
    server = serve(rate_limit=1, burst=2)
    bob, _ = await joined(clients, server.url, "bob")
    ana, _ = await joined(clients, server.url, "ana")
    await presence(bob, "ana", True)
    sent = [await publish(bob, f"m{i}") for i in range(2)]
    mine = [await recv_json(ana) for _ in range(2)]
    assert ids(mine) == [m["id"] for m in sent]
    for i in range(5):  # more than ana's burst, at once
        await send_json(ana, {"type": "send", "text": f"a{i}", "ref": f"a{i}"})
    answers = [await recv_json(ana) for _ in range(5)]
    assert "rate_limited" in [a.get("code") for a in answers]
    for answer in answers:
        if answer["type"] == "message":
            assert ids([await recv_json(bob)]) == [answer["id"]]
    for message in sent:
        await mark_read(ana, message["id"])
        assert await recv_json(ana) == {"type": "read", "id": message["id"]}


async def test_read_positions_are_never_in_history_or_replay(
    server: ServerThread, clients: Clients
) -> None:
    ana, welcome = await joined(clients, server.url, "ana")
    first = await publish(ana, "um")
    await mark_read(ana, first["id"])
    assert (await recv_json(ana))["type"] == "read"
    second = await publish(ana, "dois")
    await mark_read(ana, second["id"])
    assert (await recv_json(ana))["type"] == "read"
    resume = {"epoch": welcome["epoch"], "after": first["id"]}
    again, back = await clients.login(server.url, "ana", PW, resume=resume)
    assert back["recovered"] is True and back["last"] == second["id"]
    assert ids(await read_backlog(again, back, first["id"])) == [second["id"]]
    await send_json(again, {"type": "history", "limit": 50})
    history = await recv_json(again)
    assert [m["id"] for m in history["messages"]] == [first["id"], second["id"]]
    assert {m["type"] for m in history["messages"]} == {"message"}
    await silent(again)


@pytest.mark.backends("sqlite", "redis")  # a MemoryStore does not outlive its server
async def test_read_position_and_unread_survive_a_restart(
    serve: Serve, clients: Clients, tmp_path: Path
) -> None:
    db = str(tmp_path / "chat.db")
    first = serve(db=db)
    ana, welcome = await joined(clients, first.url, "ana")
    bob, _ = await joined(clients, first.url, "bob")
    sent = [await publish(bob, f"m{i}") for i in range(4)]
    await mark_read(ana, sent[0]["id"])
    await recv_json(ana)  # presence of bob
    await asyncio.wait_for(_until_read(ana, sent[0]["id"]), 5)
    await clients.aclose()
    await asyncio.to_thread(first.stop)

    second = serve(db=db)
    _, again = await clients.login(second.url, "ana", token=welcome["token"])
    assert (again["read"], again["unread"]) == (sent[0]["id"], 3)


async def _until_read(ws: ClientConnection, entry_id: str) -> None:
    """Read frames until the ``read`` notice of ``entry_id``."""
    while (frame := await recv_json(ws)) != {"type": "read", "id": entry_id}:
        assert frame["type"] == "message", frame


# --------------------------------------------------------------------------- typing


async def test_public_typing_reaches_every_other_user_and_none_of_the_senders_sessions(
    server: ServerThread, clients: Clients
) -> None:
    ana1, welcome = await joined(clients, server.url, "ana")
    ana2, _ = await tab(clients, server.url, welcome)
    bob, _ = await joined(clients, server.url, "bob")
    cid, _ = await joined(clients, server.url, "cid")
    for ws, users in ((ana1, ["bob", "cid"]), (ana2, ["bob", "cid"]), (bob, ["cid"])):
        for user in users:
            await presence(ws, user, True)
    await send_json(ana1, {"type": "typing"})
    for ws in (bob, cid):
        assert await recv_json(ws) == {"type": "typing", "user": "ana"}
    await silent(ana1, ana2, bob, cid)


async def test_private_typing_reaches_only_the_recipients_sessions(
    server: ServerThread, clients: Clients
) -> None:
    ana, _ = await joined(clients, server.url, "ana")
    bob1, welcome = await joined(clients, server.url, "Bob")
    bob2, _ = await tab(clients, server.url, welcome)
    cid, _ = await joined(clients, server.url, "cid")
    await presence(ana, "Bob", True)
    await presence(ana, "cid", True)
    for ws in (bob1, bob2):
        await presence(ws, "cid", True)
    await send_json(ana, {"type": "typing", "to": "BOB"})
    for ws in (bob1, bob2):  # the registered spelling, like a message's "to"
        assert await recv_json(ws) == {"type": "typing", "user": "ana", "to": "Bob"}
    await silent(ana, bob1, bob2, cid)
    await send_json(ana, {"type": "typing", "to": "ana"})  # to oneself: nobody
    await silent(ana, bob1, bob2, cid)


async def test_typing_to_a_name_never_registered_is_unknown_user(
    server: ServerThread, clients: Clients
) -> None:
    ana, _ = await joined(clients, server.url, "ana")
    for to in ("ninguem", "nome inválido"):
        await send_json(ana, {"type": "typing", "to": to, "ref": "t-1"})
        error = await recv_json(ana)
        assert (error["type"], error["code"], error["ref"]) == ("error", "unknown_user", "t-1")
    await silent(ana)


async def test_at_most_one_typing_per_user_per_second_is_passed_on(
    server: ServerThread, clients: Clients
) -> None:
    ana1, ana2, bob = await ana_twice_and_bob(clients, server.url)
    for ws in (ana1, ana2, ana1, ana2, ana1):  # across the user's sessions
        await send_json(ws, {"type": "typing"})
    assert await recv_json(bob) == {"type": "typing", "user": "ana"}
    await silent(bob, ana1, ana2)  # the rest dropped silently: no error either
    # The bound is about time passing: wait out the interval, then one more passes.
    await asyncio.sleep(TYPING_INTERVAL)
    await send_json(ana2, {"type": "typing", "to": "bob"})
    assert await recv_json(bob) == {"type": "typing", "user": "ana", "to": "bob"}
    await silent(bob)


async def test_typing_is_never_stored_replayed_or_in_history(
    server: ServerThread, clients: Clients
) -> None:
    ana, _ = await joined(clients, server.url, "ana")
    bob, welcome = await joined(clients, server.url, "bob")
    await presence(ana, "bob", True)
    echo = await publish(ana, "antes")
    assert ids([await recv_json(bob)]) == [echo["id"]]
    await send_json(ana, {"type": "typing", "to": "bob"})
    assert (await recv_json(bob))["type"] == "typing"
    await bob.close()
    resume = {"epoch": welcome["epoch"], "after": echo["id"]}
    again, back = await clients.login(server.url, "bob", PW, resume=resume)
    assert back["recovered"] is True and back["last"] == echo["id"]  # typing took no id
    await send_json(again, {"type": "history", "limit": 50})
    history = await recv_json(again)
    assert [m["id"] for m in history["messages"]] == [echo["id"]]
    await silent(again)
    fresh, login = await clients.login(server.url, "bob", PW)
    assert [m["type"] for m in await read_backlog(fresh, login)] == ["message"]
    await silent(fresh)
