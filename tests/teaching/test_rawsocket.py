"""Reading a handshake and frames off a plain socket, however TCP splits the bytes."""

from __future__ import annotations

import base64
import os
import socket
from collections.abc import Iterator

import pytest

from wschat import GREETING, Replica
from wschat.core import wire
from wschat.teaching.rawsocket import read_frame, read_http_head


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica() as running:
        yield running


def _handshake(sock: socket.socket, port: int) -> str:
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(wire.build_handshake_request(f"127.0.0.1:{port}", "/", key))
    return key


def test_reads_the_replicas_handshake_and_greeting(replica: Replica) -> None:
    port = int(replica.url.rsplit(":", 1)[1].strip("/"))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        key = _handshake(sock, port)
        response, head, rest = read_http_head(sock)
        wire.check_handshake_response(response, key)
        assert head.endswith(b"\r\n\r\n") and response.status == 101
        frame, raw, rest = read_frame(sock, rest)
    assert frame.text() == GREETING and raw[0] == 0x81 and rest == b""


class _Trickle:
    """A socket stand-in that hands out its bytes one at a time, then EOF."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def recv(self, size: int) -> bytes:
        chunk, self.data = self.data[:1], self.data[1:]
        return chunk


def test_bytes_split_anywhere_and_leftovers_are_kept() -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    frames = wire.encode_frame(wire.Opcode.TEXT, "oi") + wire.encode_frame(wire.Opcode.TEXT, "ok")
    sock = _Trickle(head + frames)
    response, raw_head, rest = read_http_head(sock)  # type: ignore[arg-type]
    assert response.status == 101 and raw_head == head
    first, _, rest = read_frame(sock, rest)  # type: ignore[arg-type]
    second, _, rest = read_frame(sock, rest)  # type: ignore[arg-type]
    assert (first.text(), second.text(), rest) == ("oi", "ok", b"")


def test_a_close_in_the_middle_is_a_clear_error() -> None:
    with pytest.raises(ConnectionError, match="handshake"):
        read_http_head(_Trickle(b"HTTP/1.1 101 Swi"))  # type: ignore[arg-type]
    with pytest.raises(ConnectionError, match="middle of a frame"):
        read_frame(_Trickle(wire.encode_frame(wire.Opcode.TEXT, "oi")[:3]))  # type: ignore[arg-type]
