"""The router: the bus's sink, deciding which sessions of this process get each thing it hands over.

Whatever bus runs (:mod:`wschat.server.bus`), new log entries, presence changes, read
positions and typing notices reach this process' sessions through :class:`Router`: it asks
:mod:`wschat.core.routing` who gets each of them, holds them for the sessions still catching
up, and gives the rest to the :class:`~wschat.server.writer.Outbox` as one burst.

A burst that fails half-way (a bug) leaves unknown who got what. Then nothing is guessed:
the senders of its entries here get ``server_error`` with their ``ref``, every session here is
closed with 1011, and each client resumes from the last id it saw, so nobody misses or doubles
a message (:meth:`Router.resync`). The error is then raised for the task that handed the burst
over to count (see :mod:`wschat.server.supervise`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from wschat.core.errors import CloseCode, ErrorCode
from wschat.core.fanout import Burst, text_frame
from wschat.core.frames import (
    error_frame,
    message_frame,
    presence_frame,
    read_frame,
    typing_frame,
)
from wschat.core.model import Entry, log_order
from wschat.core.names import name_key
from wschat.core.routing import read_targets, targets, typing_targets
from wschat.server.registry import Registry
from wschat.server.session import Session
from wschat.server.writer import Outbox

__all__ = ["Router"]

log = logging.getLogger("wschat.server")

_NOT_DELIVERED = "erro interno ao entregar a mensagem; envie de novo"


class Router:
    """This process' :class:`~wschat.server.bus.Sink`: routes what the bus hands over to the
    sessions of ``registry``, writing through ``outbox``. No method awaits or blocks."""

    def __init__(self, registry: Registry, outbox: Outbox) -> None:
        self._registry = registry
        self._outbox = outbox
        #: The newest read position announced here per online user key, so that an older one
        #: arriving late (two processes moving it at once) is not announced after it.
        self._reads: dict[str, tuple[int, int]] = {}

    def forget(self, key: str) -> None:
        """The user's last session here left: drop what is kept for them."""
        self._reads.pop(key, None)

    # ------------------------------------------------------------------ entries

    def deliver(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        """Route new log entries (in log order, each with the id of the session that sent it,
        or None) and write them all as one burst: one write per connection.

        The burst is built and written without an await: no session comes or goes in between.
        If it fails, it is settled (see the module doc) and the error raised.
        """
        registry = self._registry
        try:
            burst: Burst[Session] = Burst()
            for entry, origin in entries:
                self._route(entry, registry.sender(origin), burst)
            self._outbox.write_burst(burst, registry.everyone(), registry.catching_up)
        except Exception:
            self._settle(entries)
            raise

    def _route(self, entry: Entry, sender: Session | None, burst: Burst[Session]) -> None:
        """Route one new entry: held by the sessions catching up, in the burst for the others;
        ``sender`` alone gets it with its ``ref``."""
        plain = text_frame(message_frame(entry))
        mine = None
        if sender is not None and entry.ref is not None:
            mine = text_frame(message_frame(entry, entry.ref))
        registry = self._registry
        if entry.to is None:  # public: every session, without a pass over them here
            for session in registry.catching_up:
                if session is not sender or mine is None:
                    session.hold(entry)
            if sender is not None and mine is not None:
                burst.to_everyone_but(sender, plain, mine)
            else:
                burst.to_everyone(plain)
            return
        for session in targets(entry, registry.roster):
            if session is sender and mine is not None:
                burst.to_one(session, mine)
            elif session.offer(entry):
                burst.to_one(session, plain)

    def _settle(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        for entry, origin in entries:
            sender = self._registry.sender(origin)
            if sender is not None and not (sender.catching_up or sender.closing):
                self._outbox.write(sender, error_frame(
                    ErrorCode.SERVER_ERROR, _NOT_DELIVERED, entry.ref))
        self.resync()

    def resync(self) -> None:
        """Every session here may have missed something: close each with 1011. Its client
        resumes from the last id it saw and gets exactly what it missed (PROTOCOL.md)."""
        sessions = [s for s in self._registry.everyone() if not s.closing]
        if sessions:
            log.warning("closing %d sessions with 1011 so that they resume", len(sessions))
        for session in sessions:
            self._outbox.close(session, CloseCode.INTERNAL_ERROR)

    # ------------------------------------------------------------------ notices

    def presence_changed(self, user: str, online: bool, event_id: str | None) -> None:
        """A user came or went: tell the sessions of every other user here."""
        others = self._registry.roster.others(name_key(user))
        try:
            self._outbox.send_live(others, presence_frame(user, online), event_id)
        except Exception:
            self.resync()
            raise

    def read_changed(self, user: str, entry_id: str) -> None:
        """``user``'s read position moved: tell every session of theirs here (those catching
        up get it after their backlog), unless a later position was announced already."""
        key = name_key(user)
        try:
            order = log_order(entry_id)
        except ValueError:
            log.warning("ignoring a read position that is not an id: %r", entry_id)
            return
        sessions = read_targets(user, self._registry.roster)
        if not sessions:
            return
        seen = self._reads.get(key)
        if seen is not None and order <= seen:
            return
        self._reads[key] = order
        try:
            self._outbox.send_live(sessions, read_frame(entry_id))
        except Exception:
            self.resync()
            raise

    def typing(self, user: str, to: str | None) -> None:
        """``user`` is typing: tell the sessions that PROTOCOL.md names, live ones only.

        A session still catching up gets nothing: a typing notice is ephemeral, so it is
        never held for later, which also keeps it out of every replay (and one that a failure
        lost needs no resync).
        """
        live = [s for s in typing_targets(user, to, self._registry.roster) if not s.catching_up]
        self._outbox.write_many(live, typing_frame(user, to))
