"""The writer (:class:`Outbox`): every live write to a connection, and what happens to one
that cannot take it.

Live frames go straight to each connection's transport and never wait (the catch-up's frames
go through websockets instead: see :class:`~wschat.server.session.Session` for the rule that
keeps the two apart). Each distinct frame is encoded once, and a burst gives each connection
ONE write (:class:`~wschat.core.fanout.Burst`, :class:`~wschat.core.fanout.Deferred`: a
broadcast is written out a chunk of sessions at a time, by :meth:`Outbox.flusher` between
other work).

Two policies decide what happens to a connection that cannot take its bytes:

- **slow reader**: one whose unsent bytes pass ``max_pending`` is closed with 4008 instead of
  being waited for, so it cannot slow anyone else or make memory grow;
- **broken write**: one whose write raised may have missed that frame, so it must not get
  later ones: it is closed with 1011, and its client resumes from the last id it saw (nothing
  lost, nothing doubled). The others of the same call are written all the same.

The inner loop over sessions is :func:`put_each`: compiled (``wschat/server/_fanout.c``) where
it was built, else :func:`put_each_py`, the same contract in Python.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable, Sequence

from websockets.asyncio.connection import Connection
from websockets.asyncio.server import ServerConnection
from websockets.protocol import State

from wschat.core.errors import CloseCode
from wschat.core.fanout import Burst, Deferred, text_frame
from wschat.server.config import FLUSH_CHUNK, ServerConfig
from wschat.server.keepalive import close_within
from wschat.server.metrics import Metrics
from wschat.server.session import Session
from wschat.server.supervise import Supervisor

__all__ = ["COMPILED", "Outbox", "direct_fd", "put_each", "put_each_py"]

log = logging.getLogger("wschat.server")

_OPEN = State.OPEN
#: Close reasons (shown by clients that print them).
SLOW_REASON = "leitor lento demais"
ERROR_REASON = "erro interno do servidor"

#: ``put_each``'s list of the sessions whose write raised, each with its exception.
Broken = list[tuple[Session, Exception]]


class Outbox:
    """Writes to the live sessions of one server, and closes those that cannot take it."""

    def __init__(self, config: ServerConfig, metrics: Metrics, supervisor: Supervisor) -> None:
        self._config = config
        self._metrics = metrics
        self._supervisor = supervisor
        self._deferred: Deferred[Session] = Deferred(self._put)
        self._flush_wanted = asyncio.Event()

    # ------------------------------------------------------------------ the live path

    def write(self, session: Session, frame: str) -> None:
        """One frame to one live session, after what it still has pending; never waits."""
        if session.catching_up:
            raise RuntimeError(f"live write to {session.sid} while it catches up")
        data = text_frame(frame)
        self._metrics.bytes_sent.inc(len(data))
        self._deferred.write_now(session, data)

    def write_many(self, sessions: Sequence[Session], frame: str) -> None:
        """The same frame to many live sessions, encoded once; never waits."""
        if not sessions:
            return
        data = text_frame(frame)
        self._metrics.bytes_sent.inc(len(data) * len(sessions))
        for session in sessions:
            self._deferred.write_now(session, data)

    def send_live(
        self, sessions: Iterable[Session], frame: str, event_id: str | None = None
    ) -> None:
        """A live frame for many sessions: written to the live ones, held by those catching up
        (with its ``event_id``, if it has one, so that the catch-up can skip what it covered)."""
        held = frame if event_id is None else (event_id, frame)
        self.write_many([s for s in sessions if s.offer(held)], frame)

    def write_burst(
        self, burst: Burst[Session], everyone: Iterable[Session], catching_up: Collection[Session]
    ) -> None:
        """One burst: each own session's frames now, the shared ones to every other session of
        ``everyone`` but ``catching_up`` (who held them), a chunk at a time."""
        for session in burst.own:
            if session.catching_up:
                raise RuntimeError(f"burst for {session.sid} while it catches up")
        shared_frames = len(burst.shared)
        own_frames = sum(map(len, burst.own.values()))
        shared, own = burst.joined()
        reached = self._deferred.add(shared, everyone, own, catching_up)
        # Counted once per burst, from its totals: never a counter update per delivery.
        self._metrics.burst(
            shared_frames * reached + own_frames,
            len(shared) * reached + sum(map(len, own.values())),
        )
        if self._deferred.flush_some(FLUSH_CHUNK):
            self._flush_wanted.set()

    def forget(self, session: Session) -> None:
        """``session`` is gone: drop what it still had pending."""
        self._deferred.forget(session)

    def pending_bytes(self) -> int:
        """The most bytes any one session is still owed by broadcasts not yet written out."""
        return self._deferred.pending_bytes()

    async def flusher(self) -> None:
        """Write out pending broadcasts, yielding to other work after each chunk (the server
        runs it as its ``flusher`` task, for its lifetime)."""
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            while self._flush_some():
                await asyncio.sleep(0)

    def _flush_some(self) -> int:
        return self._deferred.flush_some(FLUSH_CHUNK)

    # ------------------------------------------------------------------ writing and closing

    def _put(self, sessions: list[Session], data: bytes) -> None:
        """Write ``data`` to each session; close the slow (4008) and the broken (1011).

        Never raises (:class:`~wschat.core.fanout.Deferred` has already settled who is owed
        what): a session that may have missed ``data`` is closed, the rest got it.
        """
        broken: Broken = []
        try:
            slow = put_each(sessions, data, _OPEN, self._config.max_pending, broken)
        except Exception as error:  # the loop itself failed: which sessions got it is unknown
            slow, broken = [], [(session, error) for session in sessions]
        for session in slow:
            self._close_slow(session)
        for session, failure in broken:
            self._close_broken(session, failure)

    def _close_slow(self, session: Session) -> None:
        session.closing = True
        self._metrics.slow_closes.inc()
        log.info("closing %s (%s): %s", session.sid, session.user, "reader too slow")
        timeout = self._config.slow_close_timeout
        session.ws.close_timeout = timeout
        self._close(session.ws, CloseCode.SLOW_READER, SLOW_REASON, timeout)

    def _close_broken(self, session: Session, error: Exception) -> None:
        if session.closing:
            return  # already on its way out: nothing more was owed to it
        session.closing = True
        self._supervisor.report(error)
        self.close(session, CloseCode.INTERNAL_ERROR)

    def close(self, session: Session, code: int = CloseCode.INTERNAL_ERROR) -> None:
        """Close ``session`` with ``code`` (1011: it resumes from its last id) and write it
        nothing more; the close handshake runs in a task of its own."""
        session.closing = True
        self._close(session.ws, code, ERROR_REASON, self._config.close_timeout)

    def _close(self, ws: ServerConnection, code: int, reason: str, timeout: float) -> None:
        self._supervisor.spawn("close", close_within(ws, code, reason, timeout), fatal=False)


def put_each_py(
    sessions: Sequence[Session], data: bytes, open_state: State, max_pending: int,
    broken: Broken,
) -> list[Session]:
    """Write ``data`` to each session through its transport; return those whose transport
    then holds more than ``max_pending`` unsent bytes.

    Skipped, writing nothing: a session that is ``closing``, a connection that is not
    ``open_state`` or negotiated an extension (its frames would differ per connection). A
    session whose write raises an ``Exception`` is appended to ``broken`` with it, and the
    loop goes on with the next session. This is the pure-Python version; the compiled one
    (``wschat.server._fanout.put_each``, see its source) keeps the same contract and may hand
    the bytes straight to the kernel when the transport holds nothing; the tests compare them.
    """
    slow = []
    for session in sessions:
        try:
            if session.closing:
                continue
            ws = session.ws
            if ws.protocol.state is not open_state or ws.protocol.extensions:
                continue
            transport = ws.transport
            transport.write(data)
            if transport.get_write_buffer_size() > max_pending:
                slow.append(session)
        except Exception as error:
            broken.append((session, error))
    return slow


PutEach = Callable[[Sequence[Session], bytes, State, int, Broken], list[Session]]


def _compiled() -> PutEach | None:
    try:
        from wschat.server._fanout import put_each as compiled
    except ImportError:  # not built here (no compiler, Windows): the pure loop, same bytes
        return None
    return compiled


#: The inner loop the server uses: the compiled one when it was built, else the pure one.
put_each: PutEach = _compiled() or put_each_py
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
