"""The asyncio half of :class:`~wschat.client.ChatClient`: a thin pump around its protocol.

:class:`Pump` holds one websockets connection at a time for a
:class:`~wschat.client.protocol.ClientProtocol`: it opens connections (each URL of a list in
turn), feeds the protocol every text frame and every close, writes the frames the protocol
asks for in their order, hands its events to the caller through a bounded queue (a full queue
stops the reading, so the server's flow control applies), and waits the backoff the protocol's
:class:`~wschat.client.effects.Retry` asks for. It decides nothing about the chat itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from typing import Final, NoReturn

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from wschat.client.effects import Confirmed, Online, Phase
from wschat.client.events import Event, Welcome
from wschat.client.exceptions import ChatClientError, ClientClosed
from wschat.client.protocol import ClientProtocol
from wschat.core.errors import CloseCode

__all__ = ["MAX_INCOMING", "Pump"]

log = logging.getLogger("wschat.client")

#: Largest frame accepted from the server: a ``history`` page of 200 messages of 4,000
#: code points each is up to about 3.3 MB of UTF-8.
MAX_INCOMING: Final = 8 * 1024 * 1024

#: Errors of one connection attempt that mean "try again later", not "give up".
_RETRYABLE: Final = (OSError, TimeoutError, InvalidHandshake, ConnectionClosed)


class _End:
    """Marks the end of the event queue."""


_END: Final = _End()


class Pump:
    """Connections, frames and waiting for ``protocol`` (see the module doc). ``urls`` are
    tried in turn; ``backoff=(first, cap)`` bounds the random wait before each reconnect."""

    def __init__(
        self,
        protocol: ClientProtocol,
        urls: Sequence[str],
        *,
        backoff: tuple[float, float],
        open_timeout: float,
        max_queue: int,
    ) -> None:
        self.urls: tuple[str, ...] = tuple(urls)
        if not self.urls:
            raise ValueError("give at least one URL")
        self.url = self.urls[0]
        self.backoff = backoff
        self.open_timeout = open_timeout
        self._protocol = protocol
        self._ws: ClientConnection | None = None  # the logged-in connection, while it lasts
        self._write_lock = asyncio.Lock()  # keeps the protocol's order of frames on the wire
        self._idle = asyncio.Event()  # set while the outbox is empty (or the client ended)
        self._idle.set()
        self._events: asyncio.Queue[Event | _End] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._ended = False  # the end of the event queue is in it
        self._hold: asyncio.Event | None = None  # set by drop/cut(until=...): wait to reconnect
        self._dropped: asyncio.Event | None = None  # a drop() waiting for its connection to end

    def _start(self, ws: ClientConnection, name: str) -> None:
        self._task = asyncio.create_task(self._run(ws), name=name)

    def _check_open(self) -> None:
        if self._protocol.finished:
            self._raise_end()

    async def _submit(self, obj: dict[str, object]) -> str:
        self._check_open()
        ref = self._protocol.submit(obj)
        await self._flush()
        return ref

    def _settle(self) -> None:
        """Bring the asyncio side in step with the protocol after one of its steps."""
        if self._protocol.outbox and not self._protocol.finished:
            self._idle.clear()
        else:
            self._idle.set()
        if self._dropped is not None and not self._protocol.dropping:
            self._dropped.set()

    async def _flush(self) -> None:
        """Write what the protocol asks for on the logged-in connection, in its order.
        Frames wait while no connection is taken (they belong to the one being opened)."""
        self._settle()
        async with self._write_lock:
            while (ws := self._ws) is not None and (writes := self._protocol.frames_to_send()):
                for write in writes:
                    try:
                        await ws.send(write.frame)
                    except ConnectionClosed:
                        return  # the reader sees the close; the outbox resends after it

    async def _deliver(self) -> None:
        """Hand the protocol's events to the caller (waiting while the queue is full)."""
        self._settle()
        for event in self._protocol.events_received():
            if not isinstance(event, (Confirmed, Online)):  # notes for a screen, not events
                await self._events.put(event)

    async def _take(self, ws: ClientConnection) -> None:
        """A connection just logged in: it carries the frames from now on."""
        self._ws = ws
        await self._deliver()
        await self._flush()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._settle()
        self._idle.set()  # wake wait_acknowledged()
        with contextlib.suppress(asyncio.QueueFull):  # a full queue is read to its end anyway
            self._events.put_nowait(_END)

    async def _next_event(self, timeout: float | None) -> Event:
        if self._protocol.finished and self._events.empty():
            self._raise_end()
        item = await asyncio.wait_for(self._events.get(), timeout)
        if isinstance(item, _End):
            self._raise_end()
        return item

    def _raise_end(self) -> NoReturn:
        if self._protocol.error is not None:
            raise self._protocol.error
        raise ClientClosed("the client is closed")

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
        else the password. Raises the protocol's error when it finished (a refused login)."""
        protocol = self._protocol
        while True:
            ws = await self._attempt()
            if ws is not None:
                assert protocol.welcome is not None
                return ws, protocol.welcome
            if protocol.retry is None or not protocol.retry.at_once:
                assert protocol.error is not None
                raise protocol.error
            log.info("token refused; logging in with the password")

    async def _attempt(self) -> ClientConnection | None:
        """Log in on a new connection: the connection once welcomed, None once refused."""
        protocol = self._protocol
        login = protocol.connecting()
        if login is None:
            return None  # no credential left: the protocol finished with a LoginError
        try:
            ws = await connect(
                self.url,
                open_timeout=self.open_timeout,
                max_size=MAX_INCOMING,
                compression=None,  # chat frames are small; the server does not compress either
            )
        except Exception as error:
            protocol.closed(CloseCode.ABNORMAL, repr(error))
            raise
        try:
            await ws.send(login)
            raw = await asyncio.wait_for(ws.recv(), self.open_timeout)
        except ConnectionClosed as closed:
            rcvd = closed.rcvd  # None when the TCP connection ended without a close frame
            protocol.closed(rcvd.code if rcvd else CloseCode.ABNORMAL, rcvd.reason if rcvd else "")
            if protocol.finished and protocol.error is not None:
                raise protocol.error from None
            raise
        except BaseException as error:
            ws.transport.abort()
            if isinstance(error, Exception):  # a timeout, a broken socket; not a cancel
                protocol.closed(CloseCode.ABNORMAL, repr(error))
            raise
        protocol.receive(raw if isinstance(raw, str) else f"<{len(raw)} bytes of binary>")
        if protocol.phase in (Phase.CATCHING_UP, Phase.READY):
            return ws
        # A refused login is one error frame, then close 4001: wait for the close briefly.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ws.wait_closed(), self.open_timeout)
        ws.transport.abort()
        protocol.closed(ws.close_code or CloseCode.ABNORMAL, ws.close_reason or "")
        return None

    # ------------------------------------------------------------------ receiving

    async def _run(self, ws: ClientConnection) -> None:
        """Read frames; reconnect after a drop; end the client when there is no way on."""
        try:
            while True:
                code, reason = await self._read(ws)
                self._ws = None
                self._protocol.closed(code, reason)
                await self._deliver()
                if self._protocol.finished:
                    return
                log.info("connection closed (%s %s); reconnecting", code, reason)
                ws = await self._reconnect()
        except ChatClientError as error:  # a refused login, an unexpected answer to one
            self._protocol.close(error)  # the protocol finished with it already
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a bug: end the client visibly instead of hanging
            log.exception("chat client stopped")
            self._protocol.close(ChatClientError(f"client failed: {error!r}"))
        finally:
            if self._protocol.finished:
                self._end()

    async def _read(self, ws: ClientConnection) -> tuple[int, str]:
        """Handle frames until the connection closes; return its close code and reason."""
        try:
            async for raw in ws:
                if isinstance(raw, str):
                    self._protocol.receive(raw)
                    await self._deliver()
                    await self._flush()
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        return ws.close_code or CloseCode.ABNORMAL, ws.close_reason or ""

    async def _reconnect(self) -> ClientConnection:
        hold, self._hold = self._hold, None
        if hold is not None:
            await hold.wait()
        while True:
            retry = self._protocol.retry
            assert retry is not None, "the protocol must be waiting to reconnect"
            if retry.next_url:
                self._next_url()  # after a failed attempt, or a server that is leaving
            await self._wait_before_retry(retry.attempt)
            try:
                ws, _ = await self._open()
            except _RETRYABLE as error:
                log.debug("reconnect attempt %d to %s failed: %r", retry.attempt + 1, self.url, error)
                continue
            await self._take(ws)
            return ws

    async def _wait_before_retry(self, attempt: int) -> None:
        first, cap = self.backoff
        await asyncio.sleep(random.uniform(0, min(cap, first * 2 ** min(attempt, 32))))
