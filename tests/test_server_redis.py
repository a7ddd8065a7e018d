"""Every acceptance test of test_server.py again, on one node of the Redis store and bus.

The same tests, unchanged, prove that a node on Redis keeps the whole contract of the
single-process server (login, catch-up seam, refs, presence, history, limits). Only the
``serve`` fixture differs: each server is a RedisBus node on the session's redis-server,
under a fresh key prefix; servers started with the same ``db`` share a prefix, so a "restart
on the same database" is a restart on the same Redis data. The multi-node scenarios are in
test_cluster.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rediskit import fresh_prefix, redis_server  # noqa: F401 - a fixture
from test_server import *  # noqa: F403 - the tests to run again
from test_server import Serve

from wschat.cluster import RedisConfig
from wschat.redis_server import RedisServer
from wschat.serving import ServerThread


@pytest.fixture
def serve(redis_server: RedisServer) -> Iterator[Serve]:  # noqa: F811 - the fixture
    """Start Redis nodes with any ServerConfig fields; all are stopped after the test."""
    started: list[ServerThread] = []
    prefixes: dict[str, str] = {}

    def start(*, db: str | None = None, **config: Any) -> ServerThread:
        prefix = prefixes.setdefault(db, fresh_prefix()) if db is not None else fresh_prefix()
        server = ServerThread(redis=RedisConfig(redis_server.url, prefix=prefix), **config)
        server.start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()
