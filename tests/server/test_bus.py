"""LocalBus: one process, presence its own, committed entries handed to the sink at once."""

from __future__ import annotations

from threadkit import BusSink, supervisor

from wschat.core.model import Draft
from wschat.core.routing import Roster
from wschat.server.bus import Joined, LocalBus
from wschat.store import MemoryStore


async def test_first_and_last_session_announce_and_mark_away() -> None:
    store = MemoryStore()
    presence: Roster[str] = Roster()
    bus = LocalBus(store, presence.online)
    sink = BusSink()
    await bus.start(sink, supervisor())

    first = presence.open("Ana", "s-1")
    assert await bus.join("Ana", "ana", "s-1", first) == Joined(["Ana"], None)
    second = presence.open("Ana", "s-2")
    await bus.join("Ana", "ana", "s-2", second)
    assert sink.presence == [("Ana", True, None)]  # a second tab announces nothing
    assert await bus.online() == ["Ana"]

    await bus.leave("Ana", "ana", "s-2", presence.close("s-2"))
    assert sink.presence == [("Ana", True, None)]
    await bus.leave("Ana", "ana", "s-1", presence.close("s-1"))
    assert sink.presence == [("Ana", True, None), ("Ana", False, None)]
    # The away mark was set: a private message now is forwarded at the next login.
    [result] = await store.append([Draft("bob", "ana", "guardada", 1.0)])
    assert await store.forwarded("ana", None) == [result.entry]
    await bus.synced(result.entry.id, None)  # returns at once: nothing to wait for
    await bus.stop()


async def test_committed_entries_reach_the_sink_at_once_as_one_run() -> None:
    store = MemoryStore()
    bus = LocalBus(store, list)
    sink = BusSink()
    await bus.start(sink, supervisor())
    results = await store.append([Draft("ana", None, "oi", 1.0), Draft("bob", None, "olá", 1.0)])
    committed = [(results[0].entry, "s-1"), (results[1].entry, None)]
    bus.committed(committed)
    assert sink.entries == committed and sink.runs == [2]  # no await: already handed over
    bus.committed([])
    assert sink.runs == [2]


async def test_reconcile_resyncs_only_when_a_failed_append_did_commit() -> None:
    store = MemoryStore()
    [old] = await store.append([Draft("ana", None, "antes", 1.0)])
    bus = LocalBus(store, list)
    sink = BusSink()
    await bus.start(sink, supervisor())  # the head at start counts as handed over
    await bus.reconcile()
    assert sink.resyncs == 0  # the log did not move: nothing was committed, nobody missed it
    [new] = await store.append([Draft("ana", None, "guardada sem entrega", 1.0)])
    await bus.reconcile()
    assert sink.resyncs == 1  # it did: every session must resume
    await bus.reconcile()
    assert sink.resyncs == 1
    bus.committed([(new.entry, None)])  # later commits keep the head in step
    await bus.reconcile()
    assert (sink.resyncs, old.entry.id < new.entry.id) == (1, True)
