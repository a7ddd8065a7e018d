"""Every acceptance test of test_server.py again, on one node of the Redis store and bus.

The same tests, unchanged, prove that a node on Redis keeps the whole contract of the
single-process server (login, catch-up seam, refs, presence, history, limits). Only the
``serve`` fixture differs: each server is a RedisBus node on the session's redis-server,
under a fresh key prefix; servers started with the same ``db`` share a prefix, so a "restart
on the same database" is a restart on the same Redis data. The multi-node scenarios are in
test_cluster.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from chatkit import Clients, expect_silence, ids, publish, read_backlog
from rediskit import fresh_prefix, redis_server  # noqa: F401 - a fixture
from server.test_server import *  # noqa: F403 - the tests to run again
from server.test_server import PW, Serve

from wschat.cluster.redis_bus import RedisBus
from wschat.cluster.redis_config import RedisConfig
from wschat.server.thread import ServerThread
from wschat.teaching.redis_server import RedisServer


@pytest.fixture
def serve(serve: Serve, redis_server: RedisServer) -> Serve:  # noqa: F811 - the fixtures
    """conftest's ``serve``, making Redis nodes: ``db`` names a chat (the same ``db``, the
    same key prefix: nodes of one chat); without it each node is a chat of its own."""
    prefixes: dict[str, str] = {}

    def start(*, db: str | None = None, **config: Any) -> ServerThread:
        prefix = prefixes.setdefault(db, fresh_prefix()) if db is not None else fresh_prefix()
        store, bus = RedisConfig(redis_server.url, prefix=prefix).node()
        return serve(store=store, bus=bus, **config)

    return start


async def test_no_double_at_the_seam_when_the_tail_lags(serve: Serve, clients: Clients) -> None:
    """A node whose tail runs behind the log (busy, far from Redis) must not deliver twice an
    entry that a joining session already got in its backlog: the catch-up waits for the tail."""
    lagging = serve(db="shared")
    other = serve(db="shared")  # same prefix: two nodes of one chat
    assert isinstance(lagging.chat.bus, RedisBus)  # the tail delivers, the writer only appends
    tail = lagging.chat.bus._tail_redis  # type: ignore[attr-defined]
    read = tail.xread

    async def lagging_read(*args: Any, **kwargs: Any) -> Any:
        reply = await read(*args, **kwargs)
        await asyncio.sleep(0.3)
        return reply

    tail.xread = lagging_read
    _, first = await clients.login(lagging.url, "joiner", PW)  # keeps joiner online
    sender, _ = await clients.login(other.url, "sender", PW)
    for i in range(3):
        echo = await publish(sender, f"m{i}")  # stored, and delivered by the fast node
        joiner, welcome = await clients.login(lagging.url, "joiner", token=first["token"])
        assert welcome["last"] == echo["id"]
        backlog = await read_backlog(joiner, welcome)
        assert ids(backlog)[-1] == echo["id"]
        await expect_silence(joiner, 0.6)  # the lagging tail's copy is never sent again
        await joiner.close()
