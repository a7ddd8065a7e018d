"""wschat.teaching.pushpoll.experiment: ``measure()`` runs push and polling on one stream.

Timing assertions compare methods with wide margins (a poll's median against push's
median), never against tight thresholds.
"""

from __future__ import annotations

import math

import pytest

from wschat.teaching.pushpoll import measure


def test_measure_push_beats_slow_polling_and_everyone_gets_everything() -> None:
    events = 6
    comparison = measure(intervals=(0.05, 0.3), events=events, seed=1, gap=(0.05, 0.1))
    assert [r.method for r in comparison.results] == ["WebSocket push", "polling 50 ms",
                                                      "polling 300 ms"]
    push, fast, slow = comparison.push, comparison.poll(0.05), comparison.poll(0.3)

    for result in comparison.results:  # every event, exactly once, in order
        assert result.ids == tuple(range(1, events + 1)), result.method
        assert len(result.latencies) == events
        assert all(latency >= 0 for latency in result.latencies)
        assert result.bytes > 0

    # Push needs one request (the upgrade); a poller makes one per tick.
    assert (push.requests, push.empty_responses, push.interval) == (1, 0, None)
    for poller in (fast, slow):
        assert 1 <= poller.requests - poller.empty_responses <= events
        assert poller.bytes > 100 * poller.requests  # each is a whole HTTP exchange
    # The stream lasts 0.3-0.6 s: the fast poller ticks at least 7 times, the slow one
    # at most 4 (ticks at 0, 0.3, 0.6 and 0.9 s cover it).
    assert fast.requests > slow.requests
    assert fast.empty_responses > 0

    # Wide margins: push is far below a 0.3 s poll's median; a poll waits at most an
    # interval plus the request itself.
    assert push.p50 < slow.p50
    assert slow.max < 0.3 + 1.0


def test_measure_is_bounded_by_its_timeout() -> None:
    with pytest.raises(TimeoutError, match="not every event"):
        measure(intervals=(0.1,), events=3, gap=(0.5, 0.5), timeout=0.3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"intervals": ()}, "at least one"),
        ({"intervals": (0.1, -1.0)}, "positive"),
        ({"intervals": (math.inf,)}, "positive"),
        ({"intervals": (0.1, 0.1)}, "differ"),
        ({"events": 0}, "events"),
        ({"events": True}, "events"),
        ({"gap": (0.3, 0.1)}, "gap"),
        ({"gap": (-0.1, 0.1)}, "gap"),
    ],
)
def test_measure_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        measure(**kwargs)  # type: ignore[arg-type]
