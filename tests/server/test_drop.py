"""The ``drop`` request of PROTOCOL.md v4 over real sockets, on every store and bus.

``{"type": "drop"}`` (or the command line ``/cair``) makes the server abort that one
connection's TCP without a close frame: the client sees what a network failure looks like
(1006) and the server treats it like any other lost connection. Each test runs on the memory
store, on SQLite and on a Redis node (store and bus); the last test has two Redis nodes, so the
other process sees the drop as any lost connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chatkit import (
    Clients,
    expect_close,
    expect_silence,
    ids,
    presence,
    publish,
    read_backlog,
    recv_json,
    recv_n,
    send_json,
)
from rediskit import fresh_prefix, need_redis_server
from websockets.asyncio.client import ClientConnection

from wschat.cluster.redis_config import RedisConfig
from wschat.server.thread import ServerThread
from wschat.teaching.redis_server import RedisServer

PW = "s3nha"

Serve = Callable[..., ServerThread]


@pytest.fixture(scope="module")
def redis() -> Any:
    """One redis-server for this module's Redis cases (started only when one is asked for)."""
    servers: list[RedisServer] = []

    def get() -> RedisServer:
        if not servers:
            servers.append(RedisServer(need_redis_server()).start())
        return servers[0]

    yield get
    for server in servers:
        server.stop()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def chat(request: pytest.FixtureRequest, serve: Serve, redis: Any, tmp_path: Path) -> Serve:
    """Start servers of one backend. Calls with the same ``name`` share one log (Redis:
    one key prefix, so two nodes of one chat)."""
    prefixes: dict[str, str] = {}

    def start(name: str = "chat", **config: Any) -> ServerThread:
        if request.param == "memory":
            return serve(**config)
        if request.param == "sqlite":
            return serve(db=str(tmp_path / f"{name}.db"), **config)
        prefix = prefixes.setdefault(name, fresh_prefix())
        store, bus = RedisConfig(redis().url, prefix=prefix).node()
        return serve(store=store, bus=bus, **config)

    return start


async def joined(clients: Clients, url: str, user: str, **login: Any) -> tuple[ClientConnection, Any]:
    """A login of ``user`` (the password unless ``login`` gives a token) with its backlog read."""
    if "token" not in login:
        login["password"] = PW
    ws, welcome = await clients.login(url, user, **login)
    await read_backlog(ws, welcome, (login.get("resume") or {}).get("after"))
    return ws, welcome


async def dropped(ws: ClientConnection, frame: dict[str, Any] | None = None) -> None:
    """Ask for a drop and see it happen as a network failure: no close frame, code 1006."""
    await send_json(ws, frame or {"type": "drop"})
    assert await expect_close(ws, 1006) == []  # nothing answers a drop but the lost connection
    assert ws.protocol.close_rcvd is None  # the server sent no close frame


async def test_drop_cuts_only_that_connection(chat: Serve, clients: Clients) -> None:
    server = chat()
    ana1, welcome = await joined(clients, server.url, "ana")
    ana2, _ = await joined(clients, server.url, "ana", token=welcome["token"])
    bob, _ = await joined(clients, server.url, "bob")
    for ana in (ana1, ana2):
        await presence(ana, "bob", True)
    await dropped(ana1)
    # ana still has a session: nobody is told anything, and everyone else goes on as before.
    await asyncio.gather(expect_silence(ana2), expect_silence(bob))
    echo = await publish(bob, "ainda aqui")
    assert (await recv_json(ana2))["id"] == echo["id"]
    echo = await publish(ana2, "eu também")
    assert (await recv_json(bob))["id"] == echo["id"]


async def test_cair_is_the_command_line_of_drop(chat: Serve, clients: Clients) -> None:
    server = chat()
    ana, _ = await joined(clients, server.url, "ana")
    await dropped(ana, {"type": "send", "text": "/cair", "ref": "c-1"})


async def test_presence_flaps_as_for_a_real_drop(chat: Serve, clients: Clients) -> None:
    server = chat()
    bob, _ = await joined(clients, server.url, "bob")
    ana, welcome = await joined(clients, server.url, "ana")
    await presence(bob, "ana", True)
    await dropped(ana)
    await presence(bob, "ana", False)
    await joined(clients, server.url, "ana", token=welcome["token"])
    await presence(bob, "ana", True)


async def test_the_resume_after_a_drop_recovers_exactly_what_was_sent_meanwhile(
    chat: Serve, clients: Clients
) -> None:
    server = chat()
    bob, _ = await joined(clients, server.url, "bob")
    ana, welcome = await joined(clients, server.url, "ana")
    await presence(bob, "ana", True)
    seen = await publish(bob, "antes")
    assert (await recv_json(ana))["id"] == seen["id"]
    await dropped(ana)
    await presence(bob, "ana", False)
    missed = [await publish(bob, "enquanto você caía"), await publish(bob, "psiu", to="ana")]
    resume = {"epoch": welcome["epoch"], "after": seen["id"]}
    back, again = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    assert again["recovered"] is True and again["last"] == missed[-1]["id"]
    replay = await recv_n(back, len(missed))
    assert ids(replay) == ids(missed)
    assert [m["text"] for m in replay] == ["enquanto você caía", "psiu"]
    await presence(bob, "ana", True)
    live = await publish(bob, "depois")
    assert ids([await recv_json(back)]) == [live["id"]]  # live traffic, once, after the replay
    await expect_silence(back)


async def test_drop_counts_against_the_send_limit(chat: Serve, clients: Clients) -> None:
    server = chat(rate_limit=1, burst=1)
    ana, _ = await joined(clients, server.url, "ana")
    await publish(ana, "a única deste segundo")
    await send_json(ana, {"type": "drop", "ref": "d-1"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "rate_limited", "d-1")
    # Refused, so nothing happened: the connection is open and still answers.
    await send_json(ana, {"type": "who", "ref": "w-1"})
    assert (await recv_json(ana))["ref"] == "w-1"


@pytest.mark.parametrize("first", [{"type": "drop"}, "/cair"], ids=["object", "command"])
async def test_drop_before_welcome_is_invalid_message(
    chat: Serve, clients: Clients, first: dict[str, str] | str
) -> None:
    server = chat()
    ws = await clients.connect(server.url)
    if isinstance(first, str):
        await ws.send(first)
    else:
        await send_json(ws, first)
    frames = await expect_close(ws, 4001)
    assert [(f["type"], f["code"]) for f in frames] == [("error", "invalid_message")]


async def test_another_redis_node_sees_a_drop_like_any_lost_connection(
    serve: Serve, redis: Any, clients: Clients
) -> None:
    prefix = fresh_prefix()

    def node() -> ServerThread:
        store, bus = RedisConfig(redis().url, prefix=prefix).node()
        return serve(store=store, bus=bus)

    here, there = node(), node()
    bob, _ = await joined(clients, there.url, "bob")
    ana, welcome = await joined(clients, here.url, "ana")
    await presence(bob, "ana", True)
    seen = await publish(bob, "antes")
    assert (await recv_json(ana))["id"] == seen["id"]
    await dropped(ana)
    await presence(bob, "ana", False)
    missed = await publish(bob, "do outro processo")
    resume = {"epoch": welcome["epoch"], "after": seen["id"]}
    back, again = await clients.login(there.url, "ana", token=welcome["token"], resume=resume)
    assert again["recovered"] is True
    assert ids(await read_backlog(back, again, seen["id"])) == [missed["id"]]
    await presence(bob, "ana", True)
