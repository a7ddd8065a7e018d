"""An offline stand-in for the internship test's WebSocket server.

Facts reported publicly by candidates who reached ``wss://websocket-fh6l.onrender.com/``:
on connect it sends one text message, ``Olá mundo! LTIS 2025``, unprompted; it never echoes
what a client sends; the connection stays open until the client closes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from wschat.server.thread import BackgroundServer

__all__ = ["GREETING", "PORT", "Replica", "handle_connection", "run_replica"]

#: The one message the test's server sends to every client.
GREETING = "Olá mundo! LTIS 2025"

#: The port ``python -m wschat replica`` listens on unless ``--port`` says otherwise (one
#: above the chat server's, so both can run side by side). ``Replica()`` picks a free one.
PORT: Final = 8766


async def handle_connection(connection: ServerConnection) -> None:
    """Greet the client once, then read and ignore everything until it closes."""
    try:
        await connection.send(GREETING)
        async for _ in connection:
            pass  # the real server does not echo; reading keeps pings and closes flowing
    except ConnectionClosed:
        pass


async def serve_replica(
    host: str, port: int, ready: Callable[[int], None], stop: asyncio.Event
) -> None:
    """Serve the replica on ``host:port`` (0 picks a free port) until ``stop`` is set."""
    async with serve(handle_connection, host, port) as server:
        bound = server.sockets[0].getsockname()[1]
        ready(bound)
        await stop.wait()


class Replica(BackgroundServer):
    """The replica in a background thread: ``with Replica() as r: probe(r.url)``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        async def run(ready: Callable[[int], None], stop: asyncio.Event) -> None:
            await serve_replica(host, port, ready, stop)

        super().__init__(run, host=host, name="wschat-replica")

    @property
    def url(self) -> str:
        """The ``ws://`` URL of the running replica."""
        return f"ws://{self.host}:{self.port}/"


def run_replica(host: str, port: int, announce: Callable[[str], None]) -> None:
    """Run the replica in the foreground until SIGINT/SIGTERM; ``announce`` gets the URL line."""
    from wschat.server.run import run_until_signal

    async def main(stop: asyncio.Event) -> None:
        def ready(bound: int) -> None:
            announce(f"wschat replica listening on ws://{host}:{bound}/")

        await serve_replica(host, port, ready, stop)

    run_until_signal(main)
