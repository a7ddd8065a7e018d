"""The push-versus-polling experiment: ``measure()`` runs one push client and one polling
client per interval concurrently against the same seeded event stream (the fairest
comparison: same events, same moments) and returns a ``Comparison``. Event time and receive
time come from the same clock (``time.perf_counter`` in one process), so a latency is a plain
subtraction. Everything stays on loopback: the numbers show the protocol's delay, not a
network's."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Sequence

from wschat.teaching.pushpoll.clients import Tally, run_poller, run_pusher
from wschat.teaching.pushpoll.event_server import EventServer
from wschat.teaching.pushpoll.plot import interval_label
from wschat.teaching.pushpoll.stats import Comparison, MethodResult

__all__ = ["DEFAULT_INTERVALS", "measure"]

#: The polling intervals of notebook 01, in seconds.
DEFAULT_INTERVALS = (0.05, 0.1, 0.25, 0.5)


def _check_arguments(
    intervals: Sequence[float], events: int, gap: tuple[float, float]
) -> tuple[float, ...]:
    checked = tuple(float(interval) for interval in intervals)
    if not checked:
        raise ValueError("give at least one polling interval")
    if any(not (0 < interval < math.inf) for interval in checked):
        raise ValueError(f"polling intervals must be positive seconds: {intervals!r}")
    if len(set(checked)) != len(checked):
        raise ValueError(f"polling intervals must differ: {intervals!r}")
    if isinstance(events, bool) or not isinstance(events, int) or events < 1:
        raise ValueError(f"events must be a whole number >= 1, not {events!r}")
    low, high = gap
    if not (0 <= low <= high < math.inf):
        raise ValueError(f"gap must be (low, high) seconds with 0 <= low <= high: {gap!r}")
    return checked


def measure(
    intervals: Sequence[float] = DEFAULT_INTERVALS,
    events: int = 20,
    seed: int | None = 2025,
    *,
    gap: tuple[float, float] = (0.05, 0.3),
    timeout: float | None = None,
) -> Comparison:
    """Measure event latency by push and by polling at each interval, concurrently.

    One ``EventServer`` on a free loopback port produces ``events`` events, each after a
    random gap drawn uniformly from ``gap`` (seeded by ``seed``). One WebSocket client and
    one polling client per interval read the same stream until each has every event.
    Raises ValueError for bad arguments, TimeoutError if a client has not got every event
    within ``timeout`` seconds (default: the longest possible stream plus 10 s), and
    RuntimeError if a client fails.
    """
    checked = _check_arguments(intervals, events, gap)
    rng = random.Random(seed)
    gaps = [rng.uniform(*gap) for _ in range(events)]
    budget = timeout if timeout is not None else events * gap[1] + max(checked) + 10.0
    go, abort, push_ready = threading.Event(), threading.Event(), threading.Event()
    push_tally = Tally()
    poll_tallies = {interval: Tally() for interval in checked}

    with EventServer() as server:
        host, port = server.host, server.port
        deadline = time.perf_counter() + budget
        threads = [
            threading.Thread(
                target=run_pusher, name="pushpoll-push", daemon=True,
                args=(host, port, events, deadline, push_ready, abort, push_tally),
            )
        ]
        threads += [
            threading.Thread(
                target=run_poller, name=f"pushpoll-poll-{interval}", daemon=True,
                args=(host, port, interval, events, go, abort, tally),
            )
            for interval, tally in poll_tallies.items()
        ]
        try:
            threads[0].start()
            if not push_ready.wait(10) or push_tally.error is not None:
                raise RuntimeError("the push client could not connect") from push_tally.error
            for thread in threads[1:]:
                thread.start()
            go.set()
            server.start_stream(gaps)
            for thread in threads:
                thread.join(max(0.0, deadline - time.perf_counter()))
            late = [thread.name for thread in threads if thread.is_alive()]
            if late:
                raise TimeoutError(f"not every event arrived within {budget:.1f} s: {late}")
        finally:
            abort.set()
            go.set()
            for thread in threads:
                if thread.ident is not None:  # started
                    thread.join(5)

    failed = [t for t in (push_tally, *poll_tallies.values()) if t.error is not None]
    if failed:
        raise RuntimeError(f"a client failed: {failed[0].error!r}") from failed[0].error

    def result(method: str, interval: float | None, tally: Tally) -> MethodResult:
        return MethodResult(
            method=method,
            interval=interval,
            latencies=tuple(tally.latencies),
            ids=tuple(tally.ids),
            requests=tally.requests,
            empty_responses=tally.empty,
            bytes=tally.bytes,
        )

    results = [result("WebSocket push", None, push_tally)]
    results += [
        result(f"polling {interval_label(interval)}", interval, tally)
        for interval, tally in sorted(poll_tallies.items())
    ]
    return Comparison(tuple(results), events, seed)
