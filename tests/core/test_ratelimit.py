"""wschat.core.ratelimit: the send token bucket and the failed-login limiter, on a fake clock."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wschat.core.ratelimit import (
    DEFAULT_BURST,
    DEFAULT_RATE,
    FailureLimiter,
    Throttle,
    TokenBucket,
)

# --------------------------------------------------------------------------- TokenBucket


def test_defaults_are_those_of_the_protocol() -> None:
    bucket = TokenBucket()
    assert (bucket.rate, bucket.burst) == (DEFAULT_RATE, DEFAULT_BURST) == (50.0, 100.0)


def test_burst_then_limit() -> None:
    bucket = TokenBucket(rate=50, burst=100)
    assert all(bucket.allow(0.0) for _ in range(100))
    assert bucket.allow(0.0) is False
    assert bucket.allow(0.01) is False  # half a token back
    assert bucket.allow(0.02) is True  # one token back at 50/s
    assert bucket.allow(0.02) is False


def test_refill_is_capped_at_burst() -> None:
    bucket = TokenBucket(rate=10, burst=3)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    # An hour idle refills three tokens, not 36,000.
    assert [bucket.allow(3600.0) for _ in range(4)] == [True, True, True, False]


def test_steady_rate_is_allowed_forever() -> None:
    bucket = TokenBucket(rate=50, burst=1)
    assert all(bucket.allow(i / 50) for i in range(1000))


def test_rate_zero_is_unlimited() -> None:
    bucket = TokenBucket(rate=0, burst=0)
    assert all(bucket.allow(0.0) for _ in range(10_000))


def test_clock_going_back_does_not_refill() -> None:
    bucket = TokenBucket(rate=1, burst=1)
    assert bucket.allow(100.0) is True
    assert bucket.allow(50.0) is False
    assert bucket.allow(100.5) is False
    assert bucket.allow(101.0) is True


@pytest.mark.parametrize(
    ("rate", "burst"),
    [(-1, 10), (math.nan, 10), (math.inf, 10), (1, 0), (1, 0.5), (1, math.nan), (1, math.inf)],
)
def test_bad_bucket_settings(rate: float, burst: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


@given(
    st.floats(0.5, 200),
    st.integers(1, 50),
    st.lists(st.floats(0, 0.2), max_size=300),
)
def test_bucket_never_allows_more_than_burst_plus_rate_times_time(
    rate: float, burst: int, gaps: list[float]
) -> None:
    bucket = TokenBucket(rate, burst)
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += bucket.allow(now)
    assert allowed <= burst + rate * now + 1e-9
    if not gaps or rate * min(gaps, default=0) >= 1:
        assert allowed == len(gaps)  # never idle long enough to matter: all allowed


# --------------------------------------------------------------------------- FailureLimiter


def test_blocks_after_max_failures_within_window() -> None:
    limiter = FailureLimiter(max_failures=3, window=60)
    for t in (0.0, 1.0):
        limiter.record_failure("joao", t)
    assert limiter.blocked("joao", 2.0) is False
    limiter.record_failure("joao", 2.0)
    assert limiter.blocked("joao", 2.0) is True
    assert limiter.blocked("joao", 59.9) is True
    assert limiter.blocked("joao", 60.0) is False  # the first failure aged out
    assert limiter.blocked("ana", 2.0) is False  # keys are independent


def test_spread_out_failures_never_block() -> None:
    limiter = FailureLimiter(max_failures=3, window=10)
    for t in range(0, 100, 5):  # only two failures per window
        limiter.record_failure("joao", float(t))
        assert limiter.blocked("joao", float(t)) is False


def test_block_follows_the_latest_failures() -> None:
    limiter = FailureLimiter(max_failures=2, window=10)
    for t in (0.0, 5.0, 8.0):
        limiter.record_failure("1.2.3.4", t)
    assert limiter.blocked("1.2.3.4", 14.0) is True  # 5 and 8 are still young
    assert limiter.blocked("1.2.3.4", 15.0) is False


def test_old_keys_are_dropped() -> None:
    limiter = FailureLimiter(max_failures=5, window=10)
    for i in range(1000):
        limiter.record_failure(f"user{i}", 0.0)
    limiter.record_failure("late", 5.0)
    assert len(limiter) == 1001
    limiter.forget_old(10.0)
    assert len(limiter) == 1  # only "late" failed within the last 10 s
    limiter.record_failure("later", 15.0)  # recording prunes too
    assert len(limiter) == 1


def test_a_key_failing_again_is_kept() -> None:
    limiter = FailureLimiter(max_failures=2, window=10)
    limiter.record_failure("a", 0.0)
    limiter.record_failure("b", 1.0)
    limiter.record_failure("a", 9.0)  # "a" is now the most recent key
    limiter.forget_old(11.5)  # "b" is too old; "a" failed 2.5 s ago
    assert len(limiter) == 1
    limiter.record_failure("a", 11.5)
    assert limiter.blocked("a", 11.5)


def test_memory_is_bounded_by_max_keys() -> None:
    limiter = FailureLimiter(max_failures=3, window=1e9, max_keys=100)
    for i in range(10_000):
        limiter.record_failure(i, float(i))
    assert len(limiter) == 100
    assert limiter.blocked(9999, 9999.0) is False
    for _ in range(2):
        limiter.record_failure(9999, 9999.0)
    assert limiter.blocked(9999, 9999.0) is True  # the newest keys are the ones kept


@pytest.mark.parametrize(
    ("failures", "window", "keys"), [(0, 10, 1), (1, 0, 1), (1, -1, 1), (1, math.nan, 1), (1, 1, 0)]
)
def test_bad_limiter_settings(failures: int, window: float, keys: int) -> None:
    with pytest.raises(ValueError):
        FailureLimiter(failures, window, max_keys=keys)


@given(
    st.integers(1, 5),
    st.floats(1, 100),
    st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 20)), max_size=60),
)
def test_blocked_matches_counting_recent_failures(
    max_failures: int, window: float, events: list[tuple[str, float]]
) -> None:
    limiter = FailureLimiter(max_failures, window)
    now, history = 0.0, list[tuple[str, float]]()
    for key, gap in events:
        now += gap
        for probe in "abc":
            recent = [t for k, t in history if k == probe and now - t < window]
            assert limiter.blocked(probe, now) is (len(recent) >= max_failures)
        limiter.record_failure(key, now)
        history.append((key, now))


# --------------------------------------------------------------------------- Throttle (typing)


def test_throttle_passes_one_per_interval_per_key() -> None:
    throttle = Throttle(1.0)
    assert throttle.allow("ana", 10.0)
    assert not throttle.allow("ana", 10.5)
    assert throttle.allow("bob", 10.5)  # keys are apart
    assert not throttle.allow("ana", 10.99)
    assert throttle.allow("ana", 11.0)  # dropped ones did not push the window


def test_throttle_forget_and_pruning_bound_memory() -> None:
    throttle = Throttle(1.0)
    for i in range(100):
        assert throttle.allow(i, 5.0)
    assert len(throttle) == 100
    throttle.forget(3)
    assert throttle.allow(3, 5.1)
    assert throttle.allow("late", 7.0)  # prunes every key older than the interval
    assert len(throttle) == 1


def test_throttle_clock_going_back_drops() -> None:
    throttle = Throttle(1.0)
    assert throttle.allow("ana", 10.0)
    assert not throttle.allow("ana", 9.0)


@pytest.mark.parametrize("interval", [0.0, -1.0, math.inf, math.nan])
def test_bad_throttle_interval(interval: float) -> None:
    with pytest.raises(ValueError):
        Throttle(interval)


@given(st.lists(st.floats(0, 100, allow_nan=False), max_size=60))
def test_throttle_never_passes_two_within_an_interval(times: list[float]) -> None:
    throttle = Throttle(1.0)
    passed = [now for now in sorted(times) if throttle.allow("ana", now)]
    assert all(b - a >= 1.0 - 1e-6 for a, b in itertools.pairwise(passed))
    if times:
        assert passed and passed[0] == min(times)
