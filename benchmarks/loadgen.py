"""The load generator: lean WebSocket clients in worker processes, steered over a pipe.

Each worker process holds a share of the clients on one event loop (uvloop when installed),
binds them to its own source address (127.0.0.2, 127.0.0.3, ...) so that 10,000 connections
never run out of ephemeral ports, and is pinned to the generator's core.

A client is a bare ``asyncio.Protocol`` (see wsframes.py for why not websockets' client). It
speaks one of three dialects:

- ``wschat``: ``GET /ws``, then a login frame (password or token), ready at ``welcome``;
- ``relay``: ``GET /?name=NAME``, ready once the handshake is done (the peer relays);
- ``socketio``: ``GET /socket.io/?EIO=4&transport=websocket&name=NAME``, then the Engine.IO
  open packet ``0{...}``, our Socket.IO connect ``40``, ready at the server's ``40{...}``;
  Engine.IO pings (``2``) are answered with pongs (``3``).

Measured messages carry a stamp that survives every dialect's framing unchanged (plain ASCII,
nothing JSON escapes): ``~B`` + 6-digit broadcast number + space + 19-digit send time
(``time.monotonic_ns()``, one clock for every process on the machine), or ``~P`` for a
private message. The hot path of a worker is: parse frame header, find ``~B``, two ``int()``,
one ``array.append``, one dict update.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import os
import resource
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from . import wsframes
from .wsframes import CLOSE, PING, TEXT, FrameReader, encode_frame

__all__ = ["Client", "ClientSpec", "LoginPlan", "stamp", "worker_main"]

STAMP_BROADCAST = b"~B"
STAMP_PRIVATE = b"~P"
TEXT_SIZE = 100  # characters of every measured message's text


def stamp(kind: str, number: int, sent_ns: int) -> str:
    """A ~100-character text: marker, number, send time, padding."""
    head = f"~{kind}{number:06d} {sent_ns:019d} "
    return head + "x" * (TEXT_SIZE - len(head))


def raise_file_limit() -> int:
    """Raise RLIMIT_NOFILE to its hard limit (10,000 sockets need more than the usual 1,024)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop when installed (every contender gets the same choice), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


@dataclass(frozen=True, slots=True)
class LoginPlan:
    """How client number ``i`` identifies itself: a wschat login, or a name for the peers."""

    users: tuple[str, ...]
    tokens: tuple[str, ...]  # wschat only, one per user

    def login_frame(self, i: int) -> bytes:
        k = i % len(self.users)
        return json.dumps({"type": "login", "user": self.users[k], "token": self.tokens[k]}).encode()

    def name(self, i: int) -> str:
        return self.users[i % len(self.users)]


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """Where and how to connect."""

    dialect: str  # "wschat" | "relay" | "socketio"
    host: str
    port: int
    deflate: bool = False  # offer permessage-deflate

    def path(self, name: str) -> str:
        if self.dialect == "wschat":
            return "/ws"
        if self.dialect == "socketio":
            return f"/socket.io/?EIO=4&transport=websocket&name={name}"
        return f"/?name={name}"


class Sink:
    """What clients report to: stamped messages, readiness, loss."""

    def on_broadcast(self, bid: int, sent_ns: int, now: int) -> None: ...

    def on_private(self, number: int, sent_ns: int, now: int) -> None: ...

    def on_lost(self, client: Client) -> None: ...


