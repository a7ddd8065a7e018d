"""LocalBus: one process, presence its own, the writer delivers (no tail)."""

from __future__ import annotations

from collections.abc import Sequence

from wschat.core.model import Draft, Entry
from wschat.core.routing import Roster
from wschat.server.bus import Joined, LocalBus
from wschat.store import MemoryStore


class Recorder:
    """A sink that records what it is handed."""

    def __init__(self) -> None:
        self.entries: list[tuple[Entry, str | None]] = []
        self.presence: list[tuple[str, bool, str | None]] = []
        #: How many entries each ``deliver`` call handed over.
        self.runs: list[int] = []

    def deliver(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        self.entries.extend(entries)
        self.runs.append(len(entries))

    def presence_changed(self, user: str, online: bool, event_id: str | None) -> None:
        self.presence.append((user, online, event_id))


async def test_first_and_last_session_announce_and_mark_away() -> None:
    store = MemoryStore()
    presence: Roster[str] = Roster()
    bus = LocalBus(store, presence.online)
    sink = Recorder()
    await bus.start(sink)
    assert bus.tails_log is False

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
