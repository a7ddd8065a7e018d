"""Acceptance tests of the end of a session: logout, a reader that stops reading, and the
server stopping.

Every test starts a real server (``ServerThread``, through the ``serve`` and ``server``
fixtures) on a free loopback port, once per store backend, and talks to it with the raw
``websockets`` client through ``chatkit``. Nothing here de-duplicates or filters what the
server sends: each assertion about "once" counts the frames exactly as they came.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from chatkit import (
    Clients,
    Frame,
    expect_close,
    ids,
    login_error,
    presence,
    publish,
    recv_n,
    send_json,
    small_buffer_socket,
)
from threadkit import PW, Serve

from wschat.server.thread import ServerThread

#: Every test here runs once per store backend (memory, SQLite, Redis: tests/conftest.py).
pytestmark = pytest.mark.backends


@pytest.mark.parametrize("frame", [{"type": "logout"}, {"type": "send", "text": "/logout"}], ids=["object", "command"])
async def test_logout_revokes_the_token_and_closes_1000(
    server: ServerThread, clients: Clients, frame: Frame
) -> None:
    ws, welcome = await clients.login(server.url, "ana", PW)
    await send_json(ws, frame)
    assert await expect_close(ws, 1000) == []
    bad = json.dumps({"type": "login", "user": "ana", "token": welcome["token"]})
    await login_error(clients, server.url, bad, "auth_failed")


# --------------------------------------------------------------------------- slow readers


async def test_reader_that_stops_reading_is_closed_4008(serve: Serve, clients: Clients) -> None:
    server = serve(max_pending=64 * 1024, rate_limit=0)
    slow, _ = await clients.login(server.url, "slow", PW, sock=small_buffer_socket(server.port))
    fast, _ = await clients.login(server.url, "fast", PW)
    sender, _ = await clients.login(server.url, "sender", PW)
    await presence(slow, "fast", True)
    await presence(slow, "sender", True)
    await presence(fast, "sender", True)
    assert slow.transport is not None
    slow.transport.pause_reading()  # the application stops reading: bytes pile up in the server

    # More than the kernel buffers on both ends hold (a few MiB), so the excess piles up
    # in the server's own write buffer and passes max_pending.
    count = 2000
    text = "x" * 4000

    async def send_all() -> list[Frame]:
        # One at a time (each waits for its echo), so the sender itself never lags behind.
        return [await publish(sender, text) for _ in range(count)]

    echoes, received = await asyncio.gather(send_all(), recv_n(fast, count, timeout=20))
    assert ids(received) == ids(echoes)  # the fast reader is not held back and gets everything

    slow.transport.resume_reading()
    frames = await expect_close(slow, 4008, timeout=10)
    got = ids(f for f in frames if f.get("type") == "message")
    assert got == ids(echoes)[: len(got)] and len(got) < count  # a prefix, no gaps or doubles
    await presence(fast, "slow", False)
    await publish(fast, "o servidor segue servindo")


# --------------------------------------------------------------------------- shutdown


async def test_stop_closes_clients_with_1001(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    stopping = asyncio.create_task(asyncio.to_thread(server.stop))
    await asyncio.gather(expect_close(ana, 1001), expect_close(bob, 1001))
    await stopping
