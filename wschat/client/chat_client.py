"""An asyncio chat client for the wschat protocol, with automatic reconnection.

>>> async with ChatClient("ws://127.0.0.1:8765/ws", "ana", "s3cret") as client:
...     await client.send("oi a todos")
...     async for event in client:
...         print(event)

What the client does for its caller (PROTOCOL.md, docs/decisions.md). The decisions are made
by :class:`~wschat.client.protocol.ClientProtocol`, a state machine without I/O that the
browser's ``client_machine.js`` implements too; this module opens the connections, writes the
frames it asks for, hands its events to the caller and waits where it says to wait.

- **Login.** The first login uses the token if one was given, else the password. Every
  ``welcome`` brings a token, which the client keeps and uses for every reconnect, so a
  reconnect storm never costs the server a slow password hash. If a token is refused
  (``auth_failed``) and a password is known, the client tries the password once.
  A refused login raises :class:`LoginError` from :meth:`ChatClient.connect` or, after a
  reconnect, from the iteration.
- **Reconnection.** After close codes 1001, 1006, 1011, 1012, 1013, 4008 and network errors
  (a refused connection while the server restarts included), the client reconnects with
  exponential backoff and full jitter, resuming with ``{"epoch", "after": last_id}``. It never
  reconnects after 1000 (logout) or 4001 (login refused). The caller sees a
  :class:`Disconnected` event, then a :class:`Reconnected` event, then the replay.
- **Several servers.** Given a list of URLs (the processes of one cluster, sharing one log on
  Redis), the client connects to the first that answers and, on reconnect, moves to the next
  URL after a failed attempt and straight away after 1001 or 1012 (that server is going away
  or draining for a deploy: PROTOCOL.md, "Drain"), so it resumes on another process of the
  same log without a gap. ``url`` is the one in use.
- **No gap, no duplicate** across a dropped connection is the *server's* guarantee. This client
  does not filter duplicate ids (a client that filtered would hide server bugs); it only keeps
  ``last_id``, the id of the newest message it received (replay and history included). The one
  message it does not yield is the *acknowledgment* of a resend, described below.
- **A drop on purpose.** :meth:`ChatClient.drop` asks the server to cut the connection the
  way a network failure does (PROTOCOL.md v4 ``drop``: no close handshake, close code 1006
  on both ends), for tests and demos of the reconnection; it can hold the reconnect until the
  caller has staged what happens while the client is away. :meth:`ChatClient.cut` does the
  same from the client's side, without asking the server.
- **Sends are never lost, nor published twice.** Every send carries a ``ref`` and waits in an
  outbox until a frame with that ref comes back (the message itself, or an error). A ref comes
  back only to the session that sent it (PROTOCOL.md): the replay and history after a
  reconnect never carry refs, so they cannot tell which sends the server took. After a
  reconnect the client therefore lets the backlog arrive, then resends *every* unanswered frame
  with its same ref. The server answers each: a ref it already accepted (in the last 10
  minutes) is not stored again, the original message comes back with that ref; any other is
  stored and published now. Sends made while disconnected wait in the same outbox.
- **A resend's answer is shown once.** When the server took a send but the connection dropped
  before its answer arrived, the message reaches the client twice: in the replay (without
  ref, as every message of a backlog) and as the answer to the resend (with the ref). That
  answer is the contract's *acknowledgment* of the resend, not a second message: the client
  takes it off the outbox and does not yield it again when its id was already yielded since
  the send was first queued (:mod:`~wschat.client.outbox` tells how). Any other repeated id,
  and an answer whose id was not yielded before, is yielded as it came, so a server that
  doubled a message would still show it. Such an answer does not move ``last_id`` either (it
  is an older message). Known limit: an answer whose original was neither in the backlog nor
  yielded before (only after a reconnect that got history instead of a replay, with the
  original out of that history) is yielded and moves ``last_id`` back to it; a later resume
  may then repeat the messages after it.

Read position and typing (protocol v3) are not sends: :meth:`ChatClient.mark_read` and
:meth:`ChatClient.typing` write their frame without a ``ref`` and without the outbox, since no
answer comes back for an older read position nor for a typing notice. While disconnected,
the latest wanted read position waits and goes out after the next backlog; a typing notice is
dropped (it is ephemeral). ``read`` follows the server: the welcome's position, then every
:class:`~wschat.client.events.Read` event, from this session or another of the user's.

How the client knows the backlog is over: the message with id ``welcome.last`` is its final
message; when that message may not be sent at all (e.g. the server keeps no history), the
client also sends a ``who`` with an internal ref right after ``welcome``. Its answer comes
after the backlog, because a server answers frames only once the backlog is sent; that answer
is not shown to the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Generic, Self, TypeVar, cast, overload

from websockets.protocol import State

from wschat.client.effects import RECONNECT_CODES
from wschat.client.events import Event, Welcome
from wschat.client.exceptions import (
    ChatClientError,
    ClientClosed,
    ConnectionLost,
    DropRefused,
    LoginError,
)
from wschat.client.protocol import ClientProtocol
from wschat.client.pump import Pump
from wschat.core.requests import DEFAULT_HISTORY_LIMIT

__all__ = [
    "RECONNECT_CODES",
    "ChatClient",
    "ChatClientError",
    "ClientClosed",
    "ConnectionLost",
    "DropRefused",
    "LoginError",
]

T = TypeVar("T")


class _Shared(Generic[T]):
    """An attribute of :class:`ChatClient` kept in its :class:`ClientProtocol` (one state)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, client: None, owner: type) -> Self: ...
    @overload
    def __get__(self, client: ChatClient, owner: type) -> T: ...
    def __get__(self, client: ChatClient | None, owner: type) -> Self | T:
        if client is None:
            return self
        return cast(T, getattr(client._protocol, self._name))

    def __set__(self, client: ChatClient, value: T) -> None:
        setattr(client._protocol, self._name, value)


