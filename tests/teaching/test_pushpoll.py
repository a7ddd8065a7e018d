"""wschat.teaching.pushpoll: the event server's two interfaces, the measurement, and its results.

Timing assertions compare methods with wide margins (a poll's median against push's
median), never against tight thresholds.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
from collections.abc import Iterator

import matplotlib
import pytest
import websocket

from wschat.teaching.pushpoll import (
    Comparison,
    Event,
    EventServer,
    MethodResult,
    Row,
    measure,
    poll_events,
)

matplotlib.use("Agg")


@pytest.fixture
def server() -> Iterator[EventServer]:
    with EventServer() as running:
        yield running


def get(server: EventServer, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# ---------------------------------------------------------------------------- server


def test_rest_returns_events_after_an_id(server: EventServer) -> None:
    published = [server.publish() for _ in range(3)]
    assert [event.id for event in published] == [1, 2, 3]
    assert server.events == published

    status, body = get(server, "/events?after=0")
    assert status == 200
    reply = json.loads(body)
    assert reply["last"] == 3
    assert [item["id"] for item in reply["events"]] == [1, 2, 3]
    assert [item["t"] for item in reply["events"]] == [event.t for event in published]

    assert [e.id for e in poll_events(server.host, server.port, after=2)[0]] == [3]
    assert poll_events(server.host, server.port, after=3)[0] == []


def test_rest_rejects_bad_requests(server: EventServer) -> None:
    assert get(server, "/events?after=soon")[0] == 400
    assert get(server, "/nothing-here")[0] == 404


def test_poll_events_counts_the_bytes_both_ways(server: EventServer) -> None:
    server.publish()
    _, exchanged = poll_events(server.host, server.port, after=0)
    # The same request by hand on a plain socket: what http.client sends, byte for byte.
    request = (
        f"GET /events?after=0 HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
        "Accept-Encoding: identity\r\n\r\n"
    ).encode()
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(request)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert exchanged == len(request) + len(response)


def test_push_delivers_each_event_to_each_client_once(server: EventServer) -> None:
    clients = [websocket.create_connection(server.url, timeout=5) for _ in range(2)]
    try:
        for client in clients:
            assert json.loads(client.recv()) == {"type": "hello", "last": 0}
        assert server.clients == 2
        published = [server.publish(), server.publish()]
        for client in clients:
            got = [json.loads(client.recv()) for _ in published]
            assert got == [event.to_json() for event in published]
        # Nothing more is waiting: exactly once.
        for client in clients:
            client.settimeout(0.2)
            with pytest.raises(websocket.WebSocketTimeoutException):
                client.recv()
    finally:
        for client in clients:
            client.close()


def test_stream_produces_events_in_the_background(server: EventServer) -> None:
    server.start_stream([0.0, 0.01, 0.0])
    assert server.wait_stream(timeout=5)
    assert [event.id for event in server.events] == [1, 2, 3]
    times = [event.t for event in server.events]
    assert times == sorted(times)


def test_stream_rejects_bad_gaps(server: EventServer) -> None:
    with pytest.raises(ValueError, match="gaps"):
        server.start_stream([0.1, -1.0])
    with pytest.raises(ValueError, match="gaps"):
        server.start_stream([math.nan])


# --------------------------------------------------------------------------- measure


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


# --------------------------------------------------------------------------- results


def sample_comparison() -> Comparison:
    push = MethodResult("WebSocket push", None, (0.001, 0.002, 0.003, 0.004),
                        (1, 2, 3, 4), 1, 0, 800)
    poll = MethodResult("polling 500 ms", 0.5, (0.1, 0.2, 0.3, 0.4), (1, 2, 3, 4), 8, 5, 2000)
    return Comparison((push, poll), events=4, seed=0)


def test_statistics_and_table() -> None:
    comparison = sample_comparison()
    poll = comparison.poll(0.5)
    assert poll.p50 == pytest.approx(0.25)
    assert poll.p95 == pytest.approx(0.385)  # linear interpolation, as numpy does
    assert poll.max == 0.4
    assert poll.mean == pytest.approx(0.25)
    assert (poll.requests_per_event, poll.bytes_per_event) == (2.0, 500.0)
    rows = comparison.table()
    assert rows[1] == Row("polling 500 ms", poll.p50, poll.p95, 0.4, 2.0, 500.0)
    text = comparison.format_table()
    assert text.splitlines()[0].split() == [
        "Método", "p50", "ms", "p95", "ms", "Máx", "ms", "Requisições/evento", "Bytes/evento"]
    assert "polling 500 ms" in text
    # Brazilian numbers: decimal comma, dot between thousands; never a decimal point.
    poll_line = text.splitlines()[2].split()
    assert poll_line[:3] == ["polling", "500", "ms"]
    assert poll_line[3:] == ["250,00", "385,00", "400,00", "2,00", "500"]
    push_line = text.splitlines()[1].split()
    assert push_line[2:] == ["2,50", "3,85", "4,00", "0,25", "200"]
    big = MethodResult("polling 2.000 ms", 2.0, (1.2345,), (1,), 1, 0, 12_345)
    assert Comparison((big,), events=1, seed=0).format_table().splitlines()[1].split()[3:] == [
        "1.234,50", "1.234,50", "1.234,50", "1,00", "12.345"]
    with pytest.raises(KeyError):
        comparison.poll(0.1)


def test_empty_result_has_nan_statistics() -> None:
    empty = MethodResult("polling 1.000 ms", 1.0, (), (), 3, 3, 600)
    assert math.isnan(empty.p50) and math.isnan(empty.max)
    assert math.isnan(empty.requests_per_event)


@pytest.mark.parametrize("kind", ["box", "cdf"])
def test_plot_draws_every_method(kind: str) -> None:
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    try:
        returned = sample_comparison().plot(ax, kind=kind)  # type: ignore[arg-type]
        assert returned is ax
        if kind == "box":
            labels = [tick.get_text() for tick in ax.get_xticklabels()]
            assert labels == ["WebSocket push", "polling 500 ms"]
            assert ax.get_yscale() == "log"
            latency_axis = ax.yaxis
        else:
            assert [line.get_label() for line in ax.get_lines()] == [
                "WebSocket push", "polling 500 ms"]
            assert ax.get_xscale() == "log"
            latency_axis = ax.xaxis
            fraction = ax.yaxis.get_major_formatter()
            assert [fraction(v, 0) for v in (0.0, 0.25, 1.0)] == ["0", "0,25", "1"]
        # Brazilian tick labels on the latency axis: 0,1 ms, not 0.1 or 10^-1.
        latency = latency_axis.get_major_formatter()
        assert [latency(v, 0) for v in (0.1, 1.0, 1000.0)] == ["0,1", "1", "1.000"]
        assert "latência" in (ax.get_ylabel() + ax.get_xlabel()).lower()
        with pytest.raises(ValueError, match="kind"):
            sample_comparison().plot(ax, kind="pie")  # type: ignore[arg-type]
    finally:
        plt.close(figure)


def test_event_json() -> None:
    assert Event(3, 1.5).to_json() == {"id": 3, "t": 1.5}


def test_interval_labels_use_a_decimal_comma() -> None:
    from wschat.teaching.pushpoll import _interval_label

    assert _interval_label(0.05) == "50 ms"
    assert _interval_label(0.0125) == "12,5 ms"
    assert _interval_label(2.0) == "2.000 ms"
