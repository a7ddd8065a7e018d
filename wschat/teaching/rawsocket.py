"""Read a WebSocket conversation from a plain TCP socket, for the notebook that takes it apart.

TCP keeps no boundaries between messages: one ``recv`` may return half of the server's HTTP
answer, or the answer and the first bytes of the next frame. These two functions keep reading
until :mod:`wschat.core.wire` (the project's own, library-free parser) has a whole piece, and
hand back what was left over, which already belongs to what comes next.
"""

from __future__ import annotations

import socket

from wschat.core import wire

__all__ = ["read_frame", "read_http_head"]

#: How much one ``recv`` asks the operating system for.
CHUNK = 4096


def read_http_head(
    sock: socket.socket, buffer: bytes = b""
) -> tuple[wire.HandshakeResponse, bytes, bytes]:
    """Read until the blank line that ends the server's HTTP answer.

    Returns the parsed answer, its raw bytes, and whatever came after it. Raises
    ``ConnectionError`` if the server closes the connection before the head is complete,
    and :class:`wire.HandshakeError` if what arrived is not an HTTP answer.
    """
    while True:
        try:
            response = wire.parse_handshake_response(buffer)
        except wire.IncompleteHandshake:
            buffer += _more(sock, "connection closed during the handshake")
            continue
        return response, buffer[: response.head_length], buffer[response.head_length :]


def read_frame(sock: socket.socket, buffer: bytes = b"") -> tuple[wire.Frame, bytes, bytes]:
    """Read until ``buffer`` holds one whole frame sent by a server (servers never mask).

    Returns the frame, its raw bytes, and the bytes after it. Raises ``ConnectionError`` if
    the server closes the connection in the middle of a frame, and :class:`wire.FrameError`
    if the bytes break the protocol.
    """
    while True:
        try:
            frame, used = wire.decode_frame(buffer, expect_masked=False)
        except wire.IncompleteFrame:
            buffer += _more(sock, "connection closed in the middle of a frame")
            continue
        return frame, buffer[:used], buffer[used:]


def _more(sock: socket.socket, if_closed: str) -> bytes:
    """One more chunk from ``sock``; an empty read means the peer closed: say so."""
    chunk = sock.recv(CHUNK)
    if not chunk:
        raise ConnectionError(if_closed)
    return chunk
