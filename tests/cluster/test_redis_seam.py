"""A Redis node's catch-up waits for its tail: no entry twice at the seam.

The acceptance tests (tests/server/test_login.py, test_catchup.py, ...) run on Redis too
(their ``backends`` marker); this one needs two nodes of one chat and a tail made to lag, so it
runs on Redis only.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from chatkit import Clients, expect_silence, ids, publish, read_backlog
from threadkit import PW, Serve

from wschat.cluster.redis_bus import RedisBus


@pytest.mark.backends("redis")
async def test_no_double_at_the_seam_when_the_tail_lags(serve: Serve, clients: Clients) -> None:
    """A node whose tail runs behind the log (busy, far from Redis) must not deliver twice an
    entry that a joining session already got in its backlog: the catch-up waits for the tail."""
    lagging = serve(db="shared")
    other = serve(db="shared")  # same prefix: two nodes of one chat
    assert isinstance(lagging.chat.bus, RedisBus)  # the tail delivers, the writer only appends
    tail = lagging.chat.bus._tail_redis
    assert tail is not None  # connected once the node runs
    read = tail.xread

    async def lagging_read(*args: Any, **kwargs: Any) -> Any:
        reply = await read(*args, **kwargs)
        await asyncio.sleep(0.3)
        return reply

    tail.xread = lagging_read  # type: ignore[method-assign]
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
