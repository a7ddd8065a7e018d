"""Notebook 05's cluster demonstration: real ``wschat serve --redis`` processes, and a reader
that names what it expected.

A node is started as a child process (``python -m wschat serve --redis URL --port 0``), so that
it can be killed with SIGKILL like a machine pulled from the socket; this module imports no
Redis code, the child does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import TypeVar

from wschat.client.chat import ChatClient
from wschat.client.events import Event
from wschat.teaching.redis_server import RedisServer, find_redis_server

__all__ = ["demo_redis", "next_of", "start_node"]

E = TypeVar("E", bound=Event)


def demo_redis() -> RedisServer | None:
    """A started :class:`RedisServer` for the demonstration, or None when no ``redis-server``
    6.2+ is installed (the notebook then skips the parts that need it).

    Raises :class:`RuntimeError` when none is found under ``CI=true``: there the demonstration
    must run, not be skipped in silence.
    """
    executable = find_redis_server()
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError("CI=true and no redis-server 6.2+: the demonstration must run in CI")
        return None
    return RedisServer(executable).start()


def start_node(redis_url: str, node_ttl: float, timeout: float = 30.0
               ) -> tuple[subprocess.Popen[str], str]:
    """Start one ``wschat serve --redis`` node on a free port; return the process and the
    WebSocket URL it printed. ``node_ttl`` is its heartbeat key's time to live, in seconds.

    Raises :class:`RuntimeError` (and stops the process) if the node exits or prints
    something else instead of ``wschat listening on URL`` within ``timeout`` seconds.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "wschat", "serve", "--redis", redis_url, "--port", "0",
         "--node-ttl", str(node_ttl), "--log-level", "error"],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    line = _first_line(process, timeout)
    if not line.startswith("wschat listening on "):
        process.kill()
        process.wait()
        raise RuntimeError(f"the node did not start: {line!r}")
    return process, line.split()[-1]


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    # A bare readline() could block forever on a node that hangs before printing.
    stdout = process.stdout
    if stdout is None:
        return "(no stdout)"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].strip() if lines else f"(nothing within {timeout} s)"


async def next_of(client: ChatClient, kind: type[E], timeout: float = 10.0) -> E:
    """The client's next event, which must be a ``kind``.

    Raises :class:`AssertionError` naming both types if another event comes first, and
    :class:`TimeoutError` if none comes within ``timeout`` seconds.
    """
    event = await client.recv(timeout)
    if not isinstance(event, kind):
        raise AssertionError(f"esperava {kind.__name__}, veio {event!r}")
    return event
