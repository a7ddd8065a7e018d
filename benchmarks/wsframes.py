"""A lean client-side WebSocket codec for the load generator (RFC 6455, no extensions needed).

Why not websockets' own client: the load generator holds up to 10,000 connections on ONE
core and must stay cheaper per delivery than the server it measures. websockets' client costs
a task, queues and a ``Frame`` object per message (several microseconds each), which would
make the generator the bottleneck. Here a connection is a plain ``asyncio.Protocol`` and a
frame is parsed with two byte look-ups and a slice. tests/test_bench_wsframes.py checks this
codec against websockets' own (``websockets.frames.Frame``) both ways.

Scope: client side only. Frames we send are masked (RFC 6455 5.3); frames we read must be
unmasked. Compressed frames (RSV1, permessage-deflate) are only *inflated* when asked to,
for the idle-memory measurement with compression; we never send compressed frames (allowed).
"""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from collections.abc import Iterator

__all__ = [
    "BINARY",
    "CLOSE",
    "CONT",
    "PING",
    "PONG",
    "TEXT",
    "FrameError",
    "FrameReader",
    "accept_key",
    "encode_frame",
    "handshake_request",
    "mask_payload",
    "parse_handshake_response",
]

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


class FrameError(Exception):
    """The server sent something a client must not accept."""


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``Sec-WebSocket-Key: key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def mask_payload(payload: bytes, mask: bytes) -> bytes:
    """XOR ``payload`` with the 4-byte ``mask`` repeated (its own inverse).

    One big-integer XOR instead of a Python loop per byte: a few hundred ns for a chat line.
    """
    n = len(payload)
    if n == 0:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One client frame: FIN + opcode, the MASK bit and length, the key, the masked payload.

    ``mask`` defaults to 4 fresh random bytes (RFC 6455 5.3); tests pass a fixed one.
    """
    if mask is None:
        mask = os.urandom(4)
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + mask_payload(payload, mask)


class FrameReader:
    """Incremental parser of server frames: ``feed(data)`` yields ``(fin, opcode, payload)``.

    Bytes of an incomplete frame are kept for the next ``feed``. Fragments are yielded as
    they come (opcode 0 for continuations): the generator only reads small whole messages.
    With ``inflate`` (permessage-deflate negotiated, context takeover), RSV1 frames are
    inflated; otherwise an RSV bit is an error.
    """

    __slots__ = ("_buffer", "_inflater")

    def __init__(self, *, inflate: bool = False) -> None:
        self._buffer = b""
        self._inflater = zlib.decompressobj(-15) if inflate else None

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete frame kept from earlier ``feed`` calls."""
        return len(self._buffer)

    def feed(self, data: bytes) -> Iterator[tuple[bool, int, bytes]]:
        buffer = self._buffer + data if self._buffer else data
        size = len(buffer)
        pos = 0
        while size - pos >= 2:
            b0 = buffer[pos]
            b1 = buffer[pos + 1]
            if b1 & 0x80:
                raise FrameError("server frames must not be masked")
            n = b1 & 0x7F
            start = pos + 2
            if n == 126:
                if size - start < 2:
                    break
                n = int.from_bytes(buffer[start : start + 2], "big")
                start += 2
            elif n == 127:
                if size - start < 8:
                    break
                n = int.from_bytes(buffer[start : start + 8], "big")
                start += 8
            end = start + n
            if end > size:
                break
            payload = buffer[start:end]
            pos = end
            if b0 & 0x70:
                if b0 & 0x40 and self._inflater is not None:
                    payload = self._inflater.decompress(payload + _DEFLATE_TAIL)
                else:
                    raise FrameError("reserved bits set without a negotiated extension")
            yield bool(b0 & 0x80), b0 & 0x0F, payload
        self._buffer = buffer[pos:]


def handshake_request(host: str, port: int, path: str, key: str, *, deflate: bool = False) -> bytes:
    """The HTTP/1.1 Upgrade request; ``deflate`` offers permessage-deflate."""
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if deflate:
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_handshake_response(head: bytes, key: str) -> dict[str, str]:
    """Check a ``101`` answer to ``key`` (head without the blank line); return its headers.

    Header names are lower-cased. Raises FrameError for any other status or a wrong accept.
    """
    status, *rest = head.decode("latin-1").split("\r\n")
    parts = status.split(" ", 2)
    if len(parts) < 2 or parts[1] != "101":
        raise FrameError(f"handshake refused: {status}")
    headers: dict[str, str] = {}
    for line in rest:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("sec-websocket-accept") != accept_key(key):
        raise FrameError("wrong Sec-WebSocket-Accept")
    return headers


def new_key() -> str:
    """A fresh random ``Sec-WebSocket-Key``."""
    return base64.b64encode(os.urandom(16)).decode()
