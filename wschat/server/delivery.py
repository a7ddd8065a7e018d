"""Delivery: route each new entry to its sessions and write every burst once per connection.

Fan-out encodes each distinct frame once and gives each connection ONE write per burst, the
same bytes for every session that gets the same frames (see :mod:`wschat.core.fanout` for why
sharing frame bytes is safe). It never waits for a slow reader: a connection whose unsent
bytes pass ``max_pending`` is closed with 4008 instead, so it cannot slow anyone else.

:class:`Delivery` is also the bus's *sink* (:class:`wschat.server.bus.Sink`): whatever bus
hands over entries and presence changes, they reach the sessions through here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from websockets.asyncio.connection import Connection
from websockets.protocol import State

from wschat.core.errors import CloseCode
from wschat.core.fanout import Burst, Deferred, text_frame
from wschat.core.frames import message_frame, presence_frame, read_frame, typing_frame
from wschat.core.model import Entry, log_order
from wschat.core.names import name_key
from wschat.core.routing import Roster, read_targets, targets, typing_targets
from wschat.server.config import FLUSH_CHUNK, ServerConfig
from wschat.server.keepalive import close_within
from wschat.server.metrics import Metrics
from wschat.server.session import Session
from wschat.store import Appended

__all__ = ["COMPILED", "Delivery", "direct_fd", "put_each", "put_each_py"]

log = logging.getLogger("wschat.server")

_OPEN = State.OPEN


class Delivery:
    """Who is connected here, and every write to them.

    The sessions catching up (see :mod:`wschat.server.catchup`) get their live traffic in
    their buffer instead of on the wire; :meth:`go_live` ends that.
    """

    def __init__(self, config: ServerConfig, metrics: Metrics | None = None) -> None:
        self.config = config
        self.metrics = metrics if metrics is not None else Metrics()
        self.roster: Roster[Session] = Roster()
        self.by_sid: dict[str, Session] = {}
        #: The sessions with ``catching_up`` set, so that a public message finds them without
        #: a pass over every session.
        self.catching_up: set[Session] = set()
        self.deferred: Deferred[Session] = Deferred(self._put_each)
        self._flush_wanted = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        #: The newest read position announced here per online user key, so that an older one
        #: arriving late (two processes moving it at once) is not announced after it.
        self._reads: dict[str, tuple[int, int]] = {}

    # ------------------------------------------------------------------ sessions

    def register(self, session: Session) -> bool:
        """Start holding live traffic for ``session``; True if it is its user's first."""
        session.fd = direct_fd(session.ws)
        first = self.roster.open(session.user, session)
        self.catching_up.add(session)
        self.by_sid[session.sid] = session
        return first

    def go_live(self, session: Session) -> None:
        """From now on ``session`` gets its traffic on the wire (its buffer was seen empty)."""
        session.catching_up = False
        self.catching_up.discard(session)

    def unregister(self, session: Session) -> bool:
        """Forget ``session``; True if it was its user's last."""
        session.closing = True
        self.catching_up.discard(session)
        self.deferred.forget(session)
        self.by_sid.pop(session.sid, None)
        last = self.roster.close(session)
        if last:
            self._reads.pop(session.key, None)
        return last

    # ------------------------------------------------------------------ the bus's sink

    def deliver(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        """New log entries from the bus, as one burst; ``origin`` (a session id) gets its ref."""
        by_sid = self.by_sid
        self.fan_out(
            (by_sid.get(origin) if origin is not None else None, Appended(entry, True))
            for entry, origin in entries
        )

    def presence_changed(self, user: str, online: bool, event_id: str | None) -> None:
        """A user came or went: tell the sessions of every other user here."""
        key = name_key(user)
        self.send_live(self.roster.others(key), presence_frame(user, online), event_id)

    def read_changed(self, user: str, entry_id: str) -> None:
        """``user``'s read position moved: tell every session of theirs here (those catching
        up get it after their backlog), unless a later position was announced already."""
        key = name_key(user)
        try:
            order = log_order(entry_id)
        except ValueError:
            log.warning("ignoring a read position that is not an id: %r", entry_id)
            return
        sessions = read_targets(user, self.roster)
        if not sessions:
            return
        seen = self._reads.get(key)
        if seen is not None and order <= seen:
            return
        self._reads[key] = order
        self.send_live(sessions, read_frame(entry_id))

    def typing(self, user: str, to: str | None) -> None:
        """``user`` is typing: tell the sessions that PROTOCOL.md names, live ones only.

        A session still catching up gets nothing: a typing notice is ephemeral, so it is
        never held for later, which also keeps it out of every replay.
        """
        live = [s for s in typing_targets(user, to, self.roster) if not s.catching_up]
        if live:
            self.write_many(live, typing_frame(user, to))

    # ------------------------------------------------------------------ fan-out

    def fan_out(self, results: Iterable[tuple[Session | None, Appended]]) -> None:
        """Route each result (its sender, or None) and write them all as one burst.

        The whole burst is built and written without an await: no session can come or go in
        between, and each connection gets one write with its frames in order.
        """
        burst: Burst[Session] = Burst()
        for sender, result in results:
            self._publish(sender, result, burst)
        self._write_burst(burst)

    def _publish(self, sender: Session | None, result: Appended, burst: Burst[Session]) -> None:
        """Route a new entry to its sessions (``sender`` alone gets its ref); answer a resend.

        ``result.created`` False is a resend of a ref the store already accepted from this
        user: the original entry goes back to the session that resent it, with that ref, every
        time it is resent (that session may have seen the message without its ref, in a
        replay, or not at all); nothing was stored and nobody else hears of it.
        """
        entry = result.entry
        if not result.created:
            if sender is not None:
                burst.to_one(sender, text_frame(message_frame(entry, entry.ref)))
            return
        plain = text_frame(message_frame(entry))
        mine = None
        if sender is not None and entry.ref is not None:
            mine = text_frame(message_frame(entry, entry.ref))
        if entry.to is None:  # public: every session, without a pass over them here
            for session in self.catching_up:
                if session is not sender or mine is None:
                    session.hold(entry)
            if sender is not None and mine is not None:
                burst.to_everyone_but(sender, plain, mine)
            else:
                burst.to_everyone(plain)
            return
        for session in targets(entry, self.roster):
            if session is sender and mine is not None:
                burst.to_one(session, mine)
            elif session.catching_up:
                session.hold(entry)
            else:
                burst.to_one(session, plain)

    def _write_burst(self, burst: Burst[Session]) -> None:
        """One write per live session: its own frames now, the shared ones a chunk at a time."""
        shared_frames = len(burst.shared)
        own_frames = sum(map(len, burst.own.values()))
        shared, own = burst.joined()
        reached = self.deferred.add(shared, self.roster.all_sessions(), own, self.catching_up)
        # Counted once per burst, from its totals: never a counter update per delivery.
        self.metrics.burst(
            shared_frames * reached + own_frames,
            len(shared) * reached + sum(map(len, own.values())),
        )
        if self.deferred.flush_some(FLUSH_CHUNK):
            self._flush_wanted.set()

    async def flusher(self) -> None:
        """Write out deferred broadcasts, yielding to other work after each chunk (a task
        for the server's lifetime)."""
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            while self.deferred.flush_some(FLUSH_CHUNK):
                await asyncio.sleep(0)

    # ------------------------------------------------------------------ writing

    def write(self, session: Session, frame: str) -> None:
        """Queue one frame for one session without waiting (after its deferred broadcasts)."""
        data = text_frame(frame)
        self.metrics.bytes_sent.inc(len(data))
        self.deferred.write_now(session, data)

    def write_many(self, sessions: Sequence[Session], frame: str) -> None:
        """Write the same frame to many live sessions, encoding it once, never waiting."""
        data = text_frame(frame)
        if sessions:
            self.metrics.bytes_sent.inc(len(data) * len(sessions))
        for session in sessions:
            self.deferred.write_now(session, data)

    def send_live(
        self, sessions: Iterable[Session], frame: str, event_id: str | None = None
    ) -> None:
        """A live frame for many sessions: written now, or held by those catching up
        (with its ``event_id``, if it has one, so the catch-up can skip what it covered)."""
        held = frame if event_id is None else (event_id, frame)
        live: list[Session] = []
        for session in sessions:
            if session.catching_up:
                session.hold(held)
            else:
                live.append(session)
        self.write_many(live, frame)

    def _put_each(self, sessions: list[Session], data: bytes) -> None:
        """Write encoded frames to each session without waiting; one past ``max_pending``
        unsent bytes is closed with 4008 instead (the slow-reader policy)."""
        for session in put_each(sessions, data, _OPEN, self.config.max_pending):
            self._close_slow(session)

    def _close_slow(self, session: Session) -> None:
        session.closing = True
        self.metrics.slow_closes.inc()
        log.info("closing %s (%s): %s", session.sid, session.user, "reader too slow")
        timeout = self.config.slow_close_timeout
        session.ws.close_timeout = timeout
        self._spawn(close_within(session.ws, CloseCode.SLOW_READER, "leitor lento demais", timeout))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def put_each_py(
    sessions: Sequence[Session], data: bytes, open_state: State, max_pending: int
) -> list[Session]:
    """Write ``data`` to each session through its transport; return those whose transport
    then holds more than ``max_pending`` unsent bytes.

    Skipped, writing nothing: a session that is ``closing``, a connection that is not
    ``open_state`` or negotiated an extension (its frames would differ per connection). The
    compiled version (``wschat.server._fanout.put_each``, see its source) keeps this contract
    and may hand the bytes straight to the kernel when the transport holds nothing; this one is
    used where it was not built, and the tests compare the two.
    """
    slow = []
    for session in sessions:
        if session.closing:
            continue
        ws = session.ws
        if ws.protocol.state is not open_state or ws.protocol.extensions:
            continue
        transport = ws.transport
        transport.write(data)
        if transport.get_write_buffer_size() > max_pending:
            slow.append(session)
    return slow


def _compiled() -> Callable[[Sequence[Session], bytes, State, int], list[Session]] | None:
    try:
        from wschat.server._fanout import put_each as compiled
    except ImportError:  # not built here (no compiler, Windows): the pure loop, same bytes
        return None
    return compiled


put_each: Callable[[Sequence[Session], bytes, State, int], list[Session]] = (
    _compiled() or put_each_py
)
#: Whether the fan-out's inner loop is the compiled one (wschat/server/_fanout.c).
COMPILED = put_each is not put_each_py

#: The transports whose socket carries the WebSocket bytes as they are (plain TCP), so that
#: the compiled loop may send on it directly: uvloop's and asyncio's selector loop's.
_PLAIN_TRANSPORTS = frozenset({"uvloop.loop.TCPTransport", "asyncio.selector_events._SelectorSocketTransport"})


def direct_fd(ws: Connection) -> int:
    """The socket descriptor the compiled fan-out may write to directly, or -1.

    Only a plain TCP transport of a known loop qualifies: with TLS the socket carries
    ciphertext, and an unknown transport might buffer in ways a direct write would overtake.
    -1 also when the compiled loop is missing (nothing would use it).
    """
    transport = ws.transport
    kind = f"{type(transport).__module__}.{type(transport).__qualname__}"
    if not COMPILED or kind not in _PLAIN_TRANSPORTS or transport.get_extra_info("ssl_object"):
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (OSError, ValueError):
        return -1
