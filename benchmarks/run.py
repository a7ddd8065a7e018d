"""The coordinator: starts each contender pinned to its core, steers the generator, measures.

One *session* is one server process plus the generator's worker processes. Each contender
run uses three sessions (see benchmarks/README.md for the workload):

1. ``connect``: connect 10,000 idle clients as fast as the server takes them (connections/s),
   then RSS growth per connection and the extrapolated most connections within 1 GiB;
2. ``deflate``: the same idle clients, each offering permessage-deflate (memory only);
3. ``fanout``: clients added in steps; at each step 100 broadcasts with 4 in flight (the
   websocket-shootout sample), and at 1,000 clients an open-loop phase of 20 broadcasts/s
   with private messages between two other users.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes.util
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from .loadgen import (
    Client,
    ClientSpec,
    LoginPlan,
    Sink,
    WorkerPool,
    die_with_parent,
    new_loop,
    open_client,
    password_login,
    raise_file_limit,
    register,
    stamp,
)

SERVER_CORE = 0
GENERATOR_CORE = 1
USERS = tuple(f"u{i:02d}" for i in range(20))
PASSWORD = "bench-password"
STEP_TIMEOUT = 20.0  # seconds: a closed-loop step stops issuing broadcasts after this
BROADCAST_TIMEOUT = 30.0


NODE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node")


@dataclass(frozen=True)
class Contender:
    """A server to measure: how to start it, which client dialect it speaks, what it needs."""

    key: str
    dialect: str
    argv: Callable[[str], list[str]]  # given a scratch folder
    #: Python modules it imports (the ``bench`` extra installs them).
    modules: tuple[str, ...] = ()
    #: npm packages it requires from benchmarks/node/node_modules (``make bench`` runs npm ci).
    node_packages: tuple[str, ...] = ()
    #: Shared C libraries it loads (``ctypes.util.find_library`` names), e.g. ``uv``.
    libraries: tuple[str, ...] = ()


def _wschat(db: str | None) -> Callable[[str], list[str]]:
    def argv(scratch: str) -> list[str]:
        path = ":memory:" if db is None else os.path.join(scratch, db)
        return [sys.executable, "-m", "wschat", "serve", "--port", "0", "--db", path,
                "--rate-limit", "0", "--log-level", "warning"]
    return argv


def _peer(kind: str) -> Callable[[str], list[str]]:
    return lambda scratch: [sys.executable, "-m", "benchmarks.peers", kind]


def _node_peer(kind: str) -> Callable[[str], list[str]]:
    return lambda scratch: [shutil.which("node") or "node", os.path.join(NODE_DIR, "peers.js"), kind]


CONTENDERS: dict[str, Contender] = {
    c.key: c
    for c in [
        Contender("wschat-memory", "wschat", _wschat(None)),
        Contender("wschat-sqlite", "wschat", _wschat("bench.db")),
        Contender("relay-broadcast", "relay", _peer("relay-broadcast")),
        Contender("relay-loop", "relay", _peer("relay-loop")),
        Contender("socketio", "socketio", _peer("socketio"), modules=("socketio", "aiohttp")),
        Contender("aiohttp", "relay", _peer("aiohttp"), modules=("aiohttp",)),
        Contender("picows", "relay", _peer("picows"), modules=("picows",)),
        Contender("socketify", "relay", _peer("socketify"), modules=("socketify",),
                  libraries=("uv",)),
        Contender("node-ws", "relay", _node_peer("ws"), node_packages=("ws",)),
        Contender("node-socketio", "socketio", _node_peer("socketio"), node_packages=("socket.io",)),
        Contender("uws", "relay", _node_peer("uws"), node_packages=("uwebsockets",)),
    ]
}


def missing(contender: Contender) -> str | None:
    """Why ``contender`` cannot run on this machine (what to install), or None if it can."""
    absent = [m for m in contender.modules if importlib.util.find_spec(m) is None]
    if absent:
        return (f"Python package(s) {', '.join(absent)} not installed "
                "(pip install -e '.[bench]', or make bench)")
    if contender.node_packages:
        if shutil.which("node") is None:
            return "node not found (install Node.js 18 or newer)"
        absent = [p for p in contender.node_packages
                  if not os.path.isfile(os.path.join(NODE_DIR, "node_modules", p, "package.json"))]
        if absent:
            return (f"npm package(s) {', '.join(absent)} not in benchmarks/node/node_modules "
                    "(npm ci --prefix benchmarks/node, or make bench)")
    absent = [lib for lib in contender.libraries if ctypes.util.find_library(lib) is None]
    if absent:
        return (f"shared librar(y/ies) {', '.join('lib' + lib for lib in absent)} not found "
                "(Debian: apt-get install libuv1; make bench does it as root)")
    return None


def _pin_server() -> None:  # runs in the server's child process before exec
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {SERVER_CORE})
    raise_file_limit()
    die_with_parent()


class NullSink(Sink):
    pass


class PrivateSink(Sink):
    """``pb``'s: the latency of each private message while ``record`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.private_latencies: list[int] = []
        self.record = False

    def on_private(self, number: int, sent_ns: int, now: int) -> None:
        if self.record:
            self.private_latencies.append(now - sent_ns)


