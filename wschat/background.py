"""Run an asyncio server in a background thread with its own event loop.

Notebooks and synchronous tests need a live server they can start with one call and stop
with another, without blocking the caller. Running the server on its own loop in its own
thread means that a blocking call in a notebook cell can never stall the server.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Self

__all__ = ["BackgroundServer"]

#: A coroutine function that starts serving, calls ``ready(port)`` once it accepts
#: connections, and returns when ``stop`` is set (after closing its connections).
ServeFunc = Callable[[Callable[[int], None], asyncio.Event], Coroutine[Any, Any, None]]


class BackgroundServer:
    """A server coroutine running on a private event loop in a daemon thread.

    ``start()`` returns once the server listens (or raises what stopped it from starting);
    ``stop()`` asks it to finish and waits for the thread. Use it as a context manager.
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
        """Stop the server and wait for its thread to end. Safe to call twice."""
        loop, event, thread = self._loop, self._stop_event, self._thread
        if loop is None or event is None or thread is None:
            return
        if thread.is_alive():
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop already closed
                pass
            thread.join(timeout)
        self._loop = None

    def call(self, func: Callable[[], Awaitable[Any]], timeout: float = 10.0) -> Any:
        """Run ``func()`` on the server's loop and return its result (for tests and demos)."""
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
        finally:
            self._ready.set()
            loop.close()

    async def _main(self) -> None:
        self._stop_event = asyncio.Event()

        def ready(port: int) -> None:
            self.port = port
            self._ready.set()

        await self._serve(ready, self._stop_event)
