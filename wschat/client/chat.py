"""An asyncio chat client for the wschat protocol, with automatic reconnection.

>>> async with ChatClient("ws://127.0.0.1:8765/ws", "ana", "s3cret") as client:
...     await client.send("oi a todos")
...     async for event in client:
...         print(event)

What the client does for its caller (PROTOCOL.md, docs/decisions.md):

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
  the send was first queued. This applies only to a message carrying one of this client's own
  pending refs; any other repeated id, and an answer whose id was not yielded before, is
  yielded as it came, so a server that doubled a message would still show it. To know "yielded
  since the send was queued" the client keeps the ids of the messages yielded while some send
  was waiting, and forgets each as soon as no waiting send is older than it: nothing is kept
  while the outbox is empty. Such an answer does not move ``last_id`` either (it is an older
  message). Known limit: an answer whose original was neither in the backlog nor yielded
  before (only after a reconnect that got history instead of a replay, with the original out
  of that history) is yielded and moves ``last_id`` back to it; a later resume may then
  repeat the messages after it.

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
import collections
import contextlib
import itertools
import json
import logging
import random
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, NoReturn, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.protocol import State

from wschat.client.events import (
    Disconnected,
    Error,
    Event,
    Message,
    Read,
    Reconnected,
    Welcome,
    parse_event,
)
from wschat.core.commands import parse_command
from wschat.core.defaults import MAX_FRAME
from wschat.core.errors import CloseCode, ErrorCode, WschatError
from wschat.core.events import Drop
from wschat.core.model import log_order

__all__ = [
    "RECONNECT_CODES",
    "ChatClient",
    "ChatClientError",
    "ClientClosed",
    "ConnectionLost",
    "DropRefused",
    "LoginError",
]

log = logging.getLogger("wschat.client")

#: Close codes after which a client reconnects and resumes (PROTOCOL.md).
RECONNECT_CODES: Final = frozenset({
    CloseCode.GOING_AWAY, CloseCode.ABNORMAL, CloseCode.INTERNAL_ERROR,
    CloseCode.SERVICE_RESTART, CloseCode.TRY_AGAIN_LATER, CloseCode.SLOW_READER,
})

#: Largest frame accepted from the server: a ``history`` page of 200 messages of 4,000
#: code points each is up to about 3.3 MB of UTF-8.
MAX_INCOMING: Final = 8 * 1024 * 1024

#: Errors of one connection attempt that mean "try again later", not "give up".
_RETRYABLE: Final = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed)


class ChatClientError(WschatError):
    """Base class of the client's errors."""


class LoginError(ChatClientError):
    """The server refused the login (close code 4001). ``code`` is the protocol's error code
    (``auth_failed``, ``invalid_name``, ``rate_limited``...), ``detail`` its explanation."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"login refused ({code}): {detail}")
        self.code = code
        self.detail = detail


class ConnectionLost(ChatClientError):
    """The connection closed with a code after which the client does not reconnect (or it
    was built with ``reconnect=False``)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed ({code}){': ' + reason if reason else ''}")
        self.code = code
        self.reason = reason


class ClientClosed(ChatClientError):
    """The client is closed and every event it received has been read."""


