"""Draining a server for a deploy (PROTOCOL.md, "Drain"): 1012 closes spread over a window.

The caller has already stopped admitting anyone (``/healthz`` and new WebSockets answer 503,
see :func:`wschat.server.http.route`); this closes the connections that are open, one after
another at the times :func:`wschat.core.drain_schedule.drain_schedule` gives, so that their clients
reconnect to the other processes at a steady rate. The waits here are the schedule itself
(a deploy's pacing), not synchronisation.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

from websockets.asyncio.server import Server, ServerConnection
from websockets.protocol import State

from wschat.core.drain_schedule import drain_schedule
from wschat.core.errors import CloseCode

__all__ = ["DRAIN_REASON", "close_all", "drain", "stop_serving"]

log = logging.getLogger("wschat.server")

#: The close reason of a drained connection.
DRAIN_REASON = "server restarting"


async def drain(connections: Collection[ServerConnection], window: float) -> None:
    """Close ``connections`` with 1012 spread evenly over ``window`` seconds; return when
    every close handshake has ended (each bounded by the connection's ``close_timeout``)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    schedule = drain_schedule(list(connections), window)
    log.info("draining %d connections over %g s", len(schedule), window)
    closing: list[asyncio.Task[None]] = []
    for offset, ws in schedule:
        delay = start + offset - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if ws.protocol.state is State.OPEN:  # it may have gone meanwhile
            closing.append(asyncio.create_task(ws.close(CloseCode.SERVICE_RESTART, DRAIN_REASON)))
    if closing:
        await asyncio.wait(closing)


async def stop_serving(server: Server, window: float) -> None:
    """Close every connection of ``server`` and wait until it is closed: with ``window`` > 0
    by :func:`drain`, else at once with 1001 (going away). The caller already refuses new
    connections (its ``process_request``)."""
    if window > 0:
        await drain(server.connections, window)
        # Whoever completed a handshake during the drain gets the same code, at once (closed
        # here rather than through Server.close's code argument, which older websockets lack).
        await close_all(server, CloseCode.SERVICE_RESTART, DRAIN_REASON)
    else:
        server.close(close_connections=True)  # 1001 to every open connection
    await server.wait_closed()


async def close_all(server: Server, code: int, reason: str) -> None:
    """Close every open connection of ``server`` with ``code``, all at once, and return when
    each close handshake has ended (bounded by ``close_timeout``); then close ``server``.

    The listening socket stays open until then, so that a load balancer still reads
    ``/healthz`` (503) and a client that arrives meanwhile gets a clear HTTP 503.
    """
    open_ = [ws for ws in server.connections if ws.protocol.state is State.OPEN]
    if open_:
        await asyncio.wait([asyncio.create_task(ws.close(code, reason)) for ws in open_])
    server.close(close_connections=True)
