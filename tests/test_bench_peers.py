"""Every peer of the benchmark speaks just enough of the protocol (benchmarks/README.md).

For each contender that is not wschat: start its server on 127.0.0.1 exactly as the benchmark
does (same command line), connect two of the load generator's own clients, and check that a
broadcast from one reaches both, stamp intact, and that a private message reaches only the
client it names. The benchmark counts on exactly this: a peer that dropped, reframed or
misrouted a message would show up as timeouts there, not as a clear error.

The peers need what ``make bench`` installs (the ``bench`` extra, npm ci in benchmarks/node,
Debian's libuv1 for socketify) and ``make test`` does not: a peer whose parts are missing is
skipped, with what to install, even under CI=true (CI runs ``make test`` only).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator

import pytest

from benchmarks.loadgen import Client, ClientSpec, Sink, open_client, stamp
from benchmarks.run import CONTENDERS, Contender, missing

PEERS = [key for key, c in CONTENDERS.items() if c.dialect != "wschat"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where -m benchmarks runs
TIMEOUT = 20.0


class Inbox(Sink):
    """What two clients received: broadcast 1 complete at both, and private messages."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.arm(1, 1)  # count and time broadcasts numbered 1 and up
        self.live = 2
        self.both = loop.create_future()
        self.privates: list[int] = []
        self.private_seen = loop.create_future()

    def on_complete(self, count: int) -> None:
        if count == 1 and not self.both.done():
            self.both.set_result(None)

    def on_private(self, number: int, sent_ns: int, now: int) -> None:
        self.privates.append(number)
        if not self.private_seen.done():
            self.private_seen.set_result(None)


def _broadcast_frame(dialect: str, text: str) -> str:
    return f'42["message","{text}"]' if dialect == "socketio" else text


def _private_frame(dialect: str, to: str, text: str) -> str:
    if dialect == "socketio":
        return f'42["private",{{"to":"{to}","text":"{text}"}}]'
    return f"@{to} {text}"


@contextlib.asynccontextmanager
async def running(contender: Contender, tmp: str) -> AsyncIterator[int]:
    """The contender's server, started as the benchmark starts it; yields its port."""
    err_path = os.path.join(tmp, "server.err")
    with open(err_path, "w") as err:
        server = subprocess.Popen(contender.argv(tmp), stdout=subprocess.PIPE, stderr=err,
                                  text=True, cwd=ROOT)
    try:
        assert server.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(server.stdout.readline), TIMEOUT)
        match = re.search(r"listening on (\d+)\s*$", line)
        if match is None:
            with open(err_path) as f:
                raise AssertionError(f"{contender.key} did not start: {line!r}\n{f.read()[-2000:]}")
        yield int(match.group(1))
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(asyncio.to_thread(server.wait), 10)
        except TimeoutError:
            server.kill()
            await asyncio.to_thread(server.wait)


@pytest.mark.parametrize("key", PEERS)
async def test_peer_relays_broadcasts_to_everyone_and_private_messages_to_one(
    key: str, tmp_path: os.PathLike[str]
) -> None:
    contender = CONTENDERS[key]
    why = missing(contender)
    if why is not None:
        pytest.skip(f"{key}: {why}. `make test` does not install the benchmark's peers "
                    "(`make bench` does), so this skips under CI=true too")
    loop = asyncio.get_running_loop()
    inbox = Inbox(loop)
    async with running(contender, str(tmp_path)) as port:
        spec = ClientSpec(contender.dialect, "127.0.0.1", port)
        clients: list[Client] = []
        try:
            for name in ("ana", "bo"):
                clients.append(await open_client(spec, inbox, name=name, timeout=TIMEOUT))
            ana, bo = clients
            sent = time.monotonic_ns()
            ana.send_text(_broadcast_frame(spec.dialect, stamp("B", 1, sent)))
            await asyncio.wait_for(inbox.both, TIMEOUT)
            # Both sampled clients parsed the stamp: the same number, a real latency.
            assert (ana.count, bo.count) == (1, 1)
            assert (ana.last, bo.last) == (1, 1)
            assert len(inbox.latencies) == 2
            assert all(0 <= ns < TIMEOUT * 1e9 for ns in inbox.latencies)

            bo_sent = time.monotonic_ns()
            ana.send_text(_private_frame(spec.dialect, "bo", stamp("P", 7, bo_sent)))
            await asyncio.wait_for(inbox.private_seen, TIMEOUT)
            assert inbox.privates == [7]
            assert (ana.privates, bo.privates) == (0, 1)
            # Nothing else arrived meanwhile: the private message was not broadcast.
            assert (ana.count, bo.count) == (1, 1)
        finally:
            for client in clients:
                client.abort()


def test_every_peer_is_covered() -> None:
    """A new contender gets this smoke test by being in CONTENDERS (wschat has its own suite)."""
    assert {"node-ws", "node-socketio", "uws", "picows", "socketify", "aiohttp"} <= set(PEERS)
