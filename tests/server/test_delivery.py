"""wschat.server.writer's inner loop: the compiled ``_fanout.put_each`` against ``put_each_py``.

Both run over real loopback connections of a real websockets server, on asyncio's loop and on
uvloop's, and the raw bytes each client reads are compared with what was written: the same
bytes, in the same order, to the same sockets, for frames that fit a socket buffer and for one
that does not (part sent directly, the rest queued by the transport). The compiled loop's
safety conditions are each tested: nothing buffered in the transport (else it must queue behind
it), a transport that is closing (its descriptor may be another connection's by now), TLS
(the socket carries ciphertext). A session whose write raises is reported, and the sessions
after it in the same call still get their bytes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve
from websockets.protocol import State

from wschat.core import wire
from wschat.core.fanout import text_frame
from wschat.server import writer
from wschat.server.session import Session
from wschat.server.writer import COMPILED, direct_fd, put_each_py

uvloop = pytest.importorskip("uvloop") if os.name != "nt" else None

PutEach = Callable[[list[Session], bytes, State, int], list[Session]]
Broken = list[tuple[Session, Exception]]
RawPutEach = Callable[[list[Session], bytes, State, int, Broken], list[Session]]

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.SelectorEventLoop}
if uvloop is not None:
    LOOPS["uvloop"] = uvloop.new_event_loop


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def compiled_raw() -> RawPutEach:
    """The compiled loop; skip where it was not built (fail under CI=true: CI builds it)."""
    if not COMPILED:
        reason = "wschat.server._fanout was not built (no C compiler when installing?)"
        if _ci():
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    from wschat.server._fanout import put_each

    return put_each


def no_breakage(raw: RawPutEach) -> PutEach:
    """``raw`` for the tests where no write may raise: it must report nothing broken."""

    def put_each(sessions: list[Session], data: bytes, state: State, limit: int) -> list[Session]:
        broken: Broken = []
        slow = raw(sessions, data, state, limit, broken)
        assert broken == []
        return slow

    return put_each


def compiled() -> PutEach:
    return no_breakage(compiled_raw())


RAW: dict[str, Callable[[], RawPutEach]] = {"pure": lambda: put_each_py, "compiled": compiled_raw}
IMPLS: dict[str, Callable[[], PutEach]] = {
    name: (lambda get=get: no_breakage(get())) for name, get in RAW.items()  # type: ignore[misc]
}

BIG = 3_000_000  # more than small socket buffers take at once
NO_LIMIT = 1 << 40


def run(loop: str, scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(asyncio.wait_for(scenario(), 60))


class Peer:
    """A raw WebSocket client: the bytes the server writes, exactly as they arrive."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def read(self, n: int) -> bytes:
        return await self.reader.readexactly(n)

    def close(self) -> None:
        self.writer.close()


