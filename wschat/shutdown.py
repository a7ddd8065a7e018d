"""Run a server coroutine in the foreground until SIGINT or SIGTERM, then exit cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
from collections.abc import Callable, Coroutine
from typing import Any

__all__ = ["run_until_signal"]


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
