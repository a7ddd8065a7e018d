"""What the metrics cost on the fan-out path: one broadcast to N sessions, timed in-process.

``python -m benchmarks.metrics_cost [N ...]`` builds the server's send path after the commit
(:class:`wschat.server.router.Router` over a :class:`~wschat.server.registry.Registry` and an
:class:`~wschat.server.writer.Outbox`) with N live sessions on fake connections (a transport
that only counts bytes: no sockets, so the figure is the server's own CPU, not the kernel's)
and times ``Router.deliver`` of one public message plus writing out every deferred byte,
with the server's metrics as they are and with
the burst counter replaced by a no-op. It prints the median microseconds per broadcast of
each (the best of five alternated runs) and the difference. Run on the code before metrics existed (another checkout on
PYTHONPATH), it times that code alone.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any, cast

from websockets.protocol import State

from wschat.core.model import Entry
from wschat.server.config import ServerConfig
from wschat.server.metrics import Metrics
from wschat.server.registry import Registry
from wschat.server.router import Router
from wschat.server.session import Session
from wschat.server.supervise import Supervisor
from wschat.server.writer import Outbox

__all__ = ["main", "time_broadcast"]

ROUNDS = 200
REPEATS = 5


class _Transport:
    def __init__(self) -> None:
        self.written = 0

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def get_write_buffer_size(self) -> int:
        return 0


class _Protocol:
    state = State.OPEN
    extensions: list[Any] = []  # noqa: RUF012 - read only, like websockets' own


class _Connection:
    def __init__(self) -> None:
        self.protocol = _Protocol()
        self.transport = _Transport()


def _send_path(n: int, metrics: Metrics) -> tuple[Router, Outbox, Session]:
    registry = Registry()
    outbox = Outbox(ServerConfig(), metrics, Supervisor(metrics))
    sessions = [
        Session(cast(Any, _Connection()), f"u{i}", f"u{i}", f"s{i}", "t") for i in range(n)
    ]
    for session in sessions:
        registry.register(session)
        registry.go_live(session)
    return Router(registry, outbox), outbox, sessions[0]


def time_broadcast(n: int, *, metrics: bool) -> float:
    """Median seconds of one public message fanned out to ``n`` sessions and written out."""
    counters = Metrics()
    if not metrics:
        counters.burst = lambda deliveries, nbytes: None  # type: ignore[method-assign]
    router, outbox, sender = _send_path(n, counters)
    times: list[float] = []
    for i in range(ROUNDS):
        entry = Entry(f"{i + 1}", "u0", None, "x" * 100, 0.0, f"r{i}")
        started = time.perf_counter()
        router.deliver([(entry, sender.sid)])
        while outbox._flush_some():  # what the flusher task does, without its yields
            pass
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str]) -> None:
    """Print the table for each N of ``argv`` (default 1,000 and 10,000)."""
    sizes = [int(arg) for arg in argv] or [1_000, 10_000]
    print("sessions  with metrics (us)  burst counter off (us)  difference")
    for n in sizes:
        on, off = float("inf"), float("inf")
        for _ in range(REPEATS):  # alternated, best of each: other load on the machine only adds
            on = min(on, time_broadcast(n, metrics=True))
            off = min(off, time_broadcast(n, metrics=False))
        print(f"{n:8}  {on * 1e6:17.1f}  {off * 1e6:22.1f}  {(on - off) / off:+.1%}")


if __name__ == "__main__":
    main(sys.argv[1:])
