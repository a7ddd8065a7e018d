"""Run an asyncio server (the chat server, a teaching server) in a background thread with its own event loop.

Notebooks and synchronous tests need a live server they can start with one call and stop
with another, without blocking the caller. Running the server on its own loop in its own
thread means that a blocking call in a notebook cell can never stall the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Self, Unpack

from wschat.core.defaults import WS_PATH
from wschat.core.errors import WschatError
from wschat.server.app import ChatServer
from wschat.server.bus import Bus
from wschat.server.config import ServerConfig, ServerOptions
from wschat.server.session import SeamHook
from wschat.store import MemoryStore, Store, open_store

__all__ = ["BackgroundServer", "ServerCrashed", "ServerThread"]

#: A coroutine function that starts serving, calls ``ready(port)`` once it accepts
#: connections, and returns when ``stop`` is set (after closing its connections).
ServeFunc = Callable[[Callable[[int], None], asyncio.Event], Coroutine[Any, Any, None]]


class ServerCrashed(WschatError, RuntimeError):
    """The server thread ended on its own after it had started: the server is gone.

    Raised by :meth:`BackgroundServer.call`, :meth:`~BackgroundServer.join`,
    :meth:`~BackgroundServer.stop` and ``ServerThread.url``; ``__cause__`` is what ended it
    (for the chat server, a :class:`~wschat.server.supervise.TaskFailed` naming the task).
    """


class BackgroundServer:
    """A server coroutine running on a private event loop in a daemon thread.

    ``start()`` returns once the server listens (or raises what stopped it from starting);
    ``stop()`` asks it to finish and waits for the thread. Use it as a context manager. A
    server that dies after it started is never silent: the next :meth:`call`, :meth:`join`
    and :meth:`stop` raise :class:`ServerCrashed`.
    Subclasses give ``serve`` and build ``url`` from ``host`` and ``port``.
    """

    def __init__(self, serve: ServeFunc, *, host: str, name: str) -> None:
        self._serve = serve
        self.host = host
        self.port: int = 0
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping = False
        #: What ended the server after it had started (an exception, or None if it returned).
        self._crash: BaseException | None = None
        self._crashed = False
        #: Set once join() or stop() raised ServerCrashed: a later stop() is then quiet.
        self._crash_told = False

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server thread and wait until the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"{self._name} did not start within {timeout} s")
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and wait for its thread to end. Safe to call twice.

        Raises :class:`ServerCrashed` if the server had died on its own, unless :meth:`join`
        or an earlier :meth:`stop` already said so.
        """
        loop, event, thread = self._loop, self._stop_event, self._thread
        if loop is None or event is None or thread is None:
            return
        self._stopping = True
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop already closed
                pass
            thread.join(timeout)
        self._loop = None
        if not self._crash_told:
            self._crash_told = True
            self._raise_if_crashed()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the server thread has ended (stopped, or died on its own).

        Raises :class:`ServerCrashed` if it died, TimeoutError if it still runs after
        ``timeout`` seconds.
        """
        thread = self._thread
        if thread is None:
            return
        thread.join(timeout)
        if thread.is_alive():
            raise TimeoutError(f"{self._name} still runs after {timeout} s")
        if self._crashed:
            self._crash_told = True
            self._raise_if_crashed()

    @property
    def crashed(self) -> bool:
        """True once the server has ended on its own, after it had started."""
        return self._crashed

    def _raise_if_crashed(self) -> None:
        if self._crashed:
            crash = self._crash
            why = (str(crash) if isinstance(crash, WschatError) else repr(crash)
                   ) if crash is not None else "it returned by itself"
            raise ServerCrashed(f"{self._name} stopped after it had started: {why}") from crash

    def call(self, func: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
        """Run ``func()`` on the server's loop and return its result (for tests and demos).

        Raises :class:`ServerCrashed` if the server has died.
        """
        self._raise_if_crashed()
        if self._loop is None:
            raise RuntimeError("server not running")

        async def wrapper() -> Any:
            return await func()

        future = asyncio.run_coroutine_threadsafe(wrapper(), self._loop)
        return future.result(timeout)

    @property
    def running(self) -> bool:
        """True while the server thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Self:
        if self._thread is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        except BaseException as error:  # reported to start() if it happened before ready
            if not self._ready.is_set():
                self._error = error
            else:
                self._crash, self._crashed = error, True
        else:
            # Serving returns only once stop() asked it to; returning earlier is a crash too.
            self._crashed = self._ready.is_set() and not self._stopping
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()

        def ready(port: int) -> None:
            self.port = port
            self._ready.set()

        await self._serve(ready, self._stop_event)


class ServerThread(BackgroundServer):
    """The chat server on its own event loop in a daemon thread.

    >>> with ServerThread() as server:          # memory store, free port on 127.0.0.1
    ...     print(server.url)                   # ws://127.0.0.1:PORT/ws

    ``config`` is a whole :class:`ServerConfig` (default: the defaults, on a free port); any
    of its fields may also be given as keyword arguments, which win (``rate_limit=0``,
    ``history=10``, ...: :class:`~wschat.server.config.ServerOptions`). ``db`` is a SQLite path
    (or ``":memory:"``); without it, and without ``store``, the store is a fresh MemoryStore.
    ``bus`` (with its ``store``) makes it one node of several: for a shared Redis,
    ``store, bus = wschat.cluster.redis_node(url)`` then ``ServerThread(store=store, bus=bus)``.

    If a task of the server fails, the server stops by itself (:mod:`wschat.server.supervise`)
    and the next call to :attr:`url`, :meth:`call`, :meth:`join` or :meth:`stop` raises
    :class:`ServerCrashed`, naming the task and its error.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        store: Store | None = None,
        bus: Bus | None = None,
        db: str | None = None,
        seam_hook: SeamHook | None = None,
        **options: Unpack[ServerOptions],
    ) -> None:
        if store is None:
            store = open_store(db) if db is not None else MemoryStore()
        base = config if config is not None else ServerConfig(port=0)
        self.config = dataclasses.replace(base, **options) if options else base
        self.chat = ChatServer(store, self.config, seam_hook=seam_hook, bus=bus)
        super().__init__(self.chat.run, host=self.config.host, name="wschat-server")

    @property
    def url(self) -> str:
        """The WebSocket endpoint, ``ws://HOST:PORT/ws`` (``wss://`` with a certificate).
        Raises :class:`ServerCrashed` once the server has died."""
        self._raise_if_crashed()
        return f"{self.chat.scheme}://{self.host}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        """The server's HTTP root, where ``/`` and ``/healthz`` are served."""
        self._raise_if_crashed()
        scheme = "https" if self.chat.scheme == "wss" else "http"
        return f"{scheme}://{self.host}:{self.port}/"
