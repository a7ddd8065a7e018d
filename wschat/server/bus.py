"""The bus: how committed entries and presence changes reach every process' sessions, and who is online.

Each process has a *sink*, its :class:`~wschat.server.router.Router`, which routes what it is
handed to its own sessions. A bus decides how things reach the sinks:

- :class:`LocalBus` (memory and SQLite stores, one process): the writer tells it what it just
  committed (:meth:`Bus.committed`) and it hands that to the sink at once; presence is the
  process' own, and so are read positions and typing notices: straight to the sink.
- :class:`wschat.cluster.RedisBus` (several processes on one Redis): :meth:`Bus.committed`
  does nothing, because every process tails the shared stream and hands what it reads to its
  sink, its own appends included; presence is counted across all processes, and read
  positions and typing notices travel with the presence events.

Either way the server keeps the seam rule of the catch-up: register the session first (live
items are held), read the log up to ``last``, then :meth:`Bus.synced` (everything up to
``last`` and ``Joined.floor`` has been handed to the sink), then flush what was held, skipping
what the log read covered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from wschat.core.model import Entry
from wschat.server.supervise import Supervisor
from wschat.store import Store, StoreError

__all__ = ["Bus", "Joined", "LocalBus", "Sink"]

#: LocalBus's head when the store could not say (never an id).
_UNKNOWN = "?"


@dataclass(frozen=True, slots=True)
class Joined:
    """What a new session learns when it joins: for ``welcome.online``, and the seam.

    ``floor``: the id of the newest presence event that ``online`` already reflects; the
    server skips buffered presence events up to it. None when presence events carry no id.
    """

    online: list[str]
    floor: str | None = None


class Sink(Protocol):
    """What a bus hands over (the server's :class:`~wschat.server.router.Router`). No call
    blocks. A call that fails settles its own failure first (no session is left with a gap:
    those that may have missed something are closed with 1011 and resume), then raises, for
    the caller's task to count (:mod:`wschat.server.supervise`)."""

    def deliver(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        """Route a run of new log entries, in log order, to this process' sessions; each
        comes with its ``origin``, the sending session's id (None if unknown)."""
        ...

    def resync(self) -> None:
        """Every session of this process may have missed something: close each with 1011, so
        that its client resumes from the last id it saw."""
        ...

    def presence_changed(self, user: str, online: bool, event_id: str | None) -> None:
        """Tell this process' sessions (but the user's own) that ``user`` came or went."""
        ...

    def read_changed(self, user: str, entry_id: str) -> None:
        """Tell this process' sessions of ``user`` that their read position moved to
        ``entry_id`` (a sink ignores a position older than one it already announced)."""
        ...

    def typing(self, user: str, to: str | None) -> None:
        """Tell this process' sessions that ``user`` is typing (to everyone, or to ``to``)."""
        ...


class Bus(Protocol):
    """How entries and presence changes reach every process' sink (see the module doc)."""

    async def start(self, sink: Sink, supervisor: Supervisor) -> None:
        """Begin handing entries and presence changes to ``sink``, running any task of the
        bus's own under ``supervisor``. Raises StoreError."""
        ...

    def committed(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        """The store has just committed these new entries (in log order, each with the id of
        the session that sent it): see that every process' sink gets them, once. Called by
        the writer after each commit; raises what the sink raised, if it hands them over."""
        ...

    async def reconcile(self) -> None:
        """An append failed in a way that leaves unknown whether it committed (an unexpected
        error, not a StoreError): see that no sink misses what it may have committed."""
        ...

    async def stop(self) -> None:
        """Stop; call after every session has left."""
        ...

    async def join(self, user: str, key: str, sid: str, first_here: bool) -> Joined:
        """Count a new session of ``user`` (``first_here``: its first in this process).

        Announces the user online (through the sink, here and elsewhere) if this is their first
        session anywhere, and returns who is online. Raises StoreError.
        """
        ...

    async def leave(self, user: str, key: str, sid: str, last_here: bool) -> None:
        """Forget a session; announce the user offline if it was their last one anywhere.

        Never raises: a bus that cannot reach its storage now must make it right later.
        """
        ...

    async def online(self) -> list[str]:
        """The users online anywhere, sorted case-insensitively. Raises StoreError."""
        ...

    async def synced(self, last: str | None, floor: str | None) -> None:
        """Return once every entry up to ``last`` and presence event up to ``floor`` has been
        handed to the sink (at once for a bus that hands them over synchronously)."""
        ...

    async def read_moved(self, user: str, key: str, entry_id: str) -> None:
        """Announce, to every process, that ``user``'s read position moved to ``entry_id``
        (the store has already moved it). Raises StoreError."""
        ...

    async def typing(self, user: str, key: str, to: str | None) -> None:
        """Announce, to every process, that ``user`` is typing (``to``: a registered name, as
        spelled at registration, or None). The caller has applied its per-process bound;
        a bus may drop more. Raises StoreError."""
        ...


class LocalBus:
    """One process: the writer's commits go to the sink at once, presence is this process' own."""

    def __init__(self, store: Store, online: Callable[[], list[str]]) -> None:
        """``online`` lists this process' online users (``Registry.online``)."""
        self._store = store
        self._online = online
        self._sink: Sink | None = None
        #: The log's newest id as far as the sink knows (the last entry handed to it).
        self._head: str | None = None

    @property
    def sink(self) -> Sink:
        if self._sink is None:
            raise RuntimeError("the bus is not started")
        return self._sink

    async def start(self, sink: Sink, supervisor: Supervisor) -> None:
        self._head = await self._store.head()
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None

    def committed(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        if entries:
            self._head = entries[-1][0].id
            self.sink.deliver(entries)

    async def reconcile(self) -> None:
        """Ask the log: if its head moved, the failed append did commit, and every session
        may have missed it (this process' writer is the only one appending here)."""
        try:
            head = await self._store.head()
        except StoreError:
            head = _UNKNOWN  # cannot tell: as if it moved, now and at the next failure
        if head != self._head or head == _UNKNOWN:
            self._head = head
            self.sink.resync()

    async def join(self, user: str, key: str, sid: str, first_here: bool) -> Joined:
        # The snapshot is taken before any await: every later change reaches the new session
        # through its buffer, none twice.
        online = self._online()
        if first_here:
            await self._store.came_online(key)
            self.sink.presence_changed(user, True, None)
        return Joined(online)

    async def leave(self, user: str, key: str, sid: str, last_here: bool) -> None:
        if not last_here:
            return
        with contextlib.suppress(StoreError):  # a lost away mark must not stop the notice
            await self._store.went_offline(key)
        if self._sink is not None:
            self._sink.presence_changed(user, False, None)

    async def online(self) -> list[str]:
        return self._online()

    async def synced(self, last: str | None, floor: str | None) -> None:
        return None

    async def read_moved(self, user: str, key: str, entry_id: str) -> None:
        self.sink.read_changed(user, entry_id)

    async def typing(self, user: str, key: str, to: str | None) -> None:
        self.sink.typing(user, to)
