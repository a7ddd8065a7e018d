"""Suite-wide fixtures and setup: nothing in the tests may contact a host outside this machine.

Fixtures every test may ask for by name: ``serve`` (chat servers in this process, on the
test's ``backend``), ``clients`` (raw connections, closed first), ``replica``, ``tls_files``
and ``redis_server`` (one real redis-server for the session). A test marked
``@pytest.mark.backends`` runs once per store backend (memory, SQLite, Redis), or once per
backend named (``@pytest.mark.backends("sqlite", "redis")``); unmarked, it runs on memory.
A test marked ``@pytest.mark.posix_signals`` is skipped on Windows.
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import settings

# Set before any test module imports wschat, so notebooks and helpers see it too.
os.environ["WSCHAT_OFFLINE"] = "1"

from chatkit import Clients
from rediskit import fresh_prefix, need_redis_server
from threadkit import Serve

from wschat import Replica
from wschat.cluster.redis_config import RedisConfig
from wschat.server.thread import ServerThread
from wschat.teaching.redis_server import RedisServer

# No per-example time limit: speed goals live in benchmarks/, and on a loaded machine (CI's two
# cores) a pure property test's example may take longer than hypothesis' default 200 ms.
settings.register_profile("wschat", deadline=None)
settings.load_profile("wschat")


@pytest.fixture
def replica() -> Iterator[Replica]:
    """A replica of the test's server on a free loopback port, stopped after the test."""
    with Replica() as server:
        yield server


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 from a throwaway CA (trusted by nobody) and its key, as
    files: ``serve(certfile=..., keyfile=...)`` serves ``wss://`` with them."""
    cert = trustme.CA().issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(certfile)
    cert.private_key_pem.write_to_path(keyfile)
    return str(certfile), str(keyfile)


#: The store backends a ``@pytest.mark.backends`` test runs on, in this order.
BACKENDS = ("memory", "sqlite", "redis")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked ``backends`` (on itself, its class or its module's ``pytestmark``) gets
    one run per backend named in the marker (all of :data:`BACKENDS` when it names none)."""
    marker = metafunc.definition.get_closest_marker("backends")
    if marker is None or "backend" not in metafunc.fixturenames:
        return
    names = marker.args or BACKENDS
    unknown = set(names) - set(BACKENDS)
    assert not unknown, f"unknown backends {sorted(unknown)}: use {BACKENDS}"
    metafunc.parametrize("backend", names, indirect=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole session, on 127.0.0.1 on a free port; tests keep apart
    by key prefix (``rediskit.fresh_prefix``). Without one the test is skipped loudly (and
    fails under ``CI=true``), see ``rediskit.need_redis_server``."""
    with RedisServer(need_redis_server()) as server:
        yield server


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The store the test's ``serve`` servers use: ``memory`` unless the test is marked
    ``backends`` (then each of the marker's backends in turn)."""
    name: str = getattr(request, "param", "memory")
    return name


@pytest.fixture
def serve(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Serve]:
    """Start chat servers in this process with any ServerConfig fields; all are stopped after
    the test, the last started first.

    ``db`` names the chat's data: servers started with the same ``db`` share it (a restart
    on the same database, or nodes of one chat). On ``memory`` a ``db`` is a SQLite path
    (a MemoryStore cannot outlive its server) and without one the store is a fresh
    MemoryStore; on ``sqlite`` each ``db`` is a SQLite path and without one a fresh file; on
    ``redis`` each server is a node of the Redis store and bus on the session's redis-server,
    and a ``db`` is a key prefix (without one a fresh prefix: a chat of its own).
    """
    started: list[ServerThread] = []
    redis: RedisServer | None = None
    prefixes: dict[str, str] = {}
    if backend == "redis":
        redis = request.getfixturevalue("redis_server")

    def start(*, db: str | None = None, **config: Any) -> ServerThread:
        if redis is not None:
            prefix = prefixes.setdefault(db, fresh_prefix()) if db is not None else fresh_prefix()
            config["store"], config["bus"] = RedisConfig(redis.url, prefix=prefix).node()
        elif db is not None or backend == "sqlite":
            config["db"] = db if db is not None else str(tmp_path / f"chat-{len(started)}.db")
        server = ServerThread(**config).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
async def clients(serve: Serve) -> AsyncIterator[Clients]:
    """Every client connection of the test, closed before the servers of ``serve`` stop."""
    async with Clients() as pool:
        yield pool


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """On Windows, skip the tests marked ``posix_signals``: a child process there has no
    SIGINT, and SIGTERM means TerminateProcess with exit status 1. WSL runs them."""
    if sys.platform != "win32":
        return
    skip = pytest.mark.skip(reason="needs POSIX signals to stop processes: run under WSL")
    for item in items:
        if item.get_closest_marker("posix_signals") is not None:
            item.add_marker(skip)