class Rig:
    """A websockets server on loopback whose connections wait; raw clients connected to it."""

    def __init__(self) -> None:
        self.conns: list[ServerConnection] = []
        self.peers: list[Peer] = []
        self.arrived = asyncio.Condition()
        self.port = 0

    async def handler(self, ws: ServerConnection) -> None:
        async with self.arrived:
            self.conns.append(ws)
            self.arrived.notify_all()
        await ws.wait_closed()

    async def connect(self, *, small: bool = False) -> tuple[Peer, Session]:
        """A raw client and the server's session for it; ``small``: both socket buffers
        small (4 KiB), so that a paused reader fills them fast (loopback's default buffers
        grow to megabytes)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if small:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        before = len(self.conns)  # the server may take it before its answer reaches us
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(wire.build_handshake_request(f"127.0.0.1:{self.port}", "/", key))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        async with self.arrived:
            await self.arrived.wait_for(lambda: len(self.conns) > before)
        ws = self.conns[before]
        if small:
            ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        session = Session(ws, "ana", "ana", f"s{before}", "token", catching_up=False)
        session.fd = direct_fd(ws)
        peer = Peer(reader, writer)
        self.peers.append(peer)
        return peer, session


@contextlib.asynccontextmanager
async def rig(**kwargs: Any) -> AsyncIterator[Rig]:
    r = Rig()
    async with serve(r.handler, "127.0.0.1", 0, compression=None, ping_interval=None, **kwargs) as server:
        r.port = server.sockets[0].getsockname()[1]
        try:
            yield r
        finally:
            # The raw peers never answer a close frame: end their TCP connections first, so
            # that the server's shutdown does not wait out its close timeout for each.
            for peer in r.peers:
                peer.close()
            await asyncio.gather(*(ws.wait_closed() for ws in r.conns))


class CountingTransport:
    """The connection's transport, counting the writes that go through it."""

    def __init__(self, inner: asyncio.Transport) -> None:
        self.inner, self.writes = inner, 0

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.inner.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_the_compiled_loop_is_what_the_server_uses_when_built() -> None:
    compiled()
    assert writer.put_each is not put_each_py


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("loop", LOOPS)
def test_every_connection_gets_exactly_the_bytes_in_order(loop: str, impl: str) -> None:
    put_each = IMPLS[impl]()
    frames = [text_frame(""), text_frame("olá"), text_frame("x" * 126), text_frame("y" * 70_000),
              text_frame("z" * BIG), text_frame("fim")]

    async def scenario() -> None:
        async with rig() as r:
            pairs = [await r.connect(small=i % 2 == 0) for i in range(5)]  # some fill up
            sessions = [s for _, s in pairs]
            for frame in frames:
                assert put_each(sessions, frame, State.OPEN, NO_LIMIT) == []
            expected = b"".join(frames)
            # Read concurrently: the big frame needs every reader draining at once.
            got = await asyncio.gather(*(peer.read(len(expected)) for peer, _ in pairs))
            assert got == [expected] * len(pairs)

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_compiled_loop_hands_small_frames_to_the_kernel_and_the_rest_to_the_transport(loop: str) -> None:
    put_each = compiled()

    async def scenario() -> None:
        async with rig() as r:
            peer, session = await r.connect(small=True)
            assert session.fd >= 0
            counting = CountingTransport(session.ws.transport)
            session.ws.transport = counting  # type: ignore[assignment]
            put_each([session], text_frame("a"), State.OPEN, NO_LIMIT)
            assert counting.writes == 0  # straight to the socket: nothing was buffered
            put_each([session], text_frame("b" * BIG), State.OPEN, NO_LIMIT)
            assert counting.writes == 1  # the part the socket did not take
            assert counting.get_write_buffer_size() > 0
            put_each([session], text_frame("c"), State.OPEN, NO_LIMIT)
            assert counting.writes == 2  # queued behind the rest, never ahead of it
            expected = text_frame("a") + text_frame("b" * BIG) + text_frame("c")
            assert await peer.read(len(expected)) == expected

    run(loop, scenario)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_reader_that_does_not_read_is_reported_past_max_pending(loop: str, impl: str) -> None:
    put_each = IMPLS[impl]()

    async def scenario() -> None:
        async with rig() as r:
            peer, session = await r.connect(small=True)  # and it does not read for now
            big, small = text_frame("s" * 1_000_000), text_frame("ok")
            assert put_each([session], big, State.OPEN, 100_000) == [session]
            assert put_each([session], small, State.OPEN, NO_LIMIT) == []  # under this limit
            # Reported, not dropped: every byte is still on its way, in order.
            assert await peer.read(len(big) + len(small)) == big + small

    run(loop, scenario)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("loop", LOOPS)