@dataclass
class Pending:
    remaining: int
    sent_ns: int
    last_ns: int
    future: asyncio.Future[int]


class BenchSession:
    """One server process and the generator's workers connected to it."""

    def __init__(self, contender: Contender, *, workers: int, deflate: bool = False,
                 sample_target: int = 1000) -> None:
        self.contender = contender
        self.deflate = deflate
        self.n_workers = workers
        #: About this many clients parse latency stamps at each step (0: every client).
        self.sample_target = sample_target
        self.server: subprocess.Popen[str] | None = None
        self.server_ps: psutil.Process | None = None
        self.scratch = tempfile.TemporaryDirectory(prefix="wschat-bench-")
        self.pool: WorkerPool | None = None
        self.pending: dict[int, Pending] = {}
        self.next_bid = 1
        self.spec: ClientSpec | None = None
        self.plan: LoginPlan | None = None
        self.sender: Client | None = None
        self.private_from: Client | None = None
        self.private_sink = PrivateSink()
        self.setup: list[Client] = []
        #: The last phase's sampled latencies (ns) and their clients' indexes (for checks).
        self.last_latencies: np.ndarray[Any, Any] = np.empty(0, dtype=np.int64)
        self.last_indexes: np.ndarray[Any, Any] = np.empty(0, dtype=np.int_)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        argv = self.contender.argv(self.scratch.name)
        stderr = open(os.path.join(self.scratch.name, "server.err"), "w")
        self.server = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, text=True, preexec_fn=_pin_server,
            cwd=os.getcwd(),
        )
        assert self.server.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.server.stdout.readline), 30)
        match = re.search(r"(?::|listening on )(\d+)(?:/ws)?\s*$", line)
        if match is None:
            raise RuntimeError(f"{self.contender.key} did not start: {line!r}")
        port = int(match.group(1))
        self.server_ps = psutil.Process(self.server.pid)
        self.spec = ClientSpec(self.contender.dialect, "127.0.0.1", port, self.deflate)
        await self._start_workers()
        await self._setup_users()

    async def _start_workers(self) -> None:
        assert self.spec is not None
        core = GENERATOR_CORE if two_cores() else None
        self.pool = WorkerPool(self.spec, self.n_workers, core=core, on_done=self._on_done)
        self.pool.start()

    @property
    def clients(self) -> int:
        return self.pool.clients if self.pool is not None else 0

    def _on_done(self, bid: int, last_ns: int) -> None:
        pending = self.pending.get(bid)
        if pending is None:
            return
        pending.last_ns = max(pending.last_ns, last_ns)
        pending.remaining -= 1
        if pending.remaining <= 0 and not pending.future.done():
            pending.future.set_result(pending.last_ns)

    async def _setup_users(self) -> None:
        """wschat: one password login per user (20 users, plus the sender and the private
        pair), keeping the tokens for every later login. Peers: names only."""
        spec = self.spec
        assert spec is not None
        null = NullSink()
        if spec.dialect == "wschat":
            self.plan = await register(spec, USERS, PASSWORD)
            sender_login = self.plan.login_frame(0)
            self.sender = await open_client(spec, null, name=USERS[0], first_frame=sender_login)
            self.private_from = await open_client(
                spec, null, name="pa", first_frame=password_login("pa", PASSWORD))
            await open_client(
                spec, self.private_sink, name="pb", first_frame=password_login("pb", PASSWORD))
        else:
            self.plan = LoginPlan(tuple(f"c{i}" for i in range(20_000)), ())
            self.sender = await open_client(spec, null, name="sender")
            self.private_from = await open_client(spec, null, name="pa")
            await open_client(spec, self.private_sink, name="pb")

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self.server is not None:
            self.server.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(self.server.wait), 10)
            except TimeoutError:
                self.server.kill()
                await asyncio.to_thread(self.server.wait)
        self.scratch.cleanup()

    # -- measurements ---------------------------------------------------------------------

    def rss(self) -> int:
        assert self.server_ps is not None
        return int(self.server_ps.memory_info().rss)

    def server_cpu(self) -> float:
        assert self.server_ps is not None
        t = self.server_ps.cpu_times()
        return float(t.user + t.system)

    def generator_cpu(self) -> float:
        total = 0.0
        pids = self.pool.pids if self.pool is not None else []
        for pid in [os.getpid(), *pids]:
            with contextlib.suppress(psutil.Error):
                t = psutil.Process(pid).cpu_times()
                total += t.user + t.system
        return total

    async def connect(self, total: int) -> dict[str, float]:
        """Add clients until ``total`` are connected; spread evenly over the workers."""
        assert self.plan is not None and self.pool is not None
        return await self.pool.connect(self.plan, total)

    @property
    def sample_every(self) -> int:
        """Every how many clients one is sampled now (see :func:`sample_every`)."""
        return sample_every(self.clients, self.sample_target)

    async def _arm(self, count_from: int, record_from: int) -> None:
        assert self.pool is not None
        await self.pool.arm(count_from, record_from, self.sample_every)

    async def _collect(self) -> tuple[np.ndarray[Any, Any], int, int]:
        """Latencies of the sampled clients (ns), the clients lost, and the deliveries to
        every client; the latencies and the index of the client of each are also kept as
        ``last_latencies`` and ``last_indexes`` (for benchmarks/sampling_check.py)."""
        assert self.pool is not None
        chunks, lost, deliveries = await self.pool.collect()
        latencies = np.concatenate([np.frombuffer(a, dtype=np.int64) for a, _ in chunks] or
                                   [np.empty(0, dtype=np.int64)])
        indexes = np.concatenate([np.frombuffer(b, dtype=np.int_) for _, b in chunks] or
                                 [np.empty(0, dtype=np.int_)])
        self.last_latencies, self.last_indexes = latencies, indexes
        return latencies, lost, deliveries

    def _broadcast(self) -> tuple[int, asyncio.Future[int]]:
        """Send one stamped broadcast; the future gets the time the last client had it."""
        assert self.sender is not None
        bid = self.next_bid
        self.next_bid += 1
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        assert self.pool is not None
        remaining = sum(1 for n in self.pool.live if n > 0)
        sent = time.monotonic_ns()
        self.pending[bid] = Pending(remaining, sent, 0, future)
        if remaining == 0:
            future.set_result(sent)
        assert self.spec is not None
        self.sender.send_text(_broadcast_stamp_frame(self.spec.dialect, stamp("B", bid, sent)))
        return bid, future

    async def closed_loop(self, samples: int = 100, warmup: int = 10, in_flight: int = 4,
                          min_seconds: float = 2.0) -> dict[str, Any]:
        """The websocket-shootout sample: ``samples`` broadcasts (more if they take less than
        ``min_seconds``, so that CPU times are not below the clock tick), ``in_flight`` at a
        time; a broadcast's RTT ends when the last client has it."""
        base = self.next_bid
        await self._arm(base, base + warmup)
        gate = asyncio.Semaphore(in_flight)
        rtts: list[float] = []
        timeouts = 0
        marks: dict[str, float] = {}
        tasks: list[asyncio.Task[None]] = []

        async def one(bid: int, sent: int, future: asyncio.Future[int]) -> None:
            nonlocal timeouts
            try:
                last = await asyncio.wait_for(future, BROADCAST_TIMEOUT)
                if bid >= base + warmup:
                    rtts.append((last - sent) / 1e6)
            except TimeoutError:
                timeouts += 1
            finally:
                self.pending.pop(bid, None)
                gate.release()

        deadline = time.monotonic() + STEP_TIMEOUT
        k = 0
        while True:
            await gate.acquire()
            if k == warmup:
                marks["t0"], marks["cpu0"], marks["gen0"] = time.monotonic(), self.server_cpu(), self.generator_cpu()
            now = time.monotonic()
            if k > warmup and (now > deadline or (k >= warmup + samples and now - marks["t0"] >= min_seconds)):
                gate.release()
                break
            k += 1
            bid, future = self._broadcast()
            tasks.append(asyncio.create_task(one(bid, self.pending[bid].sent_ns, future)))
        await asyncio.gather(*tasks)
        seconds = time.monotonic() - marks["t0"]
        cpu = self.server_cpu() - marks["cpu0"]
        gen = self.generator_cpu() - marks["gen0"]
        latencies, lost, deliveries = await self._collect()
        return {
            "clients": self.clients,
            "sample_every": self.sample_every,
            "samples": len(rtts),
            "timeouts": timeouts,
            "lost_clients": lost,
            "deliveries": deliveries,
            "latency_samples": int(latencies.size),
            "seconds": seconds,
            "deliveries_per_s": deliveries / seconds if seconds else 0.0,
            "server_cpu_s": cpu,
            "server_load": cpu / seconds if seconds else None,
            "cpu_us_per_delivery": 1e6 * cpu / deliveries if deliveries else None,
            "deliveries_per_cpu_s": deliveries / cpu if cpu else None,
            "generator_cpu_s": gen,
            "generator_load": gen / seconds if seconds else None,
            "generator_us_per_delivery": 1e6 * gen / deliveries if deliveries else None,
            **_percentiles("lat", latencies / 1e6),
            **_percentiles("rtt", np.asarray(rtts)),
        }

    async def open_loop(self, rate: float = 20.0, seconds: float = 10.0, private_rate: float = 50.0,
                        warmup: float = 1.0) -> dict[str, Any]:
        """Broadcasts at a fixed rate (not waiting for each other), and private messages from
        ``pa`` to ``pb`` at ``private_rate`` meanwhile; latencies after ``warmup`` seconds."""
        assert self.private_from is not None and self.spec is not None
        base = self.next_bid
        await self._arm(base, base + int(rate * warmup))
        sink = self.private_sink
        sink.private_latencies.clear()
        futures: list[asyncio.Future[int]] = []
        start = time.monotonic()
        total = warmup + seconds
        next_b = next_p = 0.0
        marks: dict[str, float] = {}
        number = 0
        while True:
            now = time.monotonic() - start
            if now >= total:
                break
            if "t0" not in marks and now >= warmup:
                marks["t0"], marks["cpu0"], marks["gen0"] = time.monotonic(), self.server_cpu(), self.generator_cpu()
                sink.record = True
            if now >= next_b:
                futures.append(self._broadcast()[1])
                next_b += 1 / rate
            if now >= next_p:
                number += 1
                text = stamp("P", number % 1_000_000, time.monotonic_ns())
                self.private_from.send_text(_private_frame(self.spec.dialect, "pb", text))
                next_p += 1 / private_rate
            await asyncio.sleep(max(0.0, min(next_b, next_p) - (time.monotonic() - start)))
        sink.record = False
        _, not_done = await asyncio.wait(futures, timeout=BROADCAST_TIMEOUT)
        for bid in range(base, self.next_bid):
            self.pending.pop(bid, None)
        elapsed = time.monotonic() - marks["t0"]
        cpu = self.server_cpu() - marks["cpu0"]
        gen = self.generator_cpu() - marks["gen0"]
        latencies, lost, deliveries = await self._collect()
        return {
            "clients": self.clients,
            "sample_every": self.sample_every,
            "rate": rate,
            "broadcasts": len(futures),
            "timeouts": len(not_done),
            "lost_clients": lost,
            "deliveries": deliveries,
            "latency_samples": int(latencies.size),
            "server_cpu_s": cpu,
            "server_load": cpu / elapsed if elapsed else None,
            "generator_load": gen / elapsed if elapsed else None,
            "generator_us_per_delivery": 1e6 * gen / deliveries if deliveries else None,
            **_percentiles("lat", latencies / 1e6),
            "private_samples": len(sink.private_latencies),
            **_percentiles("private", np.asarray(sink.private_latencies) / 1e6),
        }


