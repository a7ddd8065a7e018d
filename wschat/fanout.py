"""Fan-out on the wire: each frame encoded once, each burst written once per connection.

websockets' ``broadcast()`` encodes the text once but still builds and serializes a frame per
connection, then makes one ``write`` (one system call) per frame. For a chat server most of
the CPU of a delivery goes there (benchmarks/README.md), so this module

- encodes a server text frame once, as bytes (:func:`text_frame`), and writes those same
  bytes to every connection (:func:`write_frames`);
- gathers what one burst of messages sends to each connection (:class:`Burst`) so that a
  connection gets ONE write per burst, its frames joined, in log order.

The invariant that makes shared frame bytes safe (RFC 6455 5.2): a frame from a server is
never masked, so without extensions its bytes depend only on FIN, opcode and payload, not on
the connection. wschat's server (1) negotiates no extension (``compression=None``, nothing
else configured), (2) never sends fragmented messages (no ``send`` of an iterable), and (3)
writes only to connections whose websockets state is OPEN, straight to the transport and
synchronously, so its bytes and websockets' own (pings, pongs, close) reach the socket in the
order they were produced. A connection that breaks (1) or (2) would be written through
websockets instead: :func:`write_frames` checks (1) and returns False.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, TypeVar

from websockets.asyncio.connection import Connection
from websockets.protocol import State

__all__ = ["Burst", "text_frame", "write_frames"]

S = TypeVar("S", bound=Hashable)

_OPEN = State.OPEN


def text_frame(text: str) -> bytes:
    """One final, unmasked text frame with ``text`` as its payload (server to client)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def write_frames(ws: Connection, data: bytes) -> bool:
    """Write already encoded frames to an OPEN connection without extensions.

    Returns False, writing nothing, if the connection is not OPEN (closing: nothing may
    follow a close frame) or negotiated an extension (its frames differ per connection).
    Never waits: the caller bounds the connection's write buffer.
    """
    protocol = ws.protocol
    if protocol.state is not _OPEN or protocol.extensions:
        return False
    ws.transport.write(data)
    return True


class Burst(Generic[S]):
    """The frames that one burst of messages sends, per session, in log order.

    Most frames of a burst go to every live session (public messages): they are kept once,
    in ``shared``. A session that gets anything else (its own message with its ``ref``, a
    private message) gets its own list, started from a copy of ``shared`` at that point, and
    from then on receives every frame explicitly. Build the burst without awaiting (the set
    of sessions must not change meanwhile), then write it with :meth:`joined`.
    """

    __slots__ = ("own", "shared")

    def __init__(self) -> None:
        self.shared: list[bytes] = []
        self.own: dict[S, list[bytes]] = {}

    def to_everyone(self, frame: bytes) -> None:
        """``frame`` goes to every live session (those with their own list included)."""
        self.shared.append(frame)
        for frames in self.own.values():
            frames.append(frame)

    def to_one(self, session: S, frame: bytes) -> None:
        """``frame`` goes to ``session`` only, after what it already gets in this burst."""
        frames = self.own.get(session)
        if frames is None:
            frames = self.own[session] = self.shared.copy()
        frames.append(frame)

    def to_everyone_but(self, session: S, frame: bytes, instead: bytes) -> None:
        """``frame`` to every live session, except ``instead`` to ``session``."""
        self.to_one(session, instead)
        self.shared.append(frame)
        for other, frames in self.own.items():
            if other is not session:
                frames.append(frame)

    def joined(self) -> tuple[bytes, dict[S, bytes]]:
        """What every other live session gets (``b""`` if nothing), and each own session's."""
        return b"".join(self.shared), {s: b"".join(f) for s, f in self.own.items()}
