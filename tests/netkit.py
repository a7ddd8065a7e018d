"""A loopback TCP proxy for fault tests: forwards bytes between clients and a server, and can
stop forwarding without closing anything, the way a dead network path or a frozen peer does.

- :meth:`Proxy.blackhole` stops forwarding in both directions on every link; the sockets stay
  open, so neither end sees a FIN or a reset: only keepalive can tell the connection is dead.
- :meth:`Proxy.pause_downstream` stops forwarding from the server to the clients (and stops
  reading what the server sends, so its writes pile up as they would behind a client that
  does not read); :meth:`Proxy.resume_downstream` lets the bytes flow again.

The proxy's socket to the server has a small receive buffer, so a paused link holds little
beyond what the server's own kernel buffer takes. When one end closes or resets, the proxy
passes the end on to the other side (a reset as an abort, so the other side sees no close).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from types import TracebackType
from typing import Self

__all__ = ["Proxy"]

_CHUNK = 65536


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy
        self.tasks: list[asyncio.Task[None]] = []
        self.writers: list[asyncio.StreamWriter] = []


class Proxy:
    """``async with Proxy(port) as proxy``: clients connect to ``proxy.port`` on 127.0.0.1."""

    def __init__(self, target_port: int, *, upstream_rcvbuf: int = 4096) -> None:
        self.target_port = target_port
        self.upstream_rcvbuf = upstream_rcvbuf
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: list[_Link] = []
        self._up = asyncio.Event()  # client -> server flows while set
        self._down = asyncio.Event()  # server -> client flows while set
        self._up.set()
        self._down.set()

    def url(self, path: str = "/ws") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def blackhole(self) -> None:
        """Stop forwarding in both directions; nothing is closed."""
        self._up.clear()
        self._down.clear()

    def pause_downstream(self) -> None:
        """Stop reading from the server and forwarding to the clients."""
        self._down.clear()

    def resume_downstream(self) -> None:
        self._down.set()

    async def _accept(self, client_reader: asyncio.StreamReader,
                      client_writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Before connecting, so the window the server sees is small from the start.
        upstream.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.upstream_rcvbuf)
        upstream.setblocking(False)
        try:
            await loop.sock_connect(upstream, ("127.0.0.1", self.target_port))
        except OSError:
            upstream.close()
            client_writer.transport.abort()
            return
        server_reader, server_writer = await asyncio.open_connection(
            sock=upstream, limit=self.upstream_rcvbuf
        )
        link = _Link(self)
        link.writers = [client_writer, server_writer]
        link.tasks = [
            asyncio.create_task(self._pump(client_reader, server_writer, self._up)),
            asyncio.create_task(self._pump(server_reader, client_writer, self._down)),
        ]
        self._links.append(link)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    flowing: asyncio.Event) -> None:
        try:
            while True:
                await flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    break
                await flowing.wait()  # paused while reading: hold the chunk
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            writer.transport.abort()  # a reset is passed on as a cut, never as a clean end
            return
        with contextlib.suppress(OSError):
            if writer.can_write_eof():
                writer.write_eof()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in self._links:
            for task in link.tasks:
                task.cancel()
            for writer in link.writers:
                writer.transport.abort()
        for link in self._links:
            for task in link.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
