"""Push versus polling, measured: how long does an event take to reach a client?

One ``EventServer`` (a background thread) produces events and offers them two ways:

* REST: ``GET /events?after=N`` answers JSON with every event whose id is above ``N``;
  a polling client asks every ``interval`` seconds.
* Push: ``/ws`` is a WebSocket; each event is written to every connected client the
  moment it happens, as one text frame.

``measure()`` runs one push client and one polling client per interval concurrently
against the same seeded event stream (the fairest comparison: same events, same moments)
and returns a ``Comparison``. Event time and receive time come from the same clock
(``time.perf_counter`` in one process), so a latency is a plain subtraction. Everything
stays on loopback: the numbers show the protocol's delay, not a network's.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Literal, NamedTuple
from urllib.parse import parse_qs, urlsplit

import websocket
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from wschat.core.defaults import WS_PATH
from wschat.server.thread import BackgroundServer
from wschat.teaching.ptbr import number

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis

__all__ = [
    "EVENTS_PATH",
    "WS_PATH",
    "Comparison",
    "Event",
    "EventServer",
    "MethodResult",
    "Row",
    "measure",
    "poll_events",
]

#: The REST endpoint: ``GET /events?after=N``.
EVENTS_PATH = "/events"

_DEFAULT_INTERVALS = (0.05, 0.1, 0.25, 0.5)


@dataclass(frozen=True, slots=True)
class Event:
    """One event: ids count up from 1; ``t`` is ``time.perf_counter()`` when it happened."""

    id: int
    t: float

    def to_json(self) -> dict[str, Any]:
        """The event as a JSON object."""
        return {"id": self.id, "t": self.t}


# ------------------------------------------------------------------------------ server


class EventServer(BackgroundServer):
    """An event source served as REST (``GET /events?after=N``) and as push (``/ws``).

    ``with EventServer() as server:`` starts it on a free loopback port. ``publish()``
    makes one event now; ``start_stream(gaps)`` makes one event after each gap (seconds),
    in the background. A WebSocket client first gets ``{"type": "hello", "last": N}``
    and then, as a text frame, every event published after that.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._events: list[Event] = []
        self._clients: set[ServerConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stream_done = threading.Event()

        async def run(ready: Callable[[int], None], stop: asyncio.Event) -> None:
            async with serve(
                self._handle, host, port, process_request=self._process_request
            ) as server:
                ready(server.sockets[0].getsockname()[1])
                try:
                    await stop.wait()
                finally:
                    for task in self._tasks:
                        task.cancel()

        super().__init__(run, host=host, name="wschat-pushpoll")

    @property
    def url(self) -> str:
        """The WebSocket URL, ``ws://HOST:PORT/ws``."""
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    @property
    def http_url(self) -> str:
        """The REST URL, ``http://HOST:PORT/events``."""
        return f"http://{self.host}:{self.port}{EVENTS_PATH}"

    @property
    def events(self) -> list[Event]:
        """A copy of every event produced so far, oldest first."""
        return list(self._events)

    @property
    def clients(self) -> int:
        """How many WebSocket clients are connected and receiving events."""
        return len(self._clients)

    def publish(self) -> Event:
        """Produce one event now and push it to every WebSocket client; return it."""

        async def emit() -> Event:
            return self._emit()

        result: Event = self.call(emit)
        return result

    def start_stream(self, gaps: Sequence[float]) -> None:
        """Produce ``len(gaps)`` events in the background, waiting ``gaps[i]`` s before each.

        Returns at once; ``wait_stream()`` waits for the last event.
        """
        delays = [float(gap) for gap in gaps]
        if any(not (gap >= 0 and math.isfinite(gap)) for gap in delays):
            raise ValueError("gaps must be finite numbers >= 0")
        self._stream_done.clear()

        async def produce() -> None:
            try:
                for gap in delays:
                    await asyncio.sleep(gap)
                    self._emit()
            finally:
                self._stream_done.set()

        async def schedule() -> None:
            task = asyncio.get_running_loop().create_task(produce())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        self.call(schedule)

    def wait_stream(self, timeout: float | None = None) -> bool:
        """Wait until the stream started by ``start_stream`` is over; False on timeout."""
        return self._stream_done.wait(timeout)

    # Everything below runs on the server's event loop.

    def _emit(self) -> Event:
        event = Event(len(self._events) + 1, time.perf_counter())
        self._events.append(event)
        # broadcast() writes synchronously: the frame is on its way before we return.
        broadcast(self._clients, json.dumps(event.to_json()))
        return event

    def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        url = urlsplit(request.path)
        if url.path == WS_PATH:
            return None  # go on with the WebSocket handshake
        if url.path != EVENTS_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        after_values = parse_qs(url.query).get("after", ["0"])
        try:
            after = int(after_values[-1])
        except ValueError:
            return connection.respond(HTTPStatus.BAD_REQUEST, "after must be an integer\n")
        # Ids are 1, 2, 3...: the events after ``after`` are a slice of the list.
        new = self._events[max(after, 0) :]
        body = json.dumps(
            {"events": [event.to_json() for event in new], "last": len(self._events)}
        ).encode()
        headers = Headers(
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("Cache-Control", "no-store"),
                ("Connection", "close"),
            ]
        )
        return Response(HTTPStatus.OK.value, HTTPStatus.OK.phrase, headers, body)

    async def _handle(self, connection: ServerConnection) -> None:
        # Join first, then say hello, with nothing awaited in between: no event can slip
        # in between, and a client that has read its hello is sure to get every later event.
        self._clients.add(connection)
        broadcast([connection], json.dumps({"type": "hello", "last": len(self._events)}))
        try:
            await connection.wait_closed()
        finally:
            self._clients.discard(connection)


