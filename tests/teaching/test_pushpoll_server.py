"""wschat.teaching.pushpoll.event_server: the event source's two interfaces, REST and push."""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Iterator

import pytest
import websocket

from wschat.teaching.pushpoll import Event, EventServer, poll_events


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


def test_event_json() -> None:
    assert Event(3, 1.5).to_json() == {"id": 3, "t": 1.5}
