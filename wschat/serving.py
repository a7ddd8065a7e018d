"""Ways to run the chat server: in the foreground (``python -m wschat serve``) or in a
background thread (notebooks and tests)."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .background import BackgroundServer
from .bus import Bus
from .server import ChatServer, SeamHook, ServerConfig
from .shutdown import run_until_signal
from .store import MemoryStore, Store, open_store
from .web import browser_url

if TYPE_CHECKING:
    from .cluster import RedisConfig

__all__ = ["ServerThread", "run_serve", "setup_logging"]


class ServerThread(BackgroundServer):
    """The chat server on its own event loop in a daemon thread.

    >>> with ServerThread() as server:          # memory store, free port on 127.0.0.1
    ...     print(server.url)                   # ws://127.0.0.1:PORT/ws

    ``db`` is a SQLite path (or ``":memory:"``); without it the store is a fresh MemoryStore.
    ``redis`` (a URL or a :class:`~wschat.cluster.RedisConfig`) makes it one node of several
    on a shared Redis instead. Other keyword arguments are ServerConfig fields
    (``rate_limit=0``, ``history=10``, ...).
    """

    def __init__(
        self,
        *,
        db: str | None = None,
        store: Store | None = None,
        redis: str | RedisConfig | None = None,
        seam_hook: SeamHook | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **config: Any,
    ) -> None:
        bus: Bus | None = None
        if redis is not None:
            store, bus = _redis_node(redis)
        elif store is None:
            store = open_store(db) if db is not None else MemoryStore()
        self.config = ServerConfig(host=host, port=port, **config)
        self.chat = ChatServer(store, self.config, seam_hook=seam_hook, bus=bus)
        super().__init__(self.chat.run, host=host, name="wschat-server")

    @property
    def url(self) -> str:
        """The WebSocket endpoint, ``ws://HOST:PORT/ws`` (``wss://`` with a certificate)."""
        return f"{self.chat.scheme}://{self.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        """The server's HTTP root, where ``/`` and ``/healthz`` are served."""
        scheme = "https" if self.chat.scheme == "wss" else "http"
        return f"{scheme}://{self.host}:{self.port}/"


def _to_stderr(line: str) -> None:
    # A line for people, not a log record; ``--log-level warning`` or quieter silences it.
    if logging.getLogger("wschat").isEnabledFor(logging.INFO):
        print(line, file=sys.stderr, flush=True)


def _redis_node(redis: str | RedisConfig) -> tuple[Store, Bus]:
    from .cluster import RedisConfig  # imports redis-py only when it is used

    options = RedisConfig(redis) if isinstance(redis, str) else redis
    return options.node()


def run_serve(
    config: ServerConfig,
    db: str,
    announce: Callable[[str], None],
    hint: Callable[[str], None] = _to_stderr,
    redis: RedisConfig | None = None,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (connections then close with 1001).

    Once the server accepts connections, ``announce`` gets the contract's one line
    (``wschat listening on ws://HOST:PORT/ws``, for stdout) and ``hint`` the address of the
    browser client (for people: stderr by default, so stdout stays exactly that one line;
    silent when the log level is above info). With ``redis``, the log is the shared Redis
    stream and this process is one node of several; ``db`` is then unused.
    """
    if redis is not None:
        store, bus = _redis_node(redis)
        server = ChatServer(store, config, bus=bus)
    else:
        server = ChatServer(open_store(db), config)

    async def main(stop: asyncio.Event) -> None:
        def ready(port: int) -> None:
            announce(f"wschat listening on {server.scheme}://{config.host}:{port}/ws")
            url = browser_url(config.host, port, secure=server.scheme == "wss")
            hint(f"wschat: chat in a browser at {url}")

        await server.run(ready, stop)

    run_until_signal(main)


def setup_logging(level: str) -> None:
    """Connections and errors go to stderr; websockets' own chatter only at debug level."""
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(
        stream=sys.stderr, level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if numeric > logging.DEBUG:
        logging.getLogger("websockets").setLevel(max(numeric, logging.WARNING))
