"""The bus: how a server process learns what to deliver to its sessions, and who is online.

The server's :class:`~wschat.server.delivery.Delivery` is the *sink*: it routes each log entry
and presence change it is handed to its own sessions. A bus decides where those come from:

- :class:`LocalBus` (memory and SQLite stores, one process): the server's own writer hands
  each appended entry to the sink right after the commit, and presence is the process' own.
  So are read positions and typing notices: they go straight to the sink.
- :class:`wschat.cluster.RedisBus` (several processes on one Redis): every process tails the
  shared stream, so entries appended by *any* process, this one included, come back through
  the tail; presence is counted across all processes, and read positions and typing notices
  travel with the presence events, so that every process hands them to its sessions.

Either way the server keeps the seam rule of the catch-up: register the session first (live
items are buffered), read the log up to ``last``, then :meth:`Bus.synced` (everything up to
``last`` and ``Joined.floor`` has been handed to the sink), then flush the buffer skipping what
the log read covered.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from wschat.core.model import Entry
from wschat.store import Store, StoreError

__all__ = ["Bus", "Joined", "LocalBus", "Sink"]


@dataclass(frozen=True, slots=True)
class Joined:
    """What a new session learns when it joins: for ``welcome.online``, and the seam.

    ``floor``: the id of the newest presence event that ``online`` already reflects; the
    server skips buffered presence events up to it. None when presence events carry no id.
    """

    online: list[str]
    floor: str | None = None


class Sink(Protocol):
    """What a bus hands over (the chat server implements it). Both calls must not block."""

    def deliver(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        """Route a run of new log entries, in log order, to this process' sessions; each
        comes with its ``origin``, the sending session's id (None if unknown)."""
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
    """Where entries and presence changes come from (see the module doc)."""

    #: True when appended entries come back through the bus: the writer must not deliver them.
    tails_log: bool

    async def start(self, sink: Sink) -> None:
        """Begin handing entries and presence changes to ``sink``. Raises StoreError."""
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
    """One process: presence is this process' own and the writer delivers what it appends."""

    tails_log = False

    def __init__(self, store: Store, online: Callable[[], list[str]]) -> None:
        """``online`` lists this process' online users (``Presence.online``)."""
        self._store = store
        self._online = online
        self._sink: Sink | None = None

    @property
    def sink(self) -> Sink:
        if self._sink is None:
            raise RuntimeError("the bus is not started")
        return self._sink

    async def start(self, sink: Sink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        self._sink = None

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
