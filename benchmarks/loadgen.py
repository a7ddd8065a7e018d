"""The load generator: lean WebSocket clients in worker processes, steered over a pipe.

Each worker process holds a share of the clients on one event loop (uvloop when installed),
binds them to its own source address (127.0.0.2, 127.0.0.3, ...) so that 10,000 connections
never run out of ephemeral ports, and may be pinned to the generator's core. The coordinator
steers them through a :class:`WorkerPool` (benchmarks/run.py, tests/server/test_soak.py).

A client is a bare ``asyncio.BufferedProtocol`` (see wsframes.py for why not websockets'
client). It speaks one of three dialects:

- ``wschat``: ``GET /ws``, then a login frame (password or token), ready at ``welcome``;
- ``relay``: ``GET /?name=NAME``, ready once the handshake is done (the peer relays);
- ``socketio``: ``GET /socket.io/?EIO=4&transport=websocket&name=NAME``, then the Engine.IO
  open packet ``0{...}``, our Socket.IO connect ``40``, ready at the server's ``40{...}``;
  Engine.IO pings (``2``) are answered with pongs (``3``).

Measured messages carry a stamp that survives every dialect's framing unchanged (plain ASCII,
nothing JSON escapes): ``~B`` + 6-digit broadcast number + space + 19-digit send time
(``time.monotonic_ns()``, one clock for every process on the machine), or ``~P`` for a
private message.

**Sampled and counted clients.** Reading must cost the generator much less than writing costs
the server, or the generator is what gets measured. So only a sample of the clients parses
each stamp: those whose number in the run is a multiple of ``sample_every`` (given at each
``arm``; benchmarks/run.py picks it so that about 1,000 clients are sampled, spread evenly over
the connection order, which is what a server's write order follows). They record each
delivery's latency and check their own order (each broadcast number is the previous one + 1).
Every other client only *counts* broadcasts: it walks the frame headers of what it read,
finds the ``~B`` marker inside each text frame with one C-level ``bytearray.find`` over the
frame's bounds, and compares the 6 digits after it with the armed floor as bytes (older
broadcasts, e.g. a login's history, are not counted); no payload is copied, no number parsed.
Since every server here writes each connection's frames in order, a client that counted ``c``
broadcasts since the worker was armed has the first ``c`` of them: that is how a worker knows
when every client has broadcast ``count_from + c - 1``. Reads go into one buffer shared by a
thread's clients (``get_buffer``/``buffer_updated``, no bytes object per read); a partial frame
at the end of a read is copied and carried to the next one. Pings are answered
and close frames obeyed by every client, sampled or not. Compressed frames (only in the
idle-memory phase with deflate offered) are inflated and handled by the dialect logic; their
stamps, if any, are not counted.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import resource
import signal
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from . import wsframes
from .wsframes import CLOSE, PING, PONG, TEXT, encode_frame

__all__ = [
    "Client",
    "ClientSpec",
    "LoginPlan",
    "Sink",
    "WorkerPool",
    "die_with_parent",
    "open_client",
    "raise_file_limit",
    "stamp",
    "worker_main",
]

STAMP_BROADCAST = b"~B"
STAMP_PRIVATE = b"~P"
TEXT_SIZE = 100  # characters of every measured message's text
NEVER = 1 << 62  # a broadcast number no run reaches
READ_SIZE = 256 * 1024  # bytes of the read buffer shared by a thread's clients
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


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
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory()


def die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so no server or worker outlives a run."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


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
    """What clients report to, and the counting state they read in their hot path.

    Until :meth:`arm` is called nothing is counted (coordinator-side clients never are).
    """

    def __init__(self) -> None:
        self.count_from = NEVER
        self.floor = b":"  # as bytes, above every 6-digit number (":" follows "9" in ASCII)
        self.record_from = NEVER
        #: reached[c]: how many clients have counted c broadcasts since the last arm.
        self.reached: list[int] = [0]
        self.live = NEVER
        self.latencies = array.array("q")  # ns, one per sampled delivery...
        self.latency_clients = array.array("l")  # ...and the index of the client that had it

    def arm(self, count_from: int, record_from: int) -> None:
        """Count broadcasts numbered ``count_from`` and up; sampled clients record latencies
        of those numbered ``record_from`` and up. Clients' own counts must be reset too."""
        self.count_from, self.record_from = count_from, record_from
        self.floor = f"{count_from:06d}".encode()
        self.reached = [0] * 4096
        self.latencies = array.array("q")
        self.latency_clients = array.array("l")

    def on_complete(self, count: int) -> None:
        """Every live client has counted ``count`` broadcasts since the last arm."""

    def on_private(self, number: int, sent_ns: int, now: int) -> None:
        """A sampled client got private message ``number``, sent at ``sent_ns``, at ``now``."""

    def on_lost(self, client: Client) -> None:
        """A ready client's connection ended without being asked to."""