class DropRefused(ChatClientError):
    """The server answered :meth:`ChatClient.drop` with an error (``rate_limited``) instead of
    cutting the connection; the connection stays open."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"drop refused ({code}): {detail}")
        self.code = code
        self.detail = detail


@dataclass(eq=False)
class _Outgoing:
    """A frame waiting for its answer. ``gen`` is the connection it was last written on."""

    ref: str
    frame: str
    gen: int = -1
    #: How many messages the client had yielded when this frame was queued: a message yielded
    #: at that count or later was yielded "since the send was queued".
    since: int = 0


@dataclass(eq=False)
class _DropRequest:
    """A ``drop`` asked for: done once the connection ended, or the server refused it."""

    ref: str
    done: asyncio.Event = field(default_factory=asyncio.Event)
    error: Error | None = None


class _End:
    """Marks the end of the event queue."""


_END: Final = _End()


class ChatClient:
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
        self.urls: tuple[str, ...] = (url,) if isinstance(url, str) else tuple(url)
        if not self.urls:
            raise ValueError("give at least one URL")
        self.url = self.urls[0]
        self.user = user
        self.password = password
        self.token = token
        self.reconnect = reconnect
        self.backoff = (float(first), float(cap))
        self.open_timeout = open_timeout
        self.epoch: str | None = resume[0] if resume else None
        self.last_id: str | None = resume[1] if resume else None
        self.welcome: Welcome | None = None
        self.close_code: int | None = None
        self.read: str | None = None
        self.unread: int = 0
        self._want_read: str | None = None  # a read position still to send (after a drop)

        self._ws: ClientConnection | None = None
        self._gen = 0  # increases with every connection, so a frame is written once on each
        self._ready = False  # logged in and backlog over: the outbox may be written
        self._outbox: dict[str, _Outgoing] = {}
        self._idle = asyncio.Event()  # set while the outbox is empty (or the client ended)
        self._idle.set()
        self._write_lock = asyncio.Lock()  # keeps the outbox's order on the wire
        self._events: asyncio.Queue[Event | _End] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._finished = False
        self._error: ChatClientError | None = None
        self._closing = False
        self._logging_out = False
        self._counter = itertools.count(1)
        # Messages yielded so far, and the ids of those yielded while some send was waiting
        # (id -> count at its latest yield, plus the same pairs in yield order for pruning):
        # what is needed to recognise the answer to a resend that was already yielded.
        self._yielded = 0
        self._recent: dict[str, int] = {}
        self._recent_order: collections.deque[tuple[int, str]] = collections.deque()
        # The catch-up phase of the current connection.
        self._backlog_last: str | None = None  # welcome.last while the backlog is arriving
        self._backlog_open = False
        self._seen_in_backlog = False
        self._barrier: str | None = None
        self._resumed_from: str | None = None
        self._hold: asyncio.Event | None = None  # set by drop(until=...): wait before reconnecting
        self._drop: _DropRequest | None = None  # a drop() waiting for its connection to end

    # ------------------------------------------------------------------ public API

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
        return tuple(self._outbox)

    async def connect(self) -> Welcome:
        """Open the connection, log in and start receiving; return the ``welcome``.

        Raises :class:`LoginError` if the login is refused; ``OSError`` (e.g. connection
        refused), ``TimeoutError`` or a ``websockets`` ``InvalidHandshake``/``InvalidURI``
        if the server cannot be reached. The first connection is not retried: a wrong URL
        should fail at once, not after minutes of backoff.
        """
        if self._task is not None:
            raise RuntimeError("already connected")
        if self._finished:
            raise ClientClosed("this client was closed; make a new one")
        ws, welcome = await self._open_first()
        await self._start_session(ws, welcome)
        self._task = asyncio.create_task(self._run(ws), name=f"wschat-client-{self.user}")
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
        if to is None and text.startswith("/") and isinstance(parse_command(text, None), Drop):
            raise ValueError("/cair cuts the connection and has no answer: call drop() instead")
        frame: dict[str, object] = {"type": "send", "text": text}
        if to is not None:
            frame["to"] = to
        return await self._submit(frame, ref)

    async def private(self, to: str, text: str) -> str:
        """Send a private message to ``to``; return its ref."""
        return await self.send(text, to=to)

    async def who(self) -> str:
        """Ask who is online (answered with :class:`Users`); return the request's ref."""
        return await self._submit({"type": "who"}, None)

    async def help(self) -> str:
        """Ask for the help text (answered with :class:`Help`); return the request's ref.

        PROTOCOL.md has no help frame: this sends the command line ``/help``.
        """
        return await self.send("/help")

    async def history(self, before: str | None = None, limit: int = 50) -> str:
        """Ask for older messages (answered with :class:`History`); return the ref.

        The page does not move ``last_id``: it is older than what the client has seen.
        """
        return await self._submit({"type": "history", "before": before, "limit": limit}, None)

    async def mark_read(self, entry_id: str) -> None:
        """Tell the server that this user has read up to message ``entry_id``.

        The position is per user and only moves forward: when it moves, every session of the
        user (this one included) gets a :class:`~wschat.client.events.Read` event; an older
        or equal id changes nothing and nothing comes back. An id the user cannot see comes
        back as an ``invalid_message`` :class:`~wschat.client.events.Error`. While
        disconnected, the latest position asked for is sent after the reconnect.
        """
        if self._finished:
            self._raise_end()
        self._want_read = entry_id
        if await self._write_now({"type": "read", "id": entry_id}):
            self._want_read = None

    async def typing(self, to: str | None = None) -> None:
        """Tell the other users (or ``to`` alone) that this user is typing.

        Ephemeral: the server passes on at most one per user per second and drops the rest;
        nothing is sent while disconnected. ``to`` a name never registered comes back as an
        ``unknown_user`` :class:`~wschat.client.events.Error`.
        """
        if self._finished:
            self._raise_end()
        frame: dict[str, object] = {"type": "typing"}
        if to is not None:
            frame["to"] = to
        await self._write_now(frame)

    async def _write_now(self, obj: dict[str, object]) -> bool:
        """Write a frame that has no answer now, if logged in with the backlog over; True if
        it was written."""
        async with self._write_lock:
            ws = self._ws
            if ws is None or not self._ready:
                return False
            try:
                await ws.send(json.dumps(obj, ensure_ascii=False))
            except ConnectionClosed:
                return False
            return True

    async def logout(self, timeout: float = 10.0) -> None:
        """Log out: the server revokes the token and closes with 1000; no reconnect.

        When no connection is open the token cannot be revoked; the client just closes.
        """
        self._logging_out = True
        ws, task = self._ws, self._task
        if ws is None or task is None:
            await self.close()
            return
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"type": "logout"}))
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout)
        except TimeoutError:
            await self.close()
        self.token = None

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
        if ws is None or ws.state is not State.OPEN or not self._ready:
            raise RuntimeError("no open connection to drop")
        ref = f"drop-{self._gen}-{secrets.token_hex(4)}"
        self._drop = _DropRequest(ref)
        self._hold = until
        try:
            async with self._write_lock:
                with contextlib.suppress(ConnectionClosed):  # gone already: that is the goal
                    await ws.send(json.dumps({"type": "drop", "ref": ref}))
            await asyncio.wait_for(self._drop.done.wait(), timeout)
        except BaseException:
            self._hold = None
            raise
        finally:
            request, self._drop = self._drop, None
        if request.error is not None:
            self._hold = None
            raise DropRefused(request.error.code, request.error.detail)

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
        self._closing = True
        ws, task = self._ws, self._task
        # Stop the reader first: it may be waiting for room in a full event queue.
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
            self.close_code = ws.close_code
        self._ws = None
        self._ready = False
        self._finish(None)

    async def wait_acknowledged(self, timeout: float | None = None) -> bool:
        """Wait until every frame sent has been answered; False on timeout or if the client
        ended first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        return not self._outbox

    async def recv(self, timeout: float | None = None) -> Event:
        """The next event. Raises TimeoutError after ``timeout`` seconds; at the end, the
        error that ended the client (:class:`LoginError`, :class:`ConnectionLost`) or
        :class:`ClientClosed`."""
        if self._finished and self._events.empty():
            self._raise_end()
        item = await asyncio.wait_for(self._events.get(), timeout)
        if isinstance(item, _End):
            self._raise_end()
        return item

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

    # ------------------------------------------------------------------ sending

    def _new_ref(self) -> str:
        return f"c-{next(self._counter)}-{secrets.token_hex(4)}"

    async def _submit(self, obj: dict[str, object], ref: str | None) -> str:
        """Put one frame in the outbox and write it now if the connection is ready."""
        if self._finished:
            self._raise_end()
        ref = ref if ref is not None else self._new_ref()
        frame = json.dumps({**obj, "ref": ref}, ensure_ascii=False)
        if len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME:
            raise ValueError("message too long: a frame may not exceed 64 KiB")
        out = self._outbox.get(ref)
        if out is None:
            out = self._outbox[ref] = _Outgoing(ref, frame, since=self._yielded)
            self._idle.clear()
        if not self._ready:
            return ref  # goes out once the connection is ready (see _flush)
        async with self._write_lock:
            ws = self._ws
            if ws is not None and self._ready and out.gen != self._gen and ref in self._outbox:
                out.gen = self._gen
                with contextlib.suppress(ConnectionClosed):  # resent after the reconnect
                    await ws.send(out.frame)
        return ref

    async def _flush(self, ws: ClientConnection) -> None:
        """Write, in order, what the outbox holds and this connection has not carried yet;
        then let sends go straight out."""
        async with self._write_lock:
            gen = self._gen
            while True:
                unsent = [out for out in self._outbox.values() if out.gen != gen]
                if not unsent:
                    break
                for out in unsent:
                    if self._ws is not ws:
                        return  # another connection took over; it flushes for itself
                    if out.ref not in self._outbox:  # answered while a send was awaited
                        continue
                    out.gen = gen
                    try:
                        await ws.send(out.frame)
                    except ConnectionClosed:
                        return  # the reader sees the close and reconnects
            if self._ws is ws:
                self._ready = True
                wanted = self._want_read
                if wanted is not None:
                    with contextlib.suppress(ConnectionClosed):
                        await ws.send(json.dumps({"type": "read", "id": wanted}))
                        self._want_read = None

    def _acknowledge(self, ref: str | None) -> None:
        if ref is None or self._outbox.pop(ref, None) is None:
            return
        if not self._outbox:
            self._idle.set()
        # Forget the ids yielded before the oldest send still waiting was queued (all of them
        # when none waits): no answer can need them any more. The outbox keeps insertion
        # order, so its first frame is the oldest.
        oldest = next(iter(self._outbox.values()), None)
        floor = oldest.since if oldest is not None else self._yielded
        recent, order = self._recent, self._recent_order
        while order and order[0][0] < floor:
            count, message_id = order.popleft()
            if recent.get(message_id) == count:
                del recent[message_id]

    def _already_yielded(self, message: Message) -> bool:
        """True if ``message`` answers a waiting send of this client and its id was yielded
        since that send was queued: the acknowledgment of a resend (see the module doc)."""
        out = self._outbox.get(message.ref) if message.ref is not None else None
        if out is None:
            return False
        count = self._recent.get(message.id)
        return count is not None and count >= out.since

    def _yielding(self, message: Message) -> None:
        """Count ``message`` as yielded, remembering its id while some send waits."""
        if self._outbox:
            self._recent[message.id] = self._yielded
            self._recent_order.append((self._yielded, message.id))
        self._yielded += 1

    # ------------------------------------------------------------------ connecting

    async def _open_first(self) -> tuple[ClientConnection, Welcome]:
        """The first connection: each URL once, in order; the last one's error if none answers."""
        for index, url in enumerate(self.urls):
            self.url = url
            try:
                return await self._open()
            except (OSError, TimeoutError, InvalidHandshake) as error:
                if index == len(self.urls) - 1:
                    raise
                log.info("cannot reach %s (%r); trying %s", url, error, self.urls[index + 1])
        raise AssertionError("unreachable: self.urls is never empty")

    def _next_url(self) -> None:
        """Move on to the next URL of the list (round robin; nothing with one URL)."""
        index = self.urls.index(self.url)
        self.url = self.urls[(index + 1) % len(self.urls)]

    async def _open(self) -> tuple[ClientConnection, Welcome]:
        """One connection attempt: the token if known (the password once if it is refused),
        else the password."""
        if self.token is not None:
            try:
                return await self._attempt("token", self.token)
            except LoginError as error:
                if error.code != ErrorCode.AUTH_FAILED or self.password is None:
                    raise
                log.info("token refused; logging in with the password")
                self.token = None
        if self.password is None:
            raise LoginError(ErrorCode.AUTH_FAILED, "no password and no valid token")
        return await self._attempt("password", self.password)

    async def _attempt(self, kind: str, secret: str) -> tuple[ClientConnection, Welcome]:
        login: dict[str, object] = {"type": "login", "user": self.user, kind: secret}
        self._resumed_from = None
        if self.epoch is not None and self.last_id is not None:
            login["resume"] = {"epoch": self.epoch, "after": self.last_id}
            self._resumed_from = self.last_id
        ws = await connect(
            self.url,
            open_timeout=self.open_timeout,
            max_size=MAX_INCOMING,
            compression=None,  # chat frames are small; the server does not compress either
        )
        try:
            await ws.send(json.dumps(login, ensure_ascii=False))
            raw = await asyncio.wait_for(ws.recv(), self.open_timeout)
        except ConnectionClosed as closed:
            if closed.rcvd is not None and closed.rcvd.code == CloseCode.LOGIN_FAILED:
                raise LoginError(ErrorCode.LOGIN_REQUIRED, closed.rcvd.reason) from None
            raise
        except BaseException:
            ws.transport.abort()
            raise
        answer = parse_event(raw) if isinstance(raw, str) else None
        if isinstance(answer, Welcome):
            return ws, answer
        # A refused login is one error frame, then close 4001: wait for the close briefly.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), self.open_timeout)
        ws.transport.abort()
        self.close_code = ws.close_code
        if isinstance(answer, Error):
            raise LoginError(answer.code, answer.detail)
        raise ChatClientError(f"unexpected answer to login: {raw!r:.200}")

    async def _start_session(self, ws: ClientConnection, welcome: Welcome) -> None:
        """Take a new connection into use: state from ``welcome``, then wait for the backlog
        (or flush the outbox at once when there is none)."""
        self._ws = ws
        self._gen += 1
        self._ready = False
        self.welcome = welcome
        self.token = welcome.token
        self.read = welcome.read
        self.unread = welcome.unread
        resumed_from = self._resumed_from if welcome.epoch == self.epoch else None
        self.epoch = welcome.epoch
        if not welcome.recovered:
            self.last_id = None  # history follows; an old position means nothing now
        self._backlog_last = welcome.last
        self._seen_in_backlog = False
        no_backlog = welcome.last is None or (welcome.recovered and resumed_from == welcome.last)
        if no_backlog:
            self._backlog_open = False
            await self._flush(ws)
            return
        self._backlog_open = True
        self._barrier = f"sync-{self._gen}-{secrets.token_hex(4)}"
        with contextlib.suppress(ConnectionClosed):
            await ws.send(json.dumps({"type": "who", "ref": self._barrier}))

    async def _backlog_over(self, ws: ClientConnection) -> None:
        self._backlog_open = False
        if not self._seen_in_backlog and self._backlog_last is not None:
            # The server showed everything up to welcome.last it meant to show (e.g. no
            # history at all): resuming from there is exactly right.
            self.last_id = self._backlog_last
        await self._flush(ws)

    # ------------------------------------------------------------------ receiving

    async def _run(self, ws: ClientConnection) -> None:
        """Read frames; reconnect after a drop; end the client when there is no way on."""
        try:
            while True:
                code, reason = await self._read(ws)
                self._ws = None
                self._ready = False
                self.close_code = code
                if self._drop is not None:
                    self._drop.done.set()
                if self._closing or self._logging_out or code == CloseCode.NORMAL:
                    self._finish(None)
                    return
                if not self.reconnect or code not in RECONNECT_CODES:
                    self._finish(ConnectionLost(code, reason))
                    return
                log.info("connection closed (%s %s); reconnecting", code, reason)
                if code in (CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART):
                    self._next_url()  # that server is leaving: go to another at once
                await self._events.put(Disconnected(code, reason))
                ws = await self._reconnect()
        except ChatClientError as error:  # a refused login, an unexpected answer to one
            self._finish(error)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug: end the client visibly instead of hanging
            log.exception("chat client stopped")
            self._finish(ChatClientError(f"client failed: {error!r}"))

    async def _read(self, ws: ClientConnection) -> tuple[int, str]:
        """Handle frames until the connection closes; return its close code and reason."""
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    await self._on_frame(ws, raw)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        return ws.close_code or CloseCode.ABNORMAL, ws.close_reason or ""

    async def _reconnect(self) -> ClientConnection:
        hold, self._hold = self._hold, None
        if hold is not None:
            await hold.wait()
        attempt = 0
        while True:
            await self._wait_before_retry(attempt)
            attempt += 1
            try:
                ws, welcome = await self._open()
            except _RETRYABLE as error:
                log.debug("reconnect attempt %d to %s failed: %r", attempt, self.url, error)
                self._next_url()
                continue
            await self._events.put(Reconnected(welcome))
            await self._start_session(ws, welcome)
            return ws

    async def _wait_before_retry(self, attempt: int) -> None:
        first, cap = self.backoff
        await asyncio.sleep(random.uniform(0, min(cap, first * 2 ** min(attempt, 32))))

    async def _on_frame(self, ws: ClientConnection, raw: str) -> None:
        event = parse_event(raw)
        if event is None or isinstance(event, Welcome):
            return
        if isinstance(event, Message):
            if self._already_yielded(event):
                # The answer to a resend, whose original the caller already has (from a
                # replay): it acknowledges the send; it is not a new message, nor the newest.
                self._acknowledge(event.ref)
            else:
                self.last_id = event.id
                self._yielding(event)
                self._acknowledge(event.ref)
                await self._events.put(event)
            if self._backlog_open:
                self._seen_in_backlog = True
                if event.id == self._backlog_last:
                    await self._backlog_over(ws)
            return
        if isinstance(event, Read) and _later(event.id, self.read):
            self.read = event.id
        ref = getattr(event, "ref", None)
        drop = self._drop
        if drop is not None and ref == drop.ref and isinstance(event, Error):
            drop.error = event  # drop() raises it; the caller did not send a frame with a ref
            drop.done.set()
            return
        if ref is None or ref != self._barrier:
            self._acknowledge(ref)
            await self._events.put(event)
        # The backlog holds messages only: any other frame comes after it.
        if self._backlog_open:
            await self._backlog_over(ws)

    def _finish(self, error: ChatClientError | None) -> None:
        if self._finished:
            return
        self._finished = True
        self._error = error
        if self._drop is not None:
            self._drop.done.set()  # the connection is gone for good
        self._idle.set()  # wake wait_acknowledged()
        with contextlib.suppress(asyncio.QueueFull):  # a full queue is read to its end anyway
            self._events.put_nowait(_END)

    def _raise_end(self) -> NoReturn:
        if self._error is not None:
            raise self._error
        raise ClientClosed("the client is closed")


def _later(entry_id: str, than: str | None) -> bool:
    """True when ``entry_id`` comes after ``than`` in the log (or ``than`` is None); ids the
    client cannot order (not of wschat's forms) count as later: the server is the judge."""
    if than is None:
        return True
    try:
        return log_order(entry_id) > log_order(than)
    except ValueError:
        return True