def test_closing_sessions_and_closed_connections_get_nothing(loop: str, impl: str) -> None:
    put_each = IMPLS[impl]()

    async def scenario() -> None:
        async with rig() as r:
            peer, flagged = await r.connect()
            flagged.closing = True
            gone_peer, gone = await r.connect()
            gone_peer.close()
            await gone.ws.wait_closed()
            assert gone.ws.protocol.state is State.CLOSED
            # The next connection likely gets the closed one's descriptor number: a write
            # meant for the closed session must not reach it.
            new_peer, new = await r.connect()
            assert put_each([flagged, gone], text_frame("no"), State.OPEN, NO_LIMIT) == []
            put_each([flagged, gone, new], text_frame("yes"), State.OPEN, NO_LIMIT)
            assert await new_peer.read(len(text_frame("yes"))) == text_frame("yes")
            flagged.closing = False
            put_each([flagged], text_frame("now"), State.OPEN, NO_LIMIT)
            assert await peer.read(len(text_frame("now"))) == text_frame("now")  # "no" never came

    run(loop, scenario)


@pytest.mark.parametrize("loop", LOOPS)
def test_a_closing_transport_is_never_written_around(loop: str) -> None:
    """After ``transport.close()`` the descriptor may be reused at any moment: no direct send."""
    put_each = compiled()

    async def scenario() -> None:
        async with rig() as r:
            peer, session = await r.connect()
            fd = session.fd
            assert fd >= 0
            session.ws.transport.close()
            put_each([session], text_frame("late"), State.OPEN, NO_LIMIT)
            # The peer sees the end of the stream and not one byte of "late".
            assert await peer.reader.read() == b""

    run(loop, scenario)


def test_no_direct_descriptor_for_a_tls_connection() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)

    async def scenario() -> None:
        async with rig(ssl=server_ctx) as r:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", r.port, ssl=client_ctx, server_hostname="127.0.0.1")
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(wire.build_handshake_request(f"127.0.0.1:{r.port}", "/", key))
            await reader.readuntil(b"\r\n\r\n")
            async with r.arrived:
                await r.arrived.wait_for(lambda: len(r.conns) == 1)
            assert direct_fd(r.conns[0]) == -1
            writer.close()

    for loop in LOOPS:
        run(loop, scenario)


def test_compiled_loop_rejects_bad_arguments_clearly() -> None:
    put_each = compiled_raw()
    with pytest.raises(TypeError, match="5 arguments"):
        put_each([], b"")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="bytes"):
        put_each([], "text", State.OPEN, 1, [])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="sequence"):
        put_each(None, b"x", State.OPEN, 1, [])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list"):
        put_each([], b"x", State.OPEN, 1, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("impl", RAW)
def test_a_session_that_is_not_one_is_reported_not_raised(impl: str) -> None:
    put_each = RAW[impl]()
    broken: Broken = []
    thing = object()
    assert put_each([thing], b"x", State.OPEN, 1, broken) == []  # type: ignore[list-item]
    assert [(who, type(error)) for who, error in broken] == [(thing, AttributeError)]


class FailingTransport(CountingTransport):
    """The connection's transport, whose buffer size cannot be read once (a broken transport,
    as both loops see it: after the write in Python, before the direct send in C)."""

    def __init__(self, inner: asyncio.Transport) -> None:
        super().__init__(inner)
        self.failures = 1

    def get_write_buffer_size(self) -> int:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("transport broke")
        return self.inner.get_write_buffer_size()


@pytest.mark.parametrize("impl", RAW)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_write_that_raises_is_reported_and_the_others_are_written(loop: str, impl: str) -> None:
    put_each = RAW[impl]()

    async def scenario() -> None:
        async with rig() as r:
            pairs = [await r.connect() for _ in range(4)]
            sessions = [s for _, s in pairs]
            victim = sessions[1]
            victim.ws.transport = FailingTransport(victim.ws.transport)  # type: ignore[assignment]
            broken: Broken = []
            frame = text_frame("para todos")
            assert put_each(sessions, frame, State.OPEN, NO_LIMIT, broken) == []
            assert [(who, str(error)) for who, error in broken] == [(victim, "transport broke")]
            for peer, session in pairs:
                if session is not victim:  # before and after it in the same call
                    assert await peer.read(len(frame)) == frame

    run(loop, scenario)
