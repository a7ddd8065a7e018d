"""What a probe learned: the messages and the handshake, and how a message is printed. No I/O."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

from websockets.exceptions import InvalidHeader
from websockets.headers import parse_extension

__all__ = ["ProbeResult", "ReceivedMessage", "format_message", "parse_extensions"]


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message from the server: text (``str``) or binary (``bytes``).

    ``elapsed`` is in seconds since the WebSocket handshake completed.
    """

    data: str | bytes
    elapsed: float
    binary: bool


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe learned.

    ``url`` is the URL finally connected to (normalised, after redirects). ``headers`` are the
    handshake response's headers with lowercase names. ``extensions`` are the extension names
    from ``Sec-WebSocket-Extensions`` (the full header stays in ``headers``). ``connect_time``
    covers TCP connect, TLS and the WebSocket handshake of the final connection (not the name
    lookup). ``close_code`` and ``close_reason`` are set only when the server closed
    (1006: the connection dropped without a close frame); they are None when the probe closed.
    ``timed_out`` is True when the timeout, not ``count``, ended the read.
    """

    url: str
    status: int
    headers: dict[str, str]
    subprotocol: str | None
    extensions: list[str]
    connect_time: float
    messages: list[ReceivedMessage] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    timed_out: bool = False


def parse_extensions(header: str | None) -> list[str]:
    """The extension names in a ``Sec-WebSocket-Extensions`` header, in order.

    A header that does not parse still yields the names before each ``;`` (we report what the
    server said; judging it is not the probe's job).
    """
    if not header:
        return []
    try:
        return [name for name, _params in parse_extension(header)]
    except InvalidHeader:
        names = (item.split(";", 1)[0].strip() for item in header.split(","))
        return [name for name in names if name]


def format_message(message: ReceivedMessage, *, as_json: bool = False) -> str:
    """One output line for ``message``: the text as is, or ``<binary N bytes: 0a0b…>``;
    with ``as_json``, a JSON object ``{"type", "data", "elapsed"}`` (binary data in base64)."""
    if as_json:
        if isinstance(message.data, bytes):
            kind, data = "binary", base64.b64encode(message.data).decode("ascii")
        else:
            kind, data = "text", message.data
        record = {"type": kind, "data": data, "elapsed": round(message.elapsed, 6)}
        return json.dumps(record, ensure_ascii=False)
    if isinstance(message.data, bytes):
        size = len(message.data)
        if not size:
            return "<binary 0 bytes>"
        more = "..." if size > 32 else ""
        return f"<binary {size} bytes: {message.data[:32].hex()}{more}>"
    return message.data