class ChatClient(Pump):
    """A logged-in chat connection that survives dropped connections (see the module doc).

    ``url`` is one server's address or a list of them, the processes of one cluster: see
    "Several servers" in the module doc. ``resume=(epoch, last_id)`` continues from where an
    earlier client stopped. ``backoff`` is
    ``(first, cap)`` in seconds: the n-th retry waits a random time in
    ``[0, min(cap, first * 2**n)]`` (full jitter, so clients that lost the same server do not
    all come back at the same instant). ``max_queue`` bounds the events waiting to be read;
    while it is full the client stops reading, so the server's flow control applies.

    State for callers: ``last_id``, ``epoch``, ``token``, ``connected``, ``welcome`` (the
    latest), ``close_code`` (of the latest closed connection), ``unacknowledged`` (refs),
    ``read`` (the user's read position: the welcome's, then each ``Read`` event's) and
    ``unread`` (the latest welcome's count of unread messages, capped at 10,000).
    """

    def __init__(
        self,
        url: str | Sequence[str],
        user: str,
        password: str | None = None,
        token: str | None = None,
        *,
        reconnect: bool = True,
        backoff: tuple[float, float] = (0.1, 5.0),
        resume: tuple[str, str] | None = None,
        open_timeout: float = 10.0,
        max_queue: int = 1024,
    ) -> None:
        if password is None and token is None:
            raise ValueError("give a password or a token")
        first, cap = backoff
        if not 0 < first <= cap:
            raise ValueError(f"backoff must be (first, cap) with 0 < first <= cap: {backoff!r}")
        protocol = ClientProtocol(user, password, token, resume=resume, reconnect=reconnect)
        urls = (url,) if isinstance(url, str) else tuple(url)
        super().__init__(protocol, urls, backoff=(float(first), float(cap)),
                         open_timeout=open_timeout, max_queue=max_queue)

    # ------------------------------------------------------------------ state

    # The client's state lives in its protocol; these are views of it (also settable, e.g.
    # ``password = None`` to reconnect with the token alone).
    user: _Shared[str] = _Shared()
    password: _Shared[str | None] = _Shared()
    token: _Shared[str | None] = _Shared()
    reconnect: _Shared[bool] = _Shared()
    epoch: _Shared[str | None] = _Shared()
    last_id: _Shared[str | None] = _Shared()
    welcome: _Shared[Welcome | None] = _Shared()
    close_code: _Shared[int | None] = _Shared()
    read: _Shared[str | None] = _Shared()
    unread: _Shared[int] = _Shared()

    @property
    def connected(self) -> bool:
        """True while a connection is open and logged in."""
        return self._ws is not None and self._ws.state is State.OPEN

    @property
    def queued(self) -> int:
        """How many events wait to be read (0: the caller has seen everything received)."""
        return self._events.qsize()

    @property
    def unacknowledged(self) -> tuple[str, ...]:
        """Refs of the frames sent (or waiting to be sent) that no answer has come back for."""
        return self._protocol.outbox.refs

    # ------------------------------------------------------------------ public API

    async def connect(self) -> Welcome:
        """Open the connection, log in and start receiving; return the ``welcome``.

        Raises :class:`LoginError` if the login is refused; ``OSError`` (e.g. connection
        refused), ``TimeoutError`` or a ``websockets`` ``InvalidHandshake``/``InvalidURI``
        if the server cannot be reached. The first connection is not retried: a wrong URL
        should fail at once, not after minutes of backoff.
        """
        if self._task is not None:
            raise RuntimeError("already connected")
        if self._protocol.finished:
            raise ClientClosed("this client was closed; make a new one")
        ws, welcome = await self._open_first()
        await self._take(ws)
        self._start(ws, f"wschat-client-{self.user}")
        return welcome

    async def send(self, text: str, *, to: str | None = None, ref: str | None = None) -> str:
        """Send a chat line (public, or private with ``to``); return its ref.

        A text starting with ``/`` and no ``to`` is a command (``/msg NAME TEXT``, ``/who``,
        ``/help``; for ``/logout`` call :meth:`logout`, since only the close answers it). The
        frame waits in the outbox until its answer comes back, across reconnects. Raises
        ValueError for a frame over 64 KiB, and for ``/cair``: nothing answers it but the
        lost connection, so resent from the outbox it would cut every new connection too;
        call :meth:`drop` instead.
        """
        self._check_open()
        ref = self._protocol.send(text, to, ref)
        await self._flush()
        return ref

    async def private(self, to: str, text: str) -> str:
        """Send a private message to ``to``; return its ref."""
        return await self.send(text, to=to)

    async def who(self) -> str:
        """Ask who is online (answered with :class:`Users`); return the request's ref."""
        return await self._submit({"type": "who"})

    async def help(self) -> str:
        """Ask for the help text (answered with :class:`Help`); return the request's ref.

        PROTOCOL.md has no help frame: this sends the command line ``/help``.
        """
        return await self.send("/help")

    async def history(self, before: str | None = None, limit: int = DEFAULT_HISTORY_LIMIT) -> str:
        """Ask for older messages (answered with :class:`History`); return the ref.

        The page does not move ``last_id``: it is older than what the client has seen.
        """
        return await self._submit({"type": "history", "before": before, "limit": limit})

    async def mark_read(self, entry_id: str) -> None:
        """Tell the server that this user has read up to message ``entry_id``.

        The position is per user and only moves forward: when it moves, every session of the
        user (this one included) gets a :class:`~wschat.client.events.Read` event; an older
        or equal id changes nothing and nothing comes back. An id the user cannot see comes
        back as an ``invalid_message`` :class:`~wschat.client.events.ErrorEvent`. While
        disconnected, the latest position asked for is sent after the reconnect.
        """
        self._check_open()
        self._protocol.mark_read(entry_id)
        await self._flush()

    async def typing(self, to: str | None = None) -> None:
        """Tell the other users (or ``to`` alone) that this user is typing.

        Ephemeral: the server passes on at most one per user per second and drops the rest;
        nothing is sent while disconnected. ``to`` a name never registered comes back as an
        ``unknown_user`` :class:`~wschat.client.events.ErrorEvent`.
        """
        self._check_open()
        self._protocol.typing(to)
        await self._flush()

    async def logout(self, timeout: float = 10.0) -> None:
        """Log out: the server revokes the token and closes with 1000; no reconnect.

        When no connection is open the token cannot be revoked; the client just closes.
        """
        task = self._task
        if not self._protocol.logout() or task is None:
            await self.close()
            return
        await self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            await self.close()

    async def drop(self, *, until: asyncio.Event | None = None, timeout: float = 10.0) -> None:
        """Ask the server to cut this connection as a network failure would (the ``drop``
        request of PROTOCOL.md v4), to show or test the reconnection; return once the
        connection is gone.

        The server aborts the TCP connection without a close frame, so this client records
        close code 1006 (``close_code``), exactly as after a real failure, and then reconnects
        and resumes as after any drop (a :class:`Disconnected`, a :class:`Reconnected`, then
        the replay). With ``until``, it waits for that event to be set before its first
        reconnect attempt, so the caller can make things happen while it is away.

        Raises RuntimeError if no connection is open, :class:`DropRefused` if the server
        answered with an error instead (``rate_limited``: the request counts against the
        user's send limit), TimeoutError if the connection is still open after ``timeout``.
        """
        ws = self._ws
        if ws is None or ws.state is not State.OPEN or not self._protocol.ready:
            raise RuntimeError("no open connection to drop")
        self._protocol.drop()
        self._dropped = done = asyncio.Event()
        self._hold = until
        try:
            await self._flush()  # a connection gone already: that is the goal
            await asyncio.wait_for(done.wait(), timeout)
        except BaseException:
            self._hold = None
            raise
        finally:
            self._dropped = None
        refusal = self._protocol.drop_refused
        if refusal is not None:
            self._hold = None
            raise DropRefused(refusal.code, refusal.detail)

    def cut(self, *, until: asyncio.Event | None = None) -> None:
        """Cut the connection from this side, without asking the server: the socket is
        aborted with no close handshake, so both ends see 1006 and the client reconnects and
        resumes as after :meth:`drop`. For servers without ``drop`` and for tests that need
        the cut at an exact point (say, with an answer still unread in the socket). ``until``
        as for :meth:`drop`. Raises RuntimeError if no connection is open.
        """
        ws = self._ws
        if ws is None or ws.state is not State.OPEN:
            raise RuntimeError("no open connection to cut")
        self._hold = until
        ws.transport.abort()

    async def close(self) -> None:
        """Close the connection (with 1000) and stop reconnecting. Events already received
        can still be read; then the iteration ends. Safe to call twice."""
        self._protocol.close()
        ws, task = self._ws, self._task
        # Stop the reader first: it may be waiting for room in a full event queue.
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
            if ws.close_code is not None:
                self._protocol.closed(ws.close_code, ws.close_reason or "")
        self._ws = None
        self._end()

    async def wait_acknowledged(self, timeout: float | None = None) -> bool:
        """Wait until every frame sent has been answered; False on timeout or if the client
        ended first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return not self._protocol.outbox

    async def recv(self, timeout: float | None = None) -> Event:
        """The next event. Raises TimeoutError after ``timeout`` seconds; at the end, the
        error that ended the client (:class:`LoginError`, :class:`ConnectionLost`) or
        :class:`ClientClosed`."""
        return await self._next_event(timeout)

    async def events(self) -> AsyncIterator[Event]:
        """Every event until the client ends (as ``async for event in client``)."""
        async for event in self:
            yield event

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Event:
        try:
            return await self.recv()
        except ClientClosed:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

