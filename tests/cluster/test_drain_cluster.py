"""A deploy on Redis: a draining process's clients resume on another one without a gap.

Two real ``serve --redis`` processes on one real redis-server: A drains (``--drain 2``) while a
user on B keeps sending; a ChatClient given both URLs is closed by A with 1012, reconnects to B
and must then have every message of the sender exactly once, in order. A's other connections
are plain logged-in sockets, so that the ChatClient's close falls somewhere inside the window.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from chatkit import Clients, recv_json
from rediskit import Node, fresh_prefix, start_node

from wschat.client import ChatClient, Disconnected, Message, Reconnected
from wschat.teaching.redis_server import RedisServer

#: Stops its processes with POSIX signals (skipped on Windows, see tests/conftest.py).
pytestmark = pytest.mark.posix_signals

PW = "s3nha"
#: Sends per second from the user on B (pacing the load, not waiting for anything).
RATE = 20.0


async def test_clients_of_a_draining_node_resume_on_another_without_a_gap(
    redis_server: RedisServer, tmp_path: Path, clients: Clients
) -> None:
    prefix = fresh_prefix()
    a = await start_node(redis_server.url, prefix, tmp_path / "a.log", "--drain", "2")
    b = await start_node(redis_server.url, prefix, tmp_path / "b.log")
    nodes: list[Node] = [a, b]
    try:
        ana = ChatClient([a.url, b.url], "ana", PW, backoff=(0.05, 0.5))
        await ana.connect()
        assert ana.url == a.url
        for i in range(5):  # more connections on A: ana's 1012 comes somewhere in the window
            await clients.login(a.url, f"f{i}", PW)
        bob, _ = await clients.login(b.url, "bob", PW)

        sent: list[str] = []
        a.process.terminate()  # SIGTERM: A starts draining
        exited = asyncio.create_task(a.process.wait())
        while not exited.done() or len(sent) < 5:
            text = f"m{len(sent)}"
            await bob.send(json.dumps({"type": "send", "text": text}))
            sent.append(text)
            await asyncio.sleep(1 / RATE)
        assert await exited == 0
        await bob.send(json.dumps({"type": "send", "text": "fim"}))
        sent.append("fim")

        got: list[str] = []
        codes: list[int] = []
        reconnected = False
        async with asyncio.timeout(20):
            async for event in ana:
                if isinstance(event, Disconnected):
                    codes.append(event.code)
                elif isinstance(event, Reconnected):
                    reconnected = True
                elif isinstance(event, Message) and event.sender == "bob":
                    got.append(event.text)
                    if event.text == "fim":
                        break
        assert codes == [1012]
        assert reconnected and ana.url == b.url
        assert got == sent  # every message once, in order, across the drain
        await ana.close()
        # bob's session saw each of its messages come back with an id (nothing refused).
        while True:
            frame = await recv_json(bob)
            if frame.get("type") == "message" and frame["text"] == "fim":
                break
            assert frame.get("type") != "error", frame
    finally:
        for node in nodes:
            await node.stop()
