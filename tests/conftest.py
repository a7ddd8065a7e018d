"""Suite-wide setup: nothing in the tests may contact a host outside this machine."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from hypothesis import settings

# Set before any test module imports wschat, so notebooks and helpers see it too.
os.environ["WSCHAT_OFFLINE"] = "1"

from chatkit import Clients

from wschat import Replica
from wschat.server.thread import ServerThread

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


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    """Start chat servers in this process with any ServerConfig fields; all are stopped after
    the test, the last started first. (test_server_redis.py makes them Redis nodes.)"""
    started: list[ServerThread] = []

    def start(**config: Any) -> ServerThread:
        server = ServerThread(**config).start()
        started.append(server)
        return server

    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
async def clients(serve: Callable[..., ServerThread]) -> AsyncIterator[Clients]:
    """Every client connection of the test, closed before the servers of ``serve`` stop."""
    async with Clients() as pool:
        yield pool


# Tests that stop processes with POSIX signals (SIGINT, SIGTERM, SIGKILL): Windows has no such
# signals for a child process (send_signal(SIGINT) raises, SIGTERM means TerminateProcess and
# exit status 1), so there they are skipped with a reason; WSL runs them.
_POSIX_MODULES = {"test_serving.py", "test_chat_cli.py", "test_cluster.py", "test_faults.py"}
_POSIX_TESTS = {
    "test_interrupt_is_one_line_and_exit_130",
    "test_replica_command_announces_serves_and_stops_on_sigint",
    "test_process_crash_after_append_loses_nothing",
    "test_two_stores_on_one_file_share_the_log",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if sys.platform != "win32":
        return
    skip = pytest.mark.skip(reason="needs POSIX signals to stop server processes: run under WSL")
    for item in items:
        if item.path.name in _POSIX_MODULES or getattr(item, "originalname", item.name) in _POSIX_TESTS:
            item.add_marker(skip)
