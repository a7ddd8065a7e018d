"""The results of the push-versus-polling experiment: each client's latencies, requests and
bytes, and the statistics the notebook compares (percentiles, per-event costs). Pure: no I/O;
the table's text and the chart come from :mod:`wschat.teaching.pushpoll.plot`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from wschat.teaching.pushpoll.plot import Row, draw_latencies, format_table

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["Comparison", "MethodResult", "Row", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values``, by linear interpolation between closest ranks
    (numpy's default); NaN if ``values`` is empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class MethodResult:
    """One client's view of the stream. ``interval`` is None for push. Latencies are in
    seconds, in the order the events arrived; ``bytes`` counts the HTTP or WebSocket
    bytes both ways (the push client's opening handshake included)."""

    method: str
    interval: float | None
    latencies: tuple[float, ...]
    ids: tuple[int, ...]
    requests: int
    empty_responses: int
    bytes: int

    @property
    def p50(self) -> float:
        """Median latency, seconds."""
        return percentile(self.latencies, 50)

    @property
    def p95(self) -> float:
        """95th percentile latency, seconds."""
        return percentile(self.latencies, 95)

    @property
    def max(self) -> float:
        """Worst latency, seconds."""
        return max(self.latencies, default=math.nan)

    @property
    def mean(self) -> float:
        """Mean latency, seconds."""
        return sum(self.latencies) / len(self.latencies) if self.latencies else math.nan

    @property
    def requests_per_event(self) -> float:
        """HTTP requests made per event delivered."""
        return self.requests / len(self.ids) if self.ids else math.nan

    @property
    def bytes_per_event(self) -> float:
        """Bytes exchanged per event delivered."""
        return self.bytes / len(self.ids) if self.ids else math.nan


@dataclass(frozen=True, slots=True)
class Comparison:
    """The results of ``measure()``: push first, then the pollers by interval."""

    results: tuple[MethodResult, ...]
    events: int
    seed: int | None

    @property
    def push(self) -> MethodResult:
        """The push client's result."""
        return next(result for result in self.results if result.interval is None)

    def poll(self, interval: float) -> MethodResult:
        """The result of the poller with this interval; KeyError if there is none."""
        for result in self.results:
            if result.interval is not None and math.isclose(result.interval, interval):
                return result
        raise KeyError(f"no poller with interval {interval}")

    def table(self) -> list[Row]:
        """One row per method: method, p50, p95, max (seconds), requests/event, bytes/event."""
        return [
            Row(r.method, r.p50, r.p95, r.max, r.requests_per_event, r.bytes_per_event)
            for r in self.results
        ]

    def format_table(self) -> str:
        """The table as aligned text, latencies in milliseconds.

        This is teaching output, printed in the pt-BR notebook (01_conceitos.ipynb): the
        column labels are Portuguese and the numbers are written the Brazilian way
        (decimal comma, dot between thousands; see ``wschat.teaching.ptbr``). The row
        labels are the methods' names."""
        return format_table(self.table())

    def __str__(self) -> str:
        return self.format_table()

    def plot(self, ax: Axes | None = None, kind: Literal["box", "cdf"] = "box") -> Axes:
        """Draw the latencies (ms, log scale) per method on ``ax`` (a new figure if None):
        a boxplot (``kind="box"``) or cumulative distributions (``kind="cdf"``).
        Labels are Portuguese and tick numbers use a decimal comma (pt-BR notebook).
        Needs matplotlib, imported only when this is called."""
        samples = [(result.method, result.latencies) for result in self.results]
        return draw_latencies(ax, samples, f"{self.events} eventos: push x polling (loopback)", kind)