_buffers = threading.local()


def _read_buffer() -> bytearray:
    """The read buffer of this thread's clients (reads are handled one at a time per loop)."""
    buffer: bytearray | None = getattr(_buffers, "buffer", None)
    if buffer is None:
        buffer = _buffers.buffer = bytearray(READ_SIZE)
    return buffer


class Client(asyncio.BufferedProtocol):
    """One lean WebSocket client (see the module doc for the dialects and sampling)."""

    def __init__(
        self,
        spec: ClientSpec,
        sink: Sink,
        first_frame: bytes | None,
        name: str,
        ready: asyncio.Future[Client],
        *,
        sampled: bool = True,
        index: int = -1,
    ) -> None:
        self.spec = spec
        self.sink = sink
        self.first_frame = first_frame  # wschat: the login frame
        self.name = name
        self.ready = ready
        self.sampled = sampled
        self.index = index  # its number in the run (-1: a coordinator's own client)
        self.transport: asyncio.Transport | None = None
        self.buffer = _read_buffer()
        self.key = wsframes.new_key()
        self.head = b""  # the handshake response until it is whole
        self.upgraded = False
        self.carry = b""  # the start of a frame whose end has not been read yet
        self.inflater: Any = None  # permessage-deflate negotiated: a zlib decompressor
        self.is_ready = False
        self.leaving = False
        self.closed: asyncio.Future[None] = ready.get_loop().create_future()
        self.welcome: dict[str, Any] | None = None
        # Tallies since the last arm (broadcasts) or since connecting (privates).
        self.count = 0  # broadcasts counted (numbered count_from and up)
        self.last = 0  # sampled: the number of the last one
        self.disorder = 0  # sampled: broadcasts whose number was not the last one's + 1
        self.privates = 0
        self.last_private = 0
        self.private_disorder = 0  # privates whose number was not above the previous one's

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
        if not self.closed.done():
            self.closed.set_result(None)
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

    def leave(self) -> None:
        """Close politely: a close frame (1000); the server answers and ends the connection."""
        self.is_ready = False
        self.leaving = True
        self._write(CLOSE, (1000).to_bytes(2, "big"))

    # -- reading ----------------------------------------------------------------------

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        buffer = self.buffer
        if not self.upgraded:
            self._handshake(bytes(buffer[:nbytes]))
            return
        if self.carry:
            data: bytes | bytearray = self.carry + buffer[:nbytes]
            size = len(data)
        else:
            data, size = buffer, nbytes
        pos = self._frames(data, size)
        self.carry = bytes(data[pos:size]) if pos < size else b""

    def _frames(self, data: bytes | bytearray, size: int) -> int:
        """Handle the whole frames in ``data[:size]``; return where the first partial one starts.

        The hot path of the generator: see the module doc. Per broadcast a counted client
        does one ``find`` and one 6-byte compare; a sampled one parses the two numbers.
        """
        sink = self.sink
        floor, reached, live = sink.floor, sink.reached, sink.live
        sampled = self.sampled
        now = time.monotonic_ns() if sampled else 0
        count = self.count
        pos = 0
        while size - pos >= 2:
            b0 = data[pos]
            n = data[pos + 1]
            start = pos + 2
            if n > 125:
                if n == 126:
                    if size - start < 2:
                        break
                    n = (data[start] << 8) | data[start + 1]
                    start += 2
                elif n == 127:
                    if size - start < 8:
                        break
                    n = int.from_bytes(data[start : start + 8], "big")
                    start += 8
                else:
                    self.count = count
                    self._fail(wsframes.FrameError("server frames must not be masked"))
                    return size
            end = start + n
            if end > size:
                break
            pos = end
            if b0 == 0x81:  # a whole text frame, uncompressed
                i = data.find(STAMP_BROADCAST, start, end)
                if i >= 0:
                    if sampled:
                        bid = int(data[i + 2 : i + 8])
                        if bid < sink.count_from:
                            continue  # history, or an earlier phase
                        if self.last and bid != self.last + 1:
                            self.disorder += 1
                        self.last = bid
                        if bid >= sink.record_from:
                            sink.latencies.append(now - int(data[i + 9 : i + 28]))
                            sink.latency_clients.append(self.index)
                    elif data[i + 2 : i + 8] < floor:
                        continue
                    count += 1
                    try:
                        k = reached[count] + 1
                    except IndexError:
                        reached.extend([0] * len(reached))
                        k = reached[count] + 1
                    reached[count] = k
                    if k >= live:
                        sink.on_complete(count)
                    continue
                self._text(bytes(data[start:end]))
            else:
                self.count = count
                self._other(b0, bytes(data[start:end]))
                count = self.count
        self.count = count
        return pos

    def _other(self, b0: int, payload: bytes) -> None:
        """Anything but a whole uncompressed text frame: control frames, compressed frames."""
        if b0 & 0x70:
            if b0 & 0x40 and self.inflater is not None:
                payload = self.inflater.decompress(payload + _DEFLATE_TAIL)
            else:
                self._fail(wsframes.FrameError("reserved bits set without a negotiated extension"))
                return
        opcode = b0 & 0x0F
        if opcode == TEXT:
            self._text(payload)
        elif opcode == PING:
            self._write(PONG, payload)
        elif opcode == CLOSE:
            if not self.leaving:
                self._write(CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def _text(self, payload: bytes) -> None:
        """A text frame that is not a counted broadcast: a private message, or the dialect's."""
        i = payload.find(STAMP_PRIVATE)
        if i >= 0:
            number = int(payload[i + 2 : i + 8])
            self.privates += 1
            if number <= self.last_private:
                self.private_disorder += 1
            self.last_private = number
            if self.sampled:
                self.sink.on_private(number, int(payload[i + 9 : i + 28]), time.monotonic_ns())
            return
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
        elif dialect == "wschat" and not self.is_ready and not self.ready.done():
            frame = json.loads(payload)
            if frame.get("type") == "welcome":
                self.welcome = frame
                self._set_ready()
            elif frame.get("type") == "error":
                self._fail(ConnectionError(f"login refused: {frame}"))

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
            headers = wsframes.parse_handshake_response(self.head[: end + 4], self.key)
        except wsframes.FrameError as error:
            self._fail(error)
            return
        self.head = b""
        self.upgraded = True
        if "permessage-deflate" in headers.get("sec-websocket-extensions", ""):
            self.inflater = zlib.decompressobj(-15)
        if self.spec.dialect == "wschat":
            assert self.first_frame is not None
            self.send_text(self.first_frame)
        elif self.spec.dialect == "relay":
            self._set_ready()
        if rest:
            pos = self._frames(rest, len(rest))
            self.carry = rest[pos:]

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
    index: int = -1,
) -> Client:
    """Connect one client and wait until it is ready (logged in / connected)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[Client] = loop.create_future()
    _, client = await asyncio.wait_for(
        loop.create_connection(
            lambda: Client(spec, sink, first_frame, name, ready, index=index),
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


def password_login(user: str, password: str) -> bytes:
    """A wschat login frame with a password (the first one for a name registers it)."""
    return json.dumps({"type": "login", "user": user, "password": password}).encode()


async def register(spec: ClientSpec, users: tuple[str, ...], password: str) -> LoginPlan:
    """Log each of ``users`` in once with ``password`` (registering it), keep its token and
    leave: the plan's logins are then token logins, so thousands of clients cost no slow
    hash each."""
    logins = await asyncio.gather(*(
        open_client(spec, Sink(), name=user, first_frame=password_login(user, password))
        for user in users
    ))
    tokens = tuple(str(c.welcome["token"]) for c in logins if c.welcome is not None)
    for client in logins:
        client.abort()
    return LoginPlan(users, tokens)


# ---------------------------------------------------------------------------- worker process


class Worker(Sink):
    """One generator process: a share of the clients, and the counts of what they received.

    Commands arrive on the pipe as tuples; replies go back the same way:

    - ``("connect", first_index, count, plan)`` -> ``("connected", ok, failed, seconds)``
    - ``("arm", count_from, record_from, sample_every)``: count broadcasts with number >=
      count_from (the worker reports ``("done", number, now_ns)`` once all its clients have
      that one); the clients whose index is a multiple of sample_every are sampled: they
      record the latency of each one numbered >= record_from -> ``("armed",)``
    - ``("collect",)`` -> ``("stats", latencies_ns_bytes, client_indexes_bytes, live, lost,
      deliveries)``: ``deliveries`` counts every client's broadcasts numbered record_from and up
    - ``("tally",)`` -> ``("tally", rows)``, a row per client: ``(index, name, count, last,
      disorder, privates, last_private, private_disorder, open)`` (see :class:`Client`)
    - ``("leave",)``: every client closes politely (1000) -> ``("left", closed, aborted)``
      once the server has ended every connection (those still open after 20 s are aborted)
    - ``("close",)`` -> ``("closed",)``: connections aborted, then the process ends.
    """

    CONCURRENT_CONNECTS = 20  # per worker: stays under the servers' listen backlog (100)
    LEAVE_TIMEOUT = 20.0

    def __init__(self, pipe: Connection, spec: ClientSpec, source: str) -> None:
        super().__init__()
        self.pipe = pipe
        self.spec = spec
        self.source = source
        self.clients: list[Client] = []
        self.live = 0
        self.lost = 0
        self.finished: asyncio.Future[None] | None = None
        self.tasks: set[asyncio.Future[None]] = set()

    # -- Sink --------------------------------------------------------------------------

    def on_complete(self, count: int) -> None:
        self.pipe.send(("done", self.count_from + count - 1, time.monotonic_ns()))

    def on_lost(self, client: Client) -> None:
        self.live -= 1
        self.lost += 1

    def rearm(self, count_from: int, record_from: int, sample_every: int) -> None:
        """:meth:`arm`, with every client's own counts reset and the sample chosen."""
        self.arm(count_from, record_from)
        for client in self.clients:
            client.count = client.last = client.disorder = 0
            client.sampled = client.index % sample_every == 0

    # -- commands ---------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.finished = loop.create_future()
        loop.add_reader(self.pipe.fileno(), self._on_command)
        # uvloop makes a watched fd non-blocking; Connection.recv needs it blocking (a big
        # message arrives in several reads), and we only call it once the fd is readable.
        os.set_blocking(self.pipe.fileno(), True)
        await self.finished

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _on_command(self, *_: Any) -> None:
        try:
            command = self.pipe.recv()
        except (EOFError, OSError):  # the coordinator is gone: so are we
            command = ("close",)
        verb = command[0]
        if verb == "connect":
            self._spawn(self._connect(command[1], command[2], command[3]))
        elif verb == "arm":
            self.rearm(command[1], command[2], command[3])
            self.pipe.send(("armed",))
        elif verb == "collect":
            skip = self.record_from - self.count_from
            deliveries = sum(max(0, c.count - skip) for c in self.clients)
            self.pipe.send(("stats", self.latencies.tobytes(), self.latency_clients.tobytes(),
                            self.live, self.lost, deliveries))
        elif verb == "tally":
            rows = [
                (c.index, c.name, c.count, c.last, c.disorder, c.privates, c.last_private,
                 c.private_disorder, c.transport is not None)
                for c in self.clients
            ]
            self.pipe.send(("tally", rows))
        elif verb == "leave":
            self._spawn(self._leave())
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
                        self.spec, self, name=name, first_frame=frame, source=self.source, index=i
                    )
                except (OSError, ConnectionError, TimeoutError, wsframes.FrameError):
                    failed += 1
                    return
                self.clients.append(client)
                self.live += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(first, first + count)))
        self.pipe.send(("connected", count - failed, failed, time.perf_counter() - start))

    async def _leave(self) -> None:
        open_ = [c for c in self.clients if c.transport is not None]
        for client in open_:
            if client.is_ready:
                self.live -= 1
            client.leave()
        waits = [c.closed for c in open_]
        if waits:
            _, pending = await asyncio.wait(waits, timeout=self.LEAVE_TIMEOUT)
        else:
            pending = set()
        for client in open_:
            if not client.closed.done():
                client.abort()
        self.pipe.send(("left", len(open_) - len(pending), len(pending)))