# ----------------------------------------------------------------------------- clients


class _CountingSocket(socket.socket):
    """A TCP socket that counts the bytes it sends and receives (HTTP or WebSocket
    layer; TCP/IP headers are not counted)."""

    sent: int
    received: int

    def send(self, data: ReadableBuffer, flags: int = 0, /) -> int:
        count = super().send(data, flags)
        self.sent += count
        return count

    def sendall(self, data: ReadableBuffer, flags: int = 0, /) -> None:
        super().sendall(data, flags)
        self.sent += memoryview(data).nbytes

    def recv(self, bufsize: int, flags: int = 0, /) -> bytes:
        data = super().recv(bufsize, flags)
        self.received += len(data)
        return data

    def recv_into(self, buffer: WriteableBuffer, nbytes: int = 0, flags: int = 0) -> int:
        count = super().recv_into(buffer, nbytes, flags)
        self.received += count
        return count

    @property
    def total(self) -> int:
        """Bytes sent plus bytes received."""
        return self.sent + self.received


def _connect(host: str, port: int, timeout: float) -> _CountingSocket:
    sock = _CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.sent = sock.received = 0
    sock.settimeout(timeout)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


class _CountingHTTPConnection(http.client.HTTPConnection):
    """http.client on a counting socket (and never through a proxy)."""

    counter: _CountingSocket | None = None

    def connect(self) -> None:
        self.counter = _connect(self.host, self.port, self.timeout or 10.0)
        self.sock = self.counter


def poll_events(
    host: str, port: int, after: int = 0, timeout: float = 5.0
) -> tuple[list[Event], int]:
    """One REST poll: ``GET /events?after=N``. Returns the new events and the bytes
    exchanged (request plus response). Raises OSError or http.client errors on failure,
    and RuntimeError if the server does not answer 200."""
    connection = _CountingHTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", f"{EVENTS_PATH}?after={after}")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET {EVENTS_PATH} answered {response.status} {response.reason}")
    payload = json.loads(body)
    events = [Event(int(item["id"]), float(item["t"])) for item in payload["events"]]
    counter = connection.counter
    return events, 0 if counter is None else counter.total


