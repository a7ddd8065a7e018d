"""Rate limits: a token bucket for sends, a failure counter for logins, a throttle for typing
notices. No I/O, no clock.

Time is always passed in (``now``, in seconds, from a monotonic clock such as
``time.monotonic()``), so tests and the server decide what time it is.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from collections.abc import Hashable
from typing import Final

from .defaults import BURST_PER_RATE, RATE_LIMIT

__all__ = [
    "DEFAULT_BURST",
    "DEFAULT_RATE",
    "FailureLimiter",
    "Throttle",
    "TokenBucket",
]

#: A user's sustained ``send`` rate (frames per second) of PROTOCOL.md.
DEFAULT_RATE: Final = RATE_LIMIT
#: How many ``send`` frames a user may fire at once before the rate applies.
DEFAULT_BURST: Final = RATE_LIMIT * BURST_PER_RATE
# Refills are sums of float products: a client sending exactly at the rate may come out a
# hair short of a whole token, and must not be refused for rounding.
_EPSILON: Final = 1e-9


class TokenBucket:
    """Allow ``rate`` events per second on average, in bursts of up to ``burst``.

    The bucket starts full. Each allowed event takes one token; tokens come back at ``rate``
    per second up to ``burst``. ``rate`` 0 means unlimited (``--rate-limit 0``).
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float = DEFAULT_RATE, burst: float = DEFAULT_BURST) -> None:
        if not (math.isfinite(rate) and rate >= 0):
            raise ValueError(f"rate must be a finite number >= 0, not {rate!r}")
        if rate > 0 and not (math.isfinite(burst) and burst >= 1):
            raise ValueError(f"burst must be a finite number >= 1, not {burst!r}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def allow(self, now: float) -> bool:
        """Take a token at time ``now``: True if the event may go ahead, False if over the limit.

        A clock that goes back (it should not) refills nothing instead of draining the bucket.
        """
        if self.rate == 0:
            return True
        if self._last is not None and now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        if self._last is None or now > self._last:
            self._last = now
        if self._tokens >= 1 - _EPSILON:
            self._tokens -= 1
            return True
        return False


class FailureLimiter:
    """Block a key (a user name key, an address) after ``max_failures`` failures in ``window`` s.

    Only failures count: the caller records one after each failed login and asks
    ``blocked`` before checking a password. A key is blocked while ``max_failures`` of its
    failures are younger than ``window`` seconds, so the block lifts by itself.

    Memory is bounded: each key keeps at most ``max_failures`` timestamps; keys whose last
    failure is older than the window are dropped (``forget_old``, also run by
    ``record_failure``); and at most ``max_keys`` keys are kept: past that, the key with the
    oldest last failure is dropped first.
    """

    __slots__ = ("_failures", "max_failures", "max_keys", "window")

    def __init__(
        self,
        max_failures: int,
        window: float,
        *,
        max_keys: int = 100_000,
    ) -> None:
        if max_failures < 1:
            raise ValueError(f"max_failures must be >= 1, not {max_failures!r}")
        if not (math.isfinite(window) and window > 0):
            raise ValueError(f"window must be a finite number > 0, not {window!r}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be >= 1, not {max_keys!r}")
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        # key -> its latest failures (oldest first), ordered by each key's last failure (a key
        # moves to the end when it fails), so old keys sit at the front. OrderedDict, not dict:
        # dropping a plain dict's first key again and again is quadratic (iteration skips the
        # deleted slots), the linked list of OrderedDict makes it O(1).
        self._failures: OrderedDict[Hashable, deque[float]] = OrderedDict()

    def blocked(self, key: Hashable, now: float) -> bool:
        """True if ``key`` has ``max_failures`` failures younger than ``window`` at ``now``."""
        times = self._failures.get(key)
        if times is None or len(times) < self.max_failures:
            return False
        return now - times[0] < self.window

    def record_failure(self, key: Hashable, now: float) -> None:
        """Count one failure of ``key`` at ``now``."""
        times = self._failures.get(key)
        if times is None:
            times = self._failures[key] = deque(maxlen=self.max_failures)
        else:
            self._failures.move_to_end(key)  # now the most recently failed key
        times.append(now)
        self.forget_old(now)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def forget_old(self, now: float) -> None:
        """Drop the keys whose last failure is ``window`` seconds old or older.

        Amortised O(1): keys are in order of last failure, so it stops at the first young one.
        """
        horizon = now - self.window
        while self._failures:
            key = next(iter(self._failures))
            if self._failures[key][-1] > horizon:
                break
            del self._failures[key]

    def __len__(self) -> int:
        """The number of keys remembered."""
        return len(self._failures)


class Throttle:
    """Pass at most one event per key every ``interval`` seconds; drop the rest.

    For ``typing`` notices (PROTOCOL.md: at most one per user per second is passed on): the
    first event of a key passes, and the next one passes only ``interval`` seconds or more
    after the last one that passed. Dropped events do not push the window forward, so a user
    who types steadily gets one notice per ``interval``, not none.

    Memory is bounded by the keys active in the last ``interval``: :meth:`allow` forgets the
    keys whose last passed event is older than that, once per ``interval``, and
    :meth:`forget` drops one key at once (its user went offline).
    """

    __slots__ = ("_last", "_pruned", "interval")

    def __init__(self, interval: float) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be a finite number > 0, not {interval!r}")
        self.interval = interval
        self._last: dict[Hashable, float] = {}
        self._pruned = float("-inf")

    def allow(self, key: Hashable, now: float) -> bool:
        """True if an event of ``key`` at ``now`` may pass (and count it), False to drop it.

        A clock that goes back (it should not) drops until it has passed the last event again.
        """
        self._prune(now)
        last = self._last.get(key)
        if last is not None and now - last < self.interval - _EPSILON:
            return False
        self._last[key] = now
        return True

    def forget(self, key: Hashable) -> None:
        """Forget ``key``: its next event passes."""
        self._last.pop(key, None)

    def _prune(self, now: float) -> None:
        if now - self._pruned < self.interval:
            return
        self._pruned = now
        horizon = now - self.interval
        for key in [k for k, last in self._last.items() if last <= horizon]:
            del self._last[key]

    def __len__(self) -> int:
        """The number of keys remembered."""
        return len(self._last)