class Client(asyncio.Protocol):
    """One lean WebSocket client (see the module doc for the dialects)."""

    def __init__(
        self,
        spec: ClientSpec,
        sink: Sink,
        first_frame: bytes | None,
        name: str,
        ready: asyncio.Future[Client],
    ) -> None:
        self.spec = spec
        self.sink = sink
        self.first_frame = first_frame  # wschat: the login frame
        self.name = name
        self.ready = ready
        self.transport: asyncio.Transport | None = None
        self.reader: FrameReader | None = None
        self.key = wsframes.new_key()
        self.head = b""
        self.is_ready = False
        self.welcome: dict[str, Any] | None = None

    # -- connection -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, hence the cast.
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.write(
            wsframes.handshake_request(
                self.spec.host, self.spec.port, self.spec.path(self.name), self.key,
                deflate=self.spec.deflate,
            )
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before ready: {exc}"))
        elif self.is_ready:
            self.is_ready = False
            self.sink.on_lost(self)

    def send_text(self, text: str | bytes) -> None:
        if self.transport is not None:
            data = text.encode() if isinstance(text, str) else text
            self.transport.write(encode_frame(TEXT, data))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    # -- reading ----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        if reader is None:
            self._handshake(data)
            return
        now = time.monotonic_ns()
        # Fast path, most deliveries: the read is exactly one whole unmasked text frame of a
        # measured broadcast, nothing buffered; no frame parser call, no slicing.
        size = len(data)
        if size > 2 and data[0] == 0x81 and not reader.buffered:
            b1 = data[1]
            if (b1 < 126 and b1 == size - 2) or (b1 == 126 and int.from_bytes(data[2:4], "big") == size - 4):
                i = data.find(STAMP_BROADCAST, 2)
                if i >= 0:
                    self.sink.on_broadcast(int(data[i + 2 : i + 8]), int(data[i + 9 : i + 28]), now)
                    return
        try:
            frames = list(reader.feed(data))
        except (wsframes.FrameError, ValueError) as error:
            self._fail(error)
            return
        for _fin, opcode, payload in frames:
            if opcode == TEXT:
                i = payload.find(STAMP_BROADCAST)
                if i >= 0:  # the hot path: a measured broadcast
                    self.sink.on_broadcast(
                        int(payload[i + 2 : i + 8]), int(payload[i + 9 : i + 28]), now
                    )
                    continue
                i = payload.find(STAMP_PRIVATE)
                if i >= 0:
                    self.sink.on_private(
                        int(payload[i + 2 : i + 8]), int(payload[i + 9 : i + 28]), now
                    )
                    continue
                self._text(payload)
            elif opcode == PING:
                self._write(wsframes.PONG, payload)
            elif opcode == CLOSE:
                self._write(CLOSE, payload[:2])
                if self.transport is not None:
                    self.transport.close()

    def _write(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None:
            self.transport.write(encode_frame(opcode, payload))

    def _handshake(self, data: bytes) -> None:
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            return
        rest = self.head[end + 4 :]
        try:
            headers = wsframes.parse_handshake_response(self.head[:end], self.key)
        except wsframes.FrameError as error:
            self._fail(error)
            return
        self.head = b""
        deflate = "permessage-deflate" in headers.get("sec-websocket-extensions", "")
        self.reader = FrameReader(inflate=deflate)
        if self.spec.dialect == "wschat":
            assert self.first_frame is not None
            self.send_text(self.first_frame)
        elif self.spec.dialect == "relay":
            self._set_ready()
        if rest:
            self.data_received(rest)

    def _text(self, payload: bytes) -> None:
        dialect = self.spec.dialect
        if dialect == "socketio":
            if payload == b"2":  # Engine.IO ping
                self.send_text(b"3")
            elif payload.startswith(b"0{"):  # Engine.IO open: connect to the "/" namespace
                self.send_text(b"40")
            elif payload.startswith(b"40") and not self.is_ready:
                self._set_ready()
            elif payload.startswith(b"44"):
                self._fail(ConnectionError(f"socket.io refused: {payload[:200]!r}"))
        elif dialect == "wschat" and not self.is_ready:
            frame = json.loads(payload)
            if frame.get("type") == "welcome":
                self.welcome = frame
                self._set_ready()
            elif frame.get("type") == "error":
                self._fail(ConnectionError(f"login refused: {frame}"))

    def _set_ready(self) -> None:
        self.is_ready = True
        if not self.ready.done():
            self.ready.set_result(self)

    def _fail(self, error: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(error)
        self.abort()


async def open_client(
    spec: ClientSpec,
    sink: Sink,
    *,
    name: str,
    first_frame: bytes | None = None,
    source: str | None = None,
    timeout: float = 30.0,
) -> Client:
    """Connect one client and wait until it is ready (logged in / connected)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Client] = loop.create_future()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: Client(spec, sink, first_frame, name, ready),
            spec.host,
            spec.port,
            local_addr=(source, 0) if source else None,
        ),
        timeout,
    )
    try:
        return await asyncio.wait_for(ready, timeout)
    except BaseException:
        client.abort()
        raise


# ---------------------------------------------------------------------------- worker process


class Worker(Sink):
    """One generator process: a share of the clients, and the counts of what they received.

    Commands arrive on the pipe as tuples; replies go back the same way:

    - ``("connect", first_index, count, plan)`` -> ``("connected", ok, failed, seconds)``
    - ``("arm", count_from, record_from)``: count broadcasts with number >= count_from (each
      worker reports ``("done", bid, last_ns)`` once all its clients have one), and record
      the latency of each delivery with number >= record_from -> ``("armed",)``
    - ``("collect",)`` -> ``("stats", latencies_ns_bytes, clients, lost)``
    - ``("close",)`` -> ``("closed",)``, then the process ends.
    """

    CONCURRENT_CONNECTS = 20  # per worker: stays under the servers' listen backlog (100)

    def __init__(self, pipe: Connection, spec: ClientSpec, source: str) -> None:
        self.pipe = pipe
        self.spec = spec
        self.source = source
        self.clients: list[Client] = []
        self.live = 0
        self.lost = 0
        self.count_from = 1 << 62
        self.record_from = 1 << 62
        self.counts: dict[int, int] = {}
        self.last: dict[int, int] = {}
        self.latencies = array.array("q")
        self.finished: asyncio.Future[None] | None = None
        self.tasks: set[asyncio.Future[None]] = set()

    # -- Sink --------------------------------------------------------------------------

    def on_broadcast(self, bid: int, sent_ns: int, now: int) -> None:
        if bid < self.count_from:
            return  # history or replay of an earlier phase
        if bid >= self.record_from:
            self.latencies.append(now - sent_ns)
        count = self.counts.get(bid, 0) + 1
        if count >= self.live:
            self.counts.pop(bid, None)
            self.pipe.send(("done", bid, now))
        else:
            self.counts[bid] = count

    def on_lost(self, client: Client) -> None:
        self.live -= 1
        self.lost += 1

    # -- commands ---------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.finished = loop.create_future()
        loop.add_reader(self.pipe.fileno(), self._on_command)
        # uvloop makes a watched fd non-blocking; Connection.recv needs it blocking (a big
        # message arrives in several reads), and we only call it once the fd is readable.
        os.set_blocking(self.pipe.fileno(), True)
        await self.finished

    def _on_command(self, *_: Any) -> None:
        try:
            command = self.pipe.recv()
        except (EOFError, OSError):  # the coordinator is gone: so are we
            command = ("close",)
        verb = command[0]
        if verb == "connect":
            task = asyncio.ensure_future(self._connect(command[1], command[2], command[3]))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        elif verb == "arm":
            self.count_from, self.record_from = command[1], command[2]
            self.counts.clear()
            self.latencies = array.array("q")
            self.pipe.send(("armed",))
        elif verb == "collect":
            self.pipe.send(("stats", self.latencies.tobytes(), self.live, self.lost))
        elif verb == "close":
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
            for client in self.clients:
                client.abort()
            with contextlib.suppress(OSError):
                self.pipe.send(("closed",))
            assert self.finished is not None
            if not self.finished.done():
                self.finished.set_result(None)

    async def _connect(self, first: int, count: int, plan: LoginPlan) -> None:
        gate = asyncio.Semaphore(self.CONCURRENT_CONNECTS)
        failed = 0

        async def one(i: int) -> None:
            nonlocal failed
            async with gate:
                name = plan.name(i)
                frame = plan.login_frame(i) if self.spec.dialect == "wschat" else None
                try:
                    client = await open_client(
                        self.spec, self, name=name, first_frame=frame, source=self.source
                    )
                except (OSError, ConnectionError, TimeoutError, wsframes.FrameError):
                    failed += 1
                    return
                self.clients.append(client)
                self.live += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(first, first + count)))
        self.pipe.send(("connected", count - failed, failed, time.perf_counter() - start))


def worker_main(pipe: Connection, spec: ClientSpec, source: str, core: int | None) -> None:
    """Entry point of a generator process."""
    from .run import die_with_parent

    die_with_parent()
    if core is not None:
        os.sched_setaffinity(0, {core})
    # The coordinator shares the generator's core and times the private messages and the
    # sends: a lower priority for the workers keeps a burst of broadcast deliveries here from
    # delaying those timings (the workers' own timestamps are taken on arrival anyway).
    os.nice(5)
    raise_file_limit()
    worker = Worker(pipe, spec, source)
    loop = new_loop()
    try:
        loop.run_until_complete(worker.run())
    finally:
        loop.close()