@dataclass(slots=True)
class _Tally:
    """What one client saw; filled by its thread, read after the thread ends."""

    latencies: list[float] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    requests: int = 0
    empty: int = 0
    bytes: int = 0
    error: BaseException | None = None

    def record(self, events: Sequence[Event], now: float) -> None:
        for event in events:
            self.latencies.append(now - event.t)
            self.ids.append(event.id)


def _run_poller(
    host: str, port: int, interval: float, expected: int,
    go: threading.Event, abort: threading.Event, tally: _Tally,
) -> None:
    try:
        if not go.wait(30) or abort.is_set():
            return
        # A fixed grid of ticks at start + k * interval. Each request is awaited before the
        # next, and ticks missed while it ran are skipped (a setTimeout loop aimed at the
        # grid, not JavaScript's setInterval, which would fire anyway and overlap requests).
        # Pacing with a wait is the behaviour being measured here, not synchronisation.
        next_tick = time.perf_counter()
        after = 0
        while len(tally.ids) < expected and not abort.is_set():
            events, exchanged = poll_events(host, port, after)
            now = time.perf_counter()
            tally.requests += 1
            tally.bytes += exchanged
            if not events:
                tally.empty += 1
            tally.record(events, now)
            after = max([after, *(event.id for event in events)])
            if len(tally.ids) >= expected:
                break
            while next_tick <= now:
                next_tick += interval
            abort.wait(next_tick - time.perf_counter())
    except Exception as error:
        tally.error = error


def _run_pusher(
    host: str, port: int, expected: int, deadline: float,
    ready: threading.Event, abort: threading.Event, tally: _Tally,
) -> None:
    sock: _CountingSocket | None = None
    try:
        sock = _connect(host, port, timeout=5.0)
        ws = websocket.create_connection(
            f"ws://{host}:{port}{WS_PATH}", socket=sock, timeout=5.0
        )
        try:
            hello = json.loads(ws.recv())
            if hello.get("type") != "hello":
                raise RuntimeError(f"expected a hello, got {hello!r}")
            tally.requests = 1  # the upgrade request: the only request push needs
            ready.set()
            while len(tally.ids) < expected and not abort.is_set():
                ws.settimeout(max(0.01, min(0.5, deadline - time.perf_counter())))
                try:
                    message = ws.recv()
                except websocket.WebSocketTimeoutException:
                    if time.perf_counter() > deadline:
                        raise
                    continue
                now = time.perf_counter()
                item = json.loads(message)
                tally.record([Event(int(item["id"]), float(item["t"]))], now)
            # Count up to the last event; the closing handshake is left out, as TCP's is.
            tally.bytes = sock.total
        finally:
            ws.close()
    except Exception as error:
        tally.error = error
        ready.set()
    finally:
        if sock is not None:
            sock.close()


# ----------------------------------------------------------------------------- results


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _short_number(value: float) -> str:
    """``value`` with as few decimals as it needs, the Brazilian way: ``0.1`` is ``"0,1"``,
    ``1000.0`` is ``"1.000"``, ``12.5`` is ``"12,5"`` (up to six significant digits)."""
    text = f"{value:.6g}"
    if "e" in text:  # very large or very small: keep the exponent, swap the point
        return text.replace(".", ",")
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = number(abs(int(whole)))
    return f"{sign}{digits},{fraction}" if fraction else f"{sign}{digits}"


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
        return _percentile(self.latencies, 50)

    @property
    def p95(self) -> float:
        """95th percentile latency, seconds."""
        return _percentile(self.latencies, 95)

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


