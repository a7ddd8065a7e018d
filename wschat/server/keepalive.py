"""Keepalive and bounded closes: find peers that went away without a close frame."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wschat.core.errors import CloseCode
from wschat.server.config import ServerConfig
from wschat.server.session import peer_address

__all__ = ["close_within", "keepalive"]

log = logging.getLogger("wschat.server")


async def keepalive(ws: ServerConnection, config: ServerConfig) -> None:
    """Ping every ``ping_interval`` s; a peer whose pong does not come within
    ``ping_timeout`` s is closed with 1011 and dropped within ``close_timeout`` s.

    websockets has a keepalive of its own, but its timeout starts only once the ping is
    written, and writing waits for room in the send buffer: a peer that went away (or
    stopped reading) while messages for it piled up was never found. Here the timeout
    covers that wait too. Run it as a task for the connection's lifetime; cancel it after.
    """
    assert config.ping_interval is not None
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.sleep(config.ping_interval)
            try:
                async with asyncio.timeout(config.ping_timeout):
                    pong = await ws.ping()
                    if config.ping_timeout is not None:  # None: ping only, never give up
                        await pong
            except TimeoutError:
                log.info("no pong from %s within %s s: dropping it", peer_address(ws),
                         config.ping_timeout)
                await close_within(ws, CloseCode.INTERNAL_ERROR, "keepalive ping timeout",
                                   config.close_timeout)
                return


async def close_within(ws: ServerConnection, code: int, reason: str, timeout: float) -> None:
    """Close with ``code``; drop the TCP connection if that is not done within ``timeout`` s.

    ``ws.close()`` first waits for room in the send buffer, which a peer that does not
    read never makes: without the bound, such a connection (and its buffer) would stay.
    """
    try:
        async with asyncio.timeout(timeout):
            await ws.close(code, reason)
    except TimeoutError:
        ws.transport.abort()
