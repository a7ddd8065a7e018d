"""The rule of a session's two writers (wschat.server.session.Session): the catch-up writes
through websockets' ``send``, the live path straight to the transport, and only the
``catching_up`` discipline keeps their frames in order.

The rule's small API is tested on its own first; then catch-up frames and live frames race for
one real session: its client stops reading in the middle of its backlog, so that the catch-up
is stuck in ``send`` with bytes queued in the transport, while messages, a private message
and a presence change arrive live; then it reads again and must see everything once, in order.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any, cast

import pytest
from chatkit import Clients, Frame, publish, recv_json, send_json, small_buffer_socket

from wschat.core.model import Entry
from wschat.server.config import ServerConfig
from wschat.server.metrics import Metrics
from wschat.server.session import Session
from wschat.server.supervise import Supervisor
from wschat.server.thread import ServerThread
from wschat.server.writer import Outbox

PW = "s3nha"
BACKLOG = 50  # the default history, about 200 KB: far more than the socket buffers below hold


def session() -> Session:
    return Session(cast(Any, None), "ana", "ana", "s-1", "token")


def test_a_session_catching_up_holds_live_items_and_goes_live_only_when_empty() -> None:
    one = session()
    entry = Entry("1", "bob", None, "oi", 0.0)
    assert one.offer(entry) is False  # held, not to be written
    assert one.offer("frame") is False
    with pytest.raises(RuntimeError, match="items held"):
        one.go_live()
    assert one.take_held() == [entry, "frame"] and one.take_held() == []
    one.go_live()
    assert one.offer(entry) is True and one.buffer is None  # live: the caller writes it


async def test_after_going_live_only_the_live_path_may_write() -> None:
    one = session()
    one.go_live()
    with pytest.raises(RuntimeError, match="after it went live"):
        await one.send_backlog("late")
    catching_up = session()
    outbox = Outbox(ServerConfig(), Metrics(), Supervisor(Metrics()))
    with pytest.raises(RuntimeError, match="while it catches up"):
        outbox.write(catching_up, "too early")


class Stuck:
    """A seam hook that makes the joiner's server-side send buffer small (so that its catch-up
    gets stuck in ``send`` while its client does not read) and says when its log was read."""

    def __init__(self, user: str) -> None:
        self.user = user
        self.loop = asyncio.get_running_loop()
        self.log_read = asyncio.Event()

    async def __call__(self, point: str, session: Session) -> None:
        if session.user != self.user:
            return
        if point == "registered":
            sock = session.ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        elif point == "log_read":
            self.loop.call_soon_threadsafe(self.log_read.set)


async def test_catch_up_and_live_frames_racing_for_one_session_arrive_in_order(
    clients: Clients,
) -> None:
    hook = Stuck("joiner")
    server = ServerThread(rate_limit=0, seam_hook=hook).start()
    try:
        await race(server, hook, clients)
    finally:
        await clients.aclose()
        await asyncio.to_thread(server.stop)


async def race(server: ServerThread, hook: Stuck, clients: Clients) -> None:
    talker, _ = await clients.login(server.url, "talker", PW)
    history = [await publish(talker, f"{n:02} " + "x" * 3990) for n in range(BACKLOG)]

    joiner = await clients.connect(server.url, sock=small_buffer_socket(server.port))
    assert joiner.transport is not None
    joiner.transport.pause_reading()  # from before its welcome: the catch-up gets stuck
    await send_json(joiner, {"type": "login", "user": "joiner", "password": PW})
    await asyncio.wait_for(hook.log_read.wait(), 10)
    assert await recv_json(talker) == {"type": "presence", "user": "joiner", "online": True}

    # Live traffic while the catch-up is stuck in the middle of the backlog.
    live = [await publish(talker, f"ao vivo {n}") for n in range(3)]
    live.append(await publish(talker, "só para você", to="joiner"))
    carol, _ = await clients.login(server.url, "carol", PW)
    assert await recv_json(talker) == {"type": "presence", "user": "carol", "online": True}

    async def held() -> tuple[bool, int, int]:
        [one] = server.chat.sessions.roster.sessions_of("joiner")
        queued = one.ws.transport.get_write_buffer_size()
        return one.catching_up, len(one.buffer or ()), queued

    catching_up, held_items, queued = await asyncio.to_thread(server.call, held)
    # The race is real: everything live is held while catch-up bytes wait in the transport.
    assert (catching_up, held_items) == (True, len(live) + 1) and queued > 0

    joiner.transport.resume_reading()
    frames = [await recv_json(joiner, timeout=10) for _ in range(1 + BACKLOG + len(live) + 1)]
    welcome, rest = frames[0], frames[1:]
    assert welcome["type"] == "welcome" and welcome["last"] == history[-1]["id"]
    expected: list[Frame] = [
        *({"type": "message", "id": m["id"]} for m in history),
        *({"type": "message", "id": m["id"]} for m in live),
        {"type": "presence", "user": "carol", "online": True},
    ]
    got = [{"type": f["type"], "id": f["id"]} if f["type"] == "message" else f for f in rest]
    assert got == expected  # the backlog, then what was held, in the order it happened

    # Now live: what comes next is written straight to the transport, after all of it.
    last = await publish(talker, "depois")
    after = await recv_json(joiner)
    assert (after["type"], after["id"]) == ("message", last["id"])
    assert json.dumps(after).count("depois") == 1
    await carol.close()