class Row(NamedTuple):
    """One line of ``Comparison.table()``; latencies in seconds."""

    method: str
    p50: float
    p95: float
    max: float
    requests_per_event: float
    bytes_per_event: float


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
        header = ("Método", "p50 ms", "p95 ms", "Máx ms", "Requisições/evento", "Bytes/evento")
        lines = [
            (row.method, number(row.p50 * 1e3, 2), number(row.p95 * 1e3, 2),
             number(row.max * 1e3, 2), number(row.requests_per_event, 2),
             number(row.bytes_per_event))
            for row in self.table()
        ]
        widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

        def fmt(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
            return "  ".join([first, *rest])

        return "\n".join([fmt(header), *(fmt(line) for line in lines)])

    def __str__(self) -> str:
        return self.format_table()

    def plot(self, ax: Axes | None = None, kind: Literal["box", "cdf"] = "box") -> Axes:
        """Draw the latencies (ms, log scale) per method on ``ax`` (a new figure if None):
        a boxplot (``kind="box"``) or cumulative distributions (``kind="cdf"``).
        Labels are Portuguese and tick numbers use a decimal comma (pt-BR notebook).
        Needs matplotlib, imported only here."""
        if ax is None:
            import matplotlib.pyplot as plt

            _, ax = plt.subplots(figsize=(8, 4))
        labels = [result.method for result in self.results]
        samples = [[value * 1e3 for value in result.latencies] for result in self.results]
        from matplotlib.ticker import FuncFormatter, LogLocator

        def brazilian(value: float, _position: object = None) -> str:
            return _short_number(value)

        if kind == "box":
            ax.boxplot(samples, tick_labels=labels, showfliers=True)
            ax.set_yscale("log")
            ax.set_ylabel("Latência (ms, escala log)")
            latency_axis: Axis = ax.yaxis
        elif kind == "cdf":
            for label, sample in zip(labels, samples, strict=True):
                ordered = sorted(sample)
                fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
                ax.step(ordered, fractions, where="post", label=label)
            ax.set_xscale("log")
            ax.set_xlabel("Latência (ms, escala log)")
            ax.set_ylabel("Fração dos eventos")
            ax.yaxis.set_major_formatter(FuncFormatter(brazilian))
            ax.legend()
            latency_axis = ax.xaxis
        else:
            raise ValueError(f"kind must be 'box' or 'cdf', not {kind!r}")
        # Ticks at 1, 3, 10, 30...: a sub-millisecond push still sits next to a labelled tick.
        latency_axis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))
        latency_axis.set_major_formatter(FuncFormatter(brazilian))
        latency_axis.set_minor_formatter(FuncFormatter(lambda _value, _position: ""))
        ax.set_title(f"{self.events} eventos: push x polling (loopback)")
        ax.grid(True, which="both", alpha=0.3)
        return ax


# ----------------------------------------------------------------------------- measure


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


def _interval_label(interval: float) -> str:
    """A polling interval as a reader sees it: ``0.05`` is ``"50 ms"``, ``0.0125`` is
    ``"12,5 ms"`` (decimal comma, as everywhere in the pt-BR notebooks)."""
    return f"{_short_number(interval * 1e3)} ms"


def measure(
    intervals: Sequence[float] = _DEFAULT_INTERVALS,
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
    push_tally = _Tally()
    poll_tallies = {interval: _Tally() for interval in checked}

    with EventServer() as server:
        host, port = server.host, server.port
        deadline = time.perf_counter() + budget
        threads = [
            threading.Thread(
                target=_run_pusher, name="pushpoll-push", daemon=True,
                args=(host, port, events, deadline, push_ready, abort, push_tally),
            )
        ]
        threads += [
            threading.Thread(
                target=_run_poller, name=f"pushpoll-poll-{interval}", daemon=True,
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

    def result(method: str, interval: float | None, tally: _Tally) -> MethodResult:
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
        result(f"polling {_interval_label(interval)}", interval, tally)
        for interval, tally in sorted(poll_tallies.items())
    ]
    return Comparison(tuple(results), events, seed)