def worker_main(pipe: Connection, spec: ClientSpec, source: str, core: int | None) -> None:
    """Entry point of a generator process."""
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


# ------------------------------------------------------------------------- coordinator side


class WorkerPool:
    """The coordinator's side of the worker processes: start, steer over the pipes, stop.

    Worker ``w`` binds its clients to ``127.0.0.{2 + w}``. ``on_done(number, now_ns)`` is
    called on the coordinator's loop each time one worker has broadcast ``number`` at every
    one of its clients. Create and use it on a running event loop.
    """

    def __init__(
        self,
        spec: ClientSpec,
        workers: int,
        *,
        core: int | None = None,
        on_done: Callable[[int, int], None] | None = None,
    ) -> None:
        self.spec = spec
        self.n_workers = workers
        self.core = core
        self.on_done = on_done
        self.pipes: list[Connection] = []
        self.procs: list[Any] = []
        self.replies: list[asyncio.Queue[tuple[Any, ...]]] = []
        self.live: list[int] = []  # ready clients per worker, as of the last reply
        self.clients = 0  # clients connected so far (the next one's index)
        self.closed: set[int] = set()  # workers told to close

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def start(self) -> None:
        ctx = mp.get_context("spawn")
        loop = asyncio.get_running_loop()
        for w in range(self.n_workers):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(
                target=worker_main,
                args=(theirs, self.spec, f"127.0.0.{2 + w}", self.core),
                daemon=True,
            )
            proc.start()
            theirs.close()
            self.pipes.append(ours)
            self.procs.append(proc)
            self.replies.append(asyncio.Queue())
            self.live.append(0)
            loop.add_reader(ours.fileno(), self._on_pipe, w)
            os.set_blocking(ours.fileno(), True)  # see Worker.run

    def _on_pipe(self, w: int) -> None:
        pipe = self.pipes[w]
        try:
            while pipe.poll():
                message = pipe.recv()
                if message[0] == "done":
                    if self.on_done is not None:
                        self.on_done(message[1], message[2])
                else:
                    self.replies[w].put_nowait(message)
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(pipe.fileno())

    async def ask(self, message: tuple[Any, ...], workers: Sequence[int] | None = None) -> list[tuple[Any, ...]]:
        """Send ``message`` to some workers (default: all); their replies, in worker order."""
        chosen = range(self.n_workers) if workers is None else workers
        for w in chosen:
            self.pipes[w].send(message)
        return [await self.replies[w].get() for w in chosen]

    async def connect(self, plan: LoginPlan, total: int) -> dict[str, float]:
        """Add clients until ``total`` are connected; spread evenly over the workers."""
        add = total - self.clients
        shares = [add // self.n_workers + (1 if w < add % self.n_workers else 0)
                  for w in range(self.n_workers)]
        start = time.perf_counter()
        first = self.clients
        for w, share in enumerate(shares):
            self.pipes[w].send(("connect", first, share, plan))
            first += share
        replies = [await q.get() for q in self.replies]
        seconds = time.perf_counter() - start
        ok = sum(r[1] for r in replies)
        failed = sum(r[2] for r in replies)
        for w, r in enumerate(replies):
            self.live[w] += r[1]
        self.clients = first
        return {"added": ok, "failed": failed, "seconds": seconds, "per_s": ok / seconds if seconds else 0.0}

    async def arm(self, count_from: int, record_from: int, sample_every: int = 1) -> None:
        """See :class:`Worker`; by default every client is sampled."""
        await self.ask(("arm", count_from, record_from, sample_every))

    async def collect(self) -> tuple[list[tuple[bytes, bytes]], int, int]:
        """Every worker's latencies (int64 ns, as bytes) with the index of the client of each
        (as bytes of C longs), the clients lost, and the deliveries."""
        replies = await self.ask(("collect",))
        for w, r in enumerate(replies):
            self.live[w] = int(r[3])
        return ([(r[1], r[2]) for r in replies], sum(int(r[4]) for r in replies),
                sum(int(r[5]) for r in replies))

    async def tally(self) -> list[tuple[Any, ...]]:
        """One row per client of every worker (see :class:`Worker`)."""
        return [row for r in await self.ask(("tally",)) for row in r[1]]

    async def leave(self, workers: Sequence[int] | None = None) -> tuple[int, int]:
        """Clients of these workers close politely: (closed by the server, aborted)."""
        replies = await self.ask(("leave",), workers)
        for w in range(self.n_workers) if workers is None else workers:
            self.live[w] = 0
        return sum(r[1] for r in replies), sum(r[2] for r in replies)

    async def close(self, workers: Sequence[int] | None = None, timeout: float = 20.0) -> None:
        """Abort every connection of these workers (default: all still running) and end
        their processes."""
        chosen = [w for w in (range(self.n_workers) if workers is None else workers)
                  if w not in self.closed]
        self.closed.update(chosen)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ask(("close",), chosen), timeout)
        loop = asyncio.get_running_loop()
        for w in chosen:
            self.live[w] = 0
            with contextlib.suppress(Exception):
                loop.remove_reader(self.pipes[w].fileno())
            self.pipes[w].close()
        for w in chosen:
            proc = self.procs[w]
            await asyncio.to_thread(proc.join, 5)
            if proc.is_alive():
                proc.kill()
