"""Acceptance tests of ``ref``: it comes back only to its sender, and a resend is answered with
the original message, never stored twice.

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
    read_backlog,
    recv_json,
    recv_n,
    send_json,
    silent,
    tab,
)
from threadkit import PW, Serve
from websockets.asyncio.client import ClientConnection

from wschat.server.thread import ServerThread

#: Every test here runs once per store backend (memory, SQLite, Redis: tests/conftest.py).
pytestmark = pytest.mark.backends


async def test_ref_of_64_characters_is_accepted(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    echo = await publish(ana, "oi", ref="r" * 64)
    assert echo["ref"] == "r" * 64


async def test_ref_comes_back_only_to_the_sending_session(server: ServerThread, clients: Clients) -> None:
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    for to, ref in ((None, "ref-publica"), ("bob", "ref-privada")):
        echo = await publish(ana1, "com ref", to=to, ref=ref)
        assert echo["ref"] == ref
        for sock in (ana2, bob):
            message = await recv_json(sock)
            assert message["id"] == echo["id"]
            assert message.get("ref") is None, message
    await send_json(ana1, {"type": "send", "text": "/nada", "ref": "erro-ref"})
    assert (await recv_json(ana1))["ref"] == "erro-ref"
    await silent(ana1, ana2, bob)


async def stored(ws: ClientConnection) -> list[Frame]:
    """Every message the user of ``ws`` can see, from a ``history`` page (read after all
    other frames the test expects on ``ws``)."""
    await send_json(ws, {"type": "history", "limit": 200, "ref": "stored"})
    page = await recv_json(ws)
    assert (page["type"], page["ref"], page["more"]) == ("history", "stored", False), page
    messages: list[Frame] = page["messages"]
    return messages


async def test_same_tab_resend_is_answered_with_the_original(
    server: ServerThread, clients: Clients
) -> None:
    """The sending session already got the message with its ref; a resend from it (a client
    that is not sure) is still answered, or a client written to PROTOCOL.md waits forever."""
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    original = await publish(ana1, "uma vez", ref="c-1")
    for sock in (ana2, bob):
        assert ids([await recv_json(sock)]) == [original["id"]]

    await send_json(ana1, {"type": "send", "text": "uma vez", "ref": "c-1"})
    assert await recv_json(ana1) == original  # same id, text, ts, and the ref
    await silent(ana1, ana2, bob)
    assert ids(await stored(bob)) == [original["id"]]


async def test_every_resend_is_answered_whatever_its_text_or_to(
    server: ServerThread, clients: Clients
) -> None:
    """A second, third... resend gets the original again; what comes back is the original,
    not the resend's text or recipient; nothing is stored and nobody else hears of it."""
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    original = await publish(ana, "a original", ref="c-2")
    assert ids([await recv_json(bob)]) == [original["id"]]
    resends: list[Frame] = [
        {"text": "a original"},
        {"text": "a original"},
        {"text": "outro texto"},
        {"text": "agora privada", "to": "bob"},
        {"text": "/msg bob por comando"},
    ]
    for fields in resends:
        await send_json(ana, {"type": "send", "ref": "c-2", **fields})
        assert await recv_json(ana) == original, fields
    await silent(ana, bob)
    assert ids(await stored(ana)) == [original["id"]]


async def test_resend_after_a_new_login_whose_history_showed_it_is_answered(
    server: ServerThread, clients: Clients
) -> None:
    ana, welcome = await clients.login(server.url, "ana", PW)
    original = await publish(ana, "foi aceita?", ref="c-3")
    await ana.close()
    for kind in ("token", "password"):
        credentials = {"token": welcome["token"]} if kind == "token" else {"password": PW}
        again, welcome2 = await clients.login(server.url, "ana", **credentials)
        history = await read_backlog(again, welcome2)
        assert history == [{k: v for k, v in original.items() if k != "ref"}], kind
        await send_json(again, {"type": "send", "text": "foi aceita?", "ref": "c-3"})
        assert await recv_json(again) == original, kind
        await send_json(again, {"type": "send", "text": "foi aceita?", "ref": "c-3"})
        assert await recv_json(again) == original, kind
        await expect_silence(again)
        assert ids(await stored(again)) == [original["id"]]
        await again.close()


async def test_history_replay_and_pages_never_carry_a_ref(
    server: ServerThread, clients: Clients
) -> None:
    """A ref comes back only to the session that sent it, on the message (live, or as the
    answer to a resend) or on the error: never in a login's history, a resume's replay or a
    history page, not even on the user's own messages in the session that sent them."""
    ana1, ana = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    first = await publish(ana1, "antes", ref="h-1")
    await recv_json(bob)
    mine = [
        await publish(ana1, "pública", ref="h-2"),
        await publish(ana1, "privada", to="bob", ref="h-3"),
        await publish(ana1, "para mim", to="ana", ref="h-4"),
    ]
    assert ids(await recv_n(bob, 2)) == ids(mine[:2])
    everything = [first, *mine]

    def without_ref(frames: list[Frame]) -> list[Frame]:
        return [{k: v for k, v in f.items() if k != "ref"} for f in frames]

    # The sending session's own history page.
    assert await stored(ana1) == without_ref(everything)
    # A new tab's history at login, and its history page.
    ana2, welcome = await tab(clients, server.url, ana)
    assert await read_backlog(ana2, welcome) == without_ref(everything)
    assert await stored(ana2) == without_ref(everything)
    # A resume's replay, after the sending session dropped.
    await ana1.close()
    resume = {"epoch": ana["epoch"], "after": first["id"]}
    ana3, resumed = await clients.login(server.url, "ana", token=ana["token"], resume=resume)
    assert resumed["recovered"] is True
    assert await read_backlog(ana3, resumed, after=first["id"]) == without_ref(mine)
    await silent(ana2, ana3)
    # The resends that the reconnecting client makes are each answered, to it alone.
    for echo in mine:
        await send_json(ana3, {"type": "send", "text": echo["text"], "ref": echo["ref"]})
        assert await recv_json(ana3) == echo
    await silent(ana2, ana3, bob)


async def test_the_same_ref_from_another_user_is_another_message(
    server: ServerThread, clients: Clients
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    original = await publish(ana, "uma vez", ref="c-1")
    await recv_json(bob)
    other = await publish(bob, "a minha", ref="c-1")
    assert other["id"] != original["id"]
    assert ids([await recv_json(ana)]) == [other["id"]]
    assert ids(await stored(bob)) == [original["id"], other["id"]]


async def test_resend_after_reconnect_outside_the_history_gets_the_original(
    serve: Serve, clients: Clients
) -> None:
    server = serve(history=1)
    ana, welcome = await clients.login(server.url, "ana", PW)
    original = await publish(ana, "foi aceita?", ref="c-9")
    await publish(ana, "depois")
    await ana.close()
    ana, again = await clients.login(server.url, "ana", token=welcome["token"])
    assert len(await read_backlog(ana, again)) == 1  # the original is out of the window
    await send_json(ana, {"type": "send", "text": "foi aceita?", "ref": "c-9"})
    back = await recv_json(ana)
    assert (back["type"], back["id"], back["ref"]) == ("message", original["id"], "c-9")
    await expect_silence(ana)
    await send_json(ana, {"type": "history", "limit": 10})
    assert len((await recv_json(ana))["messages"]) == 2
