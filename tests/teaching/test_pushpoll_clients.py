"""wschat.teaching.pushpoll.clients: a poll counts every byte it exchanges, both ways."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from wschat.teaching.pushpoll import EventServer, poll_events


@pytest.fixture
def server() -> Iterator[EventServer]:
    with EventServer() as running:
        yield running


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
