"""The load generator's client side of the handshake and the frames it writes, on wschat.core.wire.

Why not websockets' own client: the load generator holds up to 10,000 connections on ONE
core and must stay cheaper per delivery than the server it measures. websockets' client costs
a task, queues and a ``Frame`` object per message (several microseconds each), which would
make the generator the bottleneck. So a connection is a plain asyncio protocol
(``loadgen.Client``) that reads the server's frames itself on its hot path, and writes the
few frames a client sends (its login, pongs, a close; the coordinator's messages) with
:func:`encode_frame`, masked as RFC 6455 5.3 requires. The handshake and the frame codec
are ``wschat.core.wire``'s, which tests/core/test_wire.py checks against websockets;
tests/test_bench_wsframes.py checks this module's use of it.
"""

from __future__ import annotations

import base64
import os

from wschat.core import wire
from wschat.core.wire import Opcode

__all__ = [
    "CLOSE",
    "PING",
    "PONG",
    "TEXT",
    "FrameError",
    "encode_frame",
    "handshake_request",
    "new_key",
    "parse_handshake_response",
]

TEXT, CLOSE, PING, PONG = Opcode.TEXT.value, Opcode.CLOSE.value, Opcode.PING.value, Opcode.PONG.value

#: Anything a client must not accept from the server: a bad handshake or frame.
FrameError = wire.WireError

_DEFLATE_OFFER = (("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"),)


def encode_frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One client frame, masked with ``mask`` (default: 4 fresh random bytes, RFC 6455 5.3)."""
    return wire.encode_frame(opcode, payload, fin=fin, mask=os.urandom(4) if mask is None else mask)


def handshake_request(host: str, port: int, path: str, key: str, *, deflate: bool = False) -> bytes:
    """The HTTP/1.1 Upgrade request; ``deflate`` offers permessage-deflate."""
    return wire.build_handshake_request(
        f"{host}:{port}", path, key, extra_headers=_DEFLATE_OFFER if deflate else ()
    )


def parse_handshake_response(head: bytes, key: str) -> dict[str, str]:
    """Check the HTTP head of a ``101`` answer to ``key`` (up to and including the blank
    line); return its headers, names lower-cased. Raises FrameError (a HandshakeError) for
    any other status, a missing Upgrade or a wrong accept."""
    response = wire.parse_handshake_response(head)
    wire.check_handshake_response(response, key)
    return {name.lower(): value for name, value in response.headers}


def new_key() -> str:
    """A fresh random ``Sec-WebSocket-Key``."""
    return base64.b64encode(os.urandom(16)).decode()
