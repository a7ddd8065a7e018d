"""Run a server in the foreground until SIGINT or SIGTERM, then exit cleanly; its logging;
what to tell a person whose server cannot listen on the host and port asked for."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import logging
import signal
import socket
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from wschat.core.defaults import WS_PATH
from wschat.core.errors import WschatError
from wschat.server.app import ChatServer
from wschat.server.bus import Bus
from wschat.server.config import ServerConfig
from wschat.server.http import browser_url
from wschat.store import Store

__all__ = ["CannotListen", "cannot_listen", "run_serve", "run_until_signal", "setup_logging"]


class CannotListen(WschatError):
    """The server could not listen on its host and port; ``str()`` is one line that names
    them, says why, and what to try (see :func:`cannot_listen`)."""


def run_until_signal(main: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
    """Run ``main(stop)``; SIGINT and SIGTERM set ``stop`` so that ``main`` can close cleanly.

    On platforms without ``loop.add_signal_handler`` (Windows), Ctrl+C still stops the
    server through KeyboardInterrupt, without a traceback.
    """

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await main(stop)

    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=_loop_factory()) as run:
        run.run(runner())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (faster I/O for the same code), else asyncio's."""
    try:
        uvloop = importlib.import_module("uvloop")  # optional: `pip install uvloop`
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def _to_stderr(line: str) -> None:
    # A line for people, not a log record; ``--log-level warning`` or quieter silences it.
    if logging.getLogger("wschat").isEnabledFor(logging.INFO):
        print(line, file=sys.stderr, flush=True)


def run_serve(
    config: ServerConfig,
    store: Store,
    announce: Callable[[str], None],
    hint: Callable[[str], None] = _to_stderr,
    bus: Bus | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (connections then close with 1001, or
    with ``config.drain`` > 0 with 1012 spread over that many seconds). Raises
    :class:`~wschat.server.supervise.TaskFailed` if a task of the server failed (it has
    stopped serving by then).

    A host or port it cannot listen on raises :class:`CannotListen` (one line naming them
    and what to try). Once the server accepts connections, ``announce`` gets the contract's one line
    (``wschat listening on ws://HOST:PORT/ws``, for stdout) and ``hint`` the address of the
    browser client (for people: stderr by default, so stdout stays exactly that one line;
    silent when the log level is above info). With a ``bus`` (and its ``store``) this process is one
    node of several: on Redis (:func:`wschat.cluster.redis_node`), the log is the shared Redis
    stream and this process is one node of several.
    """
    server = ChatServer(store, config, bus=bus)
    listening = False

    async def main(stop: asyncio.Event) -> None:
        def ready(port: int) -> None:
            nonlocal listening
            listening = True
            announce(f"wschat listening on {server.scheme}://{config.host}:{port}{WS_PATH}")
            url = browser_url(config.host, port, secure=server.scheme == "wss")
            hint(f"wschat: chat in a browser at {url}")

        await server.run(ready, stop)

    try:
        run_until_signal(main)
    except (OSError, UnicodeError) as error:
        reason = None if listening else cannot_listen(error, config.host, config.port)
        if reason is None:
            raise
        raise CannotListen(reason) from None


def cannot_listen(error: OSError | UnicodeError, host: str, port: int) -> str | None:
    """What to tell a person when binding ``host:port`` raised ``error``: one line naming the
    host or the port and what to try; None when ``error`` is not about binding (a
    certificate file that cannot be read carries its file name, and is left as it is)."""
    if isinstance(error, UnicodeError):  # the IDNA codec refused the name (``bad..host``)
        return f"cannot listen on --host {host}: not a valid host name"
    if error.filename is not None:
        return None
    if isinstance(error, socket.gaierror):
        return (
            f"cannot listen on --host {host}: name not found ({error.strerror or error});"
            " use 127.0.0.1 (this machine only), 0.0.0.0"
            " (every interface) or one of this machine's addresses"
        )
    if error.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use by another program: choose another"
            " with --port N, or --port 0 to take a free one"
        )
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on --host {host}: not an address of this machine; use 127.0.0.1"
            " (this machine only), 0.0.0.0 (every interface) or one of this machine's addresses"
        )
    if error.errno == errno.EACCES:
        return (
            f"no permission to listen on port {port} of {host} (ports below 1024 need"
            " administrator rights): use --port N with N above 1023, or --port 0"
        )
    return None


def setup_logging(level: str) -> None:
    """Connections and errors go to stderr; websockets' own chatter only at debug level."""
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(
        stream=sys.stderr, level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if numeric > logging.DEBUG:
        logging.getLogger("websockets").setLevel(max(numeric, logging.WARNING))