def _private_frame(dialect: str, to: str, text: str) -> str:
    if dialect == "wschat":
        return f'{{"type":"send","to":"{to}","text":"{text}"}}'
    if dialect == "socketio":
        return f'42["private",{{"to":"{to}","text":"{text}"}}]'
    return f"@{to} {text}"


def _percentiles(prefix: str, values: np.ndarray[Any, Any]) -> dict[str, float | None]:
    if values.size == 0:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p95_ms": None, f"{prefix}_p99_ms": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {f"{prefix}_p50_ms": float(p50), f"{prefix}_p95_ms": float(p95), f"{prefix}_p99_ms": float(p99)}


def sample_every(clients: int, target: int) -> int:
    """Every how many of ``clients`` one is sampled: about ``target`` of them, spread evenly
    over the connection order (every client below twice the target; every one for 0)."""
    return 1 if target <= 0 else max(1, clients // target)


def two_cores() -> bool:
    """Whether the server and the generator each get a core of their own."""
    return (os.cpu_count() or 1) >= 2


def run_coordinator(main: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """Run a benchmark's coordinator: on the generator's core (when there are two), with the
    file-descriptor limit raised, on :func:`new_loop`; ``main`` gets that limit."""
    if two_cores():
        os.sched_setaffinity(0, {GENERATOR_CORE})
    fd_limit = raise_file_limit()
    loop = new_loop()
    try:
        loop.run_until_complete(main(fd_limit))
    finally:
        with contextlib.suppress(Exception):
            loop.close()


def _broadcast_stamp_frame(dialect: str, text: str) -> str:
    return f'42["message","{text}"]' if dialect == "socketio" else text


@dataclass(frozen=True)
class Plan:
    """The fixed workload (benchmarks/README.md)."""

    fanout_steps: Sequence[int] = (100, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000, 10_000)
    table_steps: Sequence[int] = (100, 1000, 5000, 10_000)
    idle_clients: int = 10_000
    #: Then, in the same session, connect up to this many for "most connections in 1 GiB"
    #: (capped below the file-descriptor limit, 20,000 here: see __main__.py).
    most_clients: int = 19_000
    open_loop_clients: int = 1000
    samples: int = 100
    workers: int = 4
    runs: int = 2
    #: About this many clients parse latency stamps at each step, every k-th by connection
    #: order (k = clients // sample_target); the others only count broadcasts. 0: every client.
    sample_target: int = 1000
    #: The connection sweep beyond fanout_steps: this many more clients per step, up to the
    #: file-descriptor limit (most_clients, capped there), while every step's p95 RTT (the time
    #: until every client has a broadcast) stays within sweep_limit_ms.
    sweep_step: int = 1000
    sweep_limit_ms: float = 250.0


QUICK = Plan(fanout_steps=(100, 500, 1000), table_steps=(100, 500, 1000), idle_clients=1000,
             most_clients=1500, samples=30, runs=1, sweep_step=500)
