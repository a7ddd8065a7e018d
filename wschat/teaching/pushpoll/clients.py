"""The two clients of the push-versus-polling experiment, each counting the bytes it exchanges.

``poll_events`` is one REST poll; ``run_poller`` polls on a fixed grid of ticks and
``run_pusher`` reads the WebSocket, each in a thread of its own, filling a ``Tally``: the
latency of each event (receive time minus event time, one clock), its id, the requests made
and the bytes exchanged (HTTP or WebSocket layer; TCP/IP headers are not counted).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import websocket

from wschat.core.defaults import WS_PATH
from wschat.teaching.pushpoll.event_server import EVENTS_PATH, Event

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer, WriteableBuffer

__all__ = ["CountingSocket", "Tally", "connect", "poll_events", "run_poller", "run_pusher"]


class CountingSocket(socket.socket):
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


def connect(host: str, port: int, timeout: float) -> CountingSocket:
    """A connected counting TCP socket (Nagle off, so a small write leaves at once)."""
    sock = CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
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

    counter: CountingSocket | None = None

    def connect(self) -> None:
        self.counter = connect(self.host, self.port, self.timeout or 10.0)
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
class Tally:
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


def run_poller(
    host: str, port: int, interval: float, expected: int,
    go: threading.Event, abort: threading.Event, tally: Tally,
) -> None:
    """Poll ``GET /events`` every ``interval`` s, from when ``go`` is set, until ``expected``
    events are in ``tally`` or ``abort`` is set. An error ends it and lands in ``tally.error``."""
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


def run_pusher(
    host: str, port: int, expected: int, deadline: float,
    ready: threading.Event, abort: threading.Event, tally: Tally,
) -> None:
    """Read ``/ws`` until ``expected`` events are in ``tally``, ``abort`` is set or
    ``deadline`` (``time.perf_counter()``) passes. ``ready`` is set once the hello arrived
    (every later event will come) or on failure, which lands in ``tally.error``."""
    sock: CountingSocket | None = None
    try:
        sock = connect(host, port, timeout=5.0)
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
