"""Acceptance tests of the catch-up: resume, history, history pages and the seam between
backlog and live messages (no loss, no double).

Every test starts a real server (``ServerThread``, through the ``serve`` and ``server``
fixtures) on a free loopback port, once per store backend, and talks to it with the raw
``websockets`` client through ``chatkit``. Nothing here de-duplicates or filters what the
server sends: each assertion about "once" counts the frames exactly as they came.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

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
    tab,
)
from threadkit import PW, Serve
from websockets.asyncio.client import ClientConnection

from wschat.server.thread import ServerThread

#: Every test here runs once per store backend (memory, SQLite, Redis: tests/conftest.py).
pytestmark = pytest.mark.backends


# --------------------------------------------------------------------------- resume and history


async def test_resume_replays_exactly_the_missed_visible_messages(
    server: ServerThread, clients: Clients
) -> None:
    ana, ana_welcome = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    carol, _ = await clients.login(server.url, "carol", PW)
    await presence(ana, "bob", True)
    await presence(ana, "carol", True)
    await presence(bob, "carol", True)
    seen = await publish(ana, "antes de cair")
    for sock in (bob, carol):
        assert ids([await recv_json(sock)]) == [seen["id"]]
    await ana.close()
    await presence(bob, "ana", False)
    await presence(carol, "ana", False)

    missed = [await publish(bob, "p1")]
    await recv_json(carol)
    missed.append(await publish(bob, "para ana", to="ana"))
    await publish(bob, "para carol", to="carol")  # not visible to ana
    await recv_json(carol)
    missed.append(await publish(carol, "p2"))
    await recv_json(bob)

    resume = {"epoch": ana_welcome["epoch"], "after": seen["id"]}
    ana, welcome = await clients.login(server.url, "ana", token=ana_welcome["token"], resume=resume)
    assert welcome["recovered"] is True
    assert welcome["last"] == missed[-1]["id"]
    replay = await read_backlog(ana, welcome, after=seen["id"])
    assert ids(replay) == ids(missed)
    assert [m["text"] for m in replay] == ["p1", "para ana", "p2"]
    await expect_silence(ana)


async def test_resume_from_the_newest_id_sends_nothing(server: ServerThread, clients: Clients) -> None:
    ana, welcome = await clients.login(server.url, "ana", PW)
    echo = await publish(ana, "última")
    await ana.close()
    resume = {"epoch": welcome["epoch"], "after": echo["id"]}
    again, resumed = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    assert resumed["recovered"] is True and resumed["last"] == echo["id"]
    await expect_silence(again)


@pytest.mark.parametrize("case", ["unknown after", "other epoch"])
async def test_unrecoverable_resume_sends_history(server: ServerThread, clients: Clients, case: str) -> None:
    ana, welcome = await clients.login(server.url, "ana", PW)
    sent = [await publish(ana, f"m{i}") for i in range(3)]
    await ana.close()
    resume = {
        "unknown after": {"epoch": welcome["epoch"], "after": sent[-1]["id"] + "999999"},
        "other epoch": {"epoch": welcome["epoch"] + "-outra", "after": sent[0]["id"]},
    }[case]
    again, resumed = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    assert resumed["recovered"] is False
    assert resumed["last"] == sent[-1]["id"]
    assert ids(await read_backlog(again, resumed)) == ids(sent)
    await expect_silence(again)


async def test_more_than_max_replay_missing_is_not_recovered(serve: Serve, clients: Clients) -> None:
    server = serve(max_replay=3)
    ana, welcome = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    seen = await publish(ana, "visto")
    await recv_json(bob)
    await ana.close()
    await presence(bob, "ana", False)

    three = [await publish(bob, f"m{i}") for i in range(3)]
    resume = {"epoch": welcome["epoch"], "after": seen["id"]}
    ana, resumed = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    await presence(bob, "ana", True)
    assert resumed["recovered"] is True  # exactly max_replay missing: still a replay
    assert ids(await read_backlog(ana, resumed, after=seen["id"])) == ids(three)
    await ana.close()
    await presence(bob, "ana", False)

    four = [await publish(bob, f"n{i}") for i in range(4)]
    resume = {"epoch": welcome["epoch"], "after": three[-1]["id"]}
    ana, resumed = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    assert resumed["recovered"] is False
    everything = [seen, *three, *four]
    assert ids(await read_backlog(ana, resumed)) == ids(everything)


async def test_history_has_50_messages_by_default(server: ServerThread, clients: Clients) -> None:
    bob, _ = await clients.login(server.url, "bob", PW)
    sent = [await publish(bob, f"m{i}") for i in range(51)]
    carol, welcome = await clients.login(server.url, "carol", PW)
    assert welcome["recovered"] is False
    assert ids(await read_backlog(carol, welcome)) == ids(sent[1:])


async def test_history_window_plus_store_and_forward(serve: Serve, clients: Clients) -> None:
    server = serve(history=3)
    bob, bob_welcome = await clients.login(server.url, "bob", PW)
    ana, _ = await clients.login(server.url, "ana", PW)
    await clients.login(server.url, "carol", PW)
    await presence(bob, "ana", True)
    await presence(bob, "carol", True)
    await presence(ana, "carol", True)
    delivered_live = await publish(ana, "bob está online", to="bob")
    assert ids([await recv_json(bob)]) == [delivered_live["id"]]
    await bob.close()
    await presence(ana, "bob", False)

    stored = [await publish(ana, "guardada 1", to="bob")]
    await publish(ana, "para carol", to="carol")
    stored.append(await publish(ana, "guardada 2", to="bob"))
    public = [await publish(ana, f"q{i}") for i in range(4)]

    bob, welcome = await clients.login(server.url, "bob", token=bob_welcome["token"])
    assert welcome["recovered"] is False
    backlog = await read_backlog(bob, welcome)
    # The three newest visible messages, plus what arrived while bob had no session, in log order.
    assert ids(backlog) == ids([*stored, *public[-3:]])
    await expect_silence(bob)


async def test_history_paging(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    _carol, _ = await clients.login(server.url, "carol", PW)
    await presence(ana, "bob", True)
    await presence(ana, "carol", True)
    await presence(bob, "carol", True)
    visible: list[Frame] = []
    for i in range(3):
        visible.append(await publish(ana, f"m{i}"))
    await recv_n(bob, 3)
    await publish(bob, "entre bob e carol", to="carol")
    visible.append(await publish(ana, "m3"))
    visible.append(await publish(ana, "para bob", to="bob"))
    for i in range(4, 7):
        visible.append(await publish(ana, f"m{i}"))
    # visible to ana: m0 m1 m2 m3 (para bob) m4 m5 m6
    pages = []
    before = visible[-1]["id"]
    while True:
        await send_json(ana, {"type": "history", "before": before, "limit": 3})
        page = await recv_json(ana)
        assert page["type"] == "history"
        pages.append((ids(page["messages"]), page["more"]))
        if not page["more"]:
            break
        before = page["messages"][0]["id"]
    v = ids(visible)
    assert pages == [(v[4:7], True), (v[1:4], True), (v[0:1], False)]
    await send_json(ana, {"type": "history", "before": visible[0]["id"], "limit": 3})
    assert await recv_json(ana) == {"type": "history", "messages": [], "more": False}
    await send_json(ana, {"type": "history", "before": visible[-1]["id"], "limit": 200})
    assert ids((await recv_json(ana))["messages"]) == v[:-1]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "history", "limit": 0},
        {"type": "history", "limit": 201},
        {"type": "history", "limit": "3"},
        {"type": "history", "before": "isto não é um id", "limit": 3},
        {"type": "history", "before": 3, "limit": 3},
    ],
    ids=json.dumps,
)
async def test_bad_history_request_is_invalid_message(
    server: ServerThread, clients: Clients, frame: Frame
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await publish(ana, "algo")
    await send_json(ana, frame)
    error = await recv_json(ana)
    assert (error["type"], error["code"]) == ("error", "invalid_message")


# --------------------------------------------------------------------------- seam


@pytest.mark.parametrize("resume", [False, True], ids=["history", "replay"])
async def test_no_loss_or_double_at_the_seam(serve: Serve, clients: Clients, resume: bool) -> None:
    """Messages appended while a session joins (after it is registered for live traffic, and
    after its log read) reach it exactly once, in the order an always-connected observer saw."""
    loop = asyncio.get_running_loop()
    armed: set[str] = set()
    injected: dict[str, list[str]] = {}
    sender_ws: list[ClientConnection] = []

    async def inject(point: str) -> None:
        ws = sender_ws[0]
        injected[point] = [(await publish(ws, f"{point}-{i}"))["id"] for i in range(3)]

    async def seam_hook(point: str, session: object) -> None:
        if point in armed:
            armed.discard(point)
            # Run the sender on the test's loop and wait until the server took its messages.
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(inject(point), loop))

    server = serve(seam_hook=seam_hook)
    # The observer is an always-open session of the joining user: it sees exactly what the
    # joiner may see, in log order, and keeps the user online so no presence frames interfere.
    observer, joiner_welcome = await clients.login(server.url, "joiner", PW)
    sender, _ = await clients.login(server.url, "sender", PW)
    sender_ws.append(sender)
    await presence(observer, "sender", True)
    first, _ = await tab(clients, server.url, joiner_welcome)

    before = [await publish(sender, f"antes-{i}") for i in range(3)]
    seen = before[-1]
    assert ids(await recv_n(first, 3)) == ids(before)
    await first.close()
    while_away = [await publish(sender, f"fora-{i}") for i in range(2)]

    armed.update({"registered", "log_read"})
    kwargs: dict[str, Any] = {"token": joiner_welcome["token"]}
    if resume:
        kwargs["resume"] = {"epoch": joiner_welcome["epoch"], "after": seen["id"]}
    joiner, welcome = await clients.login(server.url, "joiner", **kwargs)
    assert not armed, "the seam hook was not called at both points"
    assert welcome["recovered"] is resume
    assert len(injected["registered"]) == len(injected["log_read"]) == 3

    everything = ids(before) + ids(while_away) + injected["registered"] + injected["log_read"]
    observed = ids(await recv_n(observer, len(everything)))
    assert observed == everything  # the log order, as the sender's echoes gave it
    expected = observed[3:] if resume else observed
    got = ids(await recv_n(joiner, len(expected)))
    await expect_silence(joiner)
    assert got == expected
    # `last` closes the backlog: what comes after it is exactly what came live.
    assert welcome["last"] in got
    backlog_end = got.index(welcome["last"]) + 1
    assert set(got[backlog_end:]) <= set(injected["log_read"])
    assert set(injected["registered"]) <= set(got[:backlog_end])
