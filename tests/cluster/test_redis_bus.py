"""RedisBus on a real redis-server: the tail, presence counted across nodes, the sweep.

Each RedisBus here is one node (normally one process); a recording sink stands for its server.
The end-to-end scenarios with real ``serve`` processes are in test_cluster.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from rediskit import fresh_prefix
from threadkit import BusSink, supervisor

from wschat.cluster.redis_bus import RedisBus
from wschat.cluster.redis_store import RedisStore
from wschat.core.model import Draft, log_order
from wschat.teaching.redis_server import RedisServer

#: The node TTL of a node that is going to die in a test (the others keep the default 15 s,
#: so a loaded machine never makes a live one look dead).
DYING_TTL = 0.6
SURVIVOR_TTL = 3.0


async def until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait until the sink saw something (the tail delivers asynchronously)."""
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


Node = tuple[RedisStore, RedisBus, BusSink]
MakeNode = Callable[..., Awaitable[Node]]


@pytest.fixture
async def make_node(redis_server: RedisServer) -> AsyncIterator[MakeNode]:
    prefix = fresh_prefix()
    started: list[Node] = []

    async def start(node_ttl: float = 15.0) -> Node:
        store = RedisStore(redis_server.url, prefix=prefix)
        await store.open()
        bus = RedisBus(store, node_ttl=node_ttl)
        sink = BusSink()
        await bus.start(sink, supervisor())
        started.append((store, bus, sink))
        return store, bus, sink

    yield start
    for store, bus, _ in started:
        await bus.stop()
        await store.close()


async def test_every_node_gets_every_entry_once_in_order_with_origin(make_node: MakeNode) -> None:
    (one, _, sink_one), (other, _, sink_other) = await make_node(), await make_node()
    appended = []
    for store, origin in ((one, "s-1"), (other, "s-2"), (one, None)):
        [result] = await store.append([Draft("ana", None, "oi", 1.0, origin=origin)])
        appended.append((result.entry, origin))
    for sink in (sink_one, sink_other):
        await until(lambda: len(sink.entries) >= 3)  # noqa: B023 - awaited in this iteration
        assert sink.entries == appended


async def test_synced_returns_once_the_tail_handed_the_entry_over(make_node: MakeNode) -> None:
    (_, bus, sink), (other, _, _) = await make_node(), await make_node()
    assert bus._tail_redis is not None
    read = bus._tail_redis.xread

    async def lagging_read(*args: Any, **kwargs: Any) -> Any:
        reply = await read(*args, **kwargs)
        await asyncio.sleep(0.05)  # a tail that lags behind the log (a busy node)
        return reply

    bus._tail_redis.xread = lagging_read  # type: ignore[method-assign]
    await other.append([Draft("bob", None, "wake the tail", 1.0)])  # ends the current XREAD
    for i in range(20):
        [result] = await other.append([Draft("bob", None, str(i), 1.0)])
        await bus.synced(result.entry.id, None)
        assert sink.entries[-1][0] == result.entry  # already delivered, not merely stored


async def test_entries_read_together_are_handed_over_in_one_call(make_node: MakeNode) -> None:
    """One XREAD that brings many entries is one burst for the server (one write per
    connection), not one per entry."""
    (_, bus, sink), (other, _, _) = await make_node(), await make_node()
    assert bus._tail_redis is not None
    read = bus._tail_redis.xread
    gate = asyncio.Event()

    async def held_read(*args: Any, **kwargs: Any) -> Any:
        await gate.wait()
        return await read(*args, **kwargs)

    [first] = await other.append([Draft("bob", None, "first", 1.0)])
    await bus.synced(first.entry.id, None)  # the tail is back in an XREAD of its own
    bus._tail_redis.xread = held_read  # type: ignore[method-assign]
    [wake] = await other.append([Draft("bob", None, "wake the tail", 1.0)])  # ends that XREAD
    await until(lambda: len(sink.entries) == 2)  # and the tail's next read waits for the gate
    appended = []
    for i in range(5):  # five commits, each its own XADD
        [result] = await other.append([Draft("bob", None, str(i), 1.0, origin=f"s-{i}")])
        appended.append((result.entry, f"s-{i}"))
    gate.set()
    await until(lambda: len(sink.entries) == 7)
    assert sink.entries == [(first.entry, None), (wake.entry, None), *appended]
    assert sink.runs == [1, 1, 5]


async def test_presence_is_counted_across_nodes(make_node: MakeNode) -> None:
    (_, bus_a, sink_a), (_, bus_b, sink_b) = await make_node(), await make_node()
    joined = await bus_a.join("Ana", "ana", "s-1", True)
    assert joined.online == ["Ana"]
    await bus_b.join("Ana", "ana", "s-2", True)  # first on B, not first in the cluster
    joined_bob = await bus_b.join("bob", "bob", "s-3", True)
    assert joined_bob.online == ["Ana", "bob"]
    assert await bus_a.online() == ["Ana", "bob"]
    await bus_a.leave("Ana", "ana", "s-1", True)  # last on A, not in the cluster
    await bus_b.leave("Ana", "ana", "s-2", True)  # the last one anywhere
    expected = [("Ana", True), ("bob", True), ("Ana", False)]
    for sink in (sink_a, sink_b):
        await until(lambda: len(sink.presence) >= 3)  # noqa: B023 - awaited in this iteration
        assert [(user, online) for user, online, _ in sink.presence] == expected
    # The floor of bob's join is the id of his own online event: what welcome.online covered.
    ids = [event_id for _, _, event_id in sink_a.presence if event_id is not None]
    assert len(ids) == len(sink_a.presence)
    assert joined_bob.floor == ids[1]
    assert sorted(ids, key=log_order) == ids


async def test_a_dead_node_is_swept_once(make_node: MakeNode) -> None:
    (_, dead, _), (_, bus_b, sink_b), (_, bus_c, sink_c) = (
        await make_node(DYING_TTL), await make_node(SURVIVOR_TTL), await make_node(SURVIVOR_TTL),
    )
    await dead.join("Ana", "ana", "s-1", True)
    await bus_b.join("bob", "bob", "s-2", True)
    await dead._halt()  # the node dies: its heartbeat stops, it says no goodbye
    for sink in (sink_b, sink_c):
        await until(lambda: ("Ana", False) in [(u, o) for u, o, _ in sink.presence])  # noqa: B023 - awaited in this iteration
    await asyncio.sleep(2.5 * SURVIVOR_TTL / 3)  # two more sweeps by each survivor: still one notice
    for sink in (sink_b, sink_c):
        assert [(u, o) for u, o, _ in sink.presence] == [("Ana", True), ("bob", True), ("Ana", False)]
    assert await bus_c.online() == ["bob"]
