"""The WebSocket wire format of RFC 6455, by hand: handshake keys, frames and close payloads.

This module is pure (no sockets, no asyncio) so that a notebook can take real bytes apart
with it and a load generator can build and parse frames with it at speed. It follows the
RFC strictly: whatever ``decode_frame`` accepts is a well-formed frame, and whatever
``encode_frame`` returns is one. It does not track connection state (fragmentation order,
UTF-8 across fragments, close handshake): that is the job of a protocol object such as
``websockets.protocol.Protocol``.

Frame layout (RFC 6455 §5.2)::

    byte 0: FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
    byte 1: MASK | payload length (7 bits: 0-125, or 126 -> 16-bit, 127 -> 64-bit follows)
    [2 or 8 bytes of extended length, network byte order]
    [4 bytes of masking key, if MASK]
    payload (XORed with the masking key, if MASK)
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import struct
from dataclasses import dataclass
from typing import NamedTuple

from .errors import WschatError

__all__ = [
    "CLOSE_CODES",
    "GUID",
    "Close",
    "Frame",
    "FrameError",
    "HandshakeError",
    "HandshakeResponse",
    "IncompleteFrame",
    "IncompleteHandshake",
    "Opcode",
    "WireError",
    "accept_key",
    "apply_mask",
    "build_handshake_request",
    "check_handshake_response",
    "close_payload",
    "decode_frame",
    "encode_frame",
    "opcode_name",
    "parse_close",
    "parse_handshake_response",
]

#: The fixed string that RFC 6455 §1.3 appends to the client's key before hashing.
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Largest payload a control frame (close, ping, pong) may carry (RFC 6455 §5.5).
MAX_CONTROL_PAYLOAD = 125

#: Longest HTTP head ``parse_handshake_response`` accepts before calling the input bad.
MAX_HANDSHAKE_HEAD = 16 * 1024


class Opcode(enum.IntEnum):
    """The opcodes RFC 6455 §5.2 defines; every other value is reserved and invalid."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA

    @property
    def is_control(self) -> bool:
        """Control frames (close, ping, pong) have the high opcode bit set."""
        return self >= 0x8


#: Close codes a student meets, with what they mean (IANA "WebSocket Close Code Number
#: Registry"). 3000-3999 are registered by libraries and frameworks; 4000-4999 are for
#: applications, by private agreement between client and server.
CLOSE_CODES: dict[int, str] = {
    1000: "normal closure",
    1001: "going away (server shutting down, or browser leaving the page)",
    1002: "protocol error",
    1003: "unsupported data (e.g. binary where only text is accepted)",
    1005: "no status received (reserved: never sent, only reported locally)",
    1006: "abnormal closure (reserved: the TCP connection ended without a close frame)",
    1007: "invalid frame payload data (e.g. text that is not UTF-8)",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension missing (sent by a client)",
    1011: "internal server error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake failure (reserved: never sent, only reported locally)",
}

# Codes that may appear in a close frame on the wire (RFC 6455 §7.4, IANA registry).
_SENDABLE_RANGE_CODES = range(3000, 5000)
_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})


class WireError(WschatError, ValueError):
    """Base class: the bytes or the arguments break RFC 6455."""


class FrameError(WireError):
    """A frame (or a close payload) is malformed, or cannot be built as asked."""


class IncompleteFrame(FrameError):
    """The buffer holds only the start of a frame. ``needed`` is the smallest total size
    (from the start of the buffer) that could hold the whole frame: read at least
    ``needed - len(buffer)`` more bytes, then call ``decode_frame`` again."""

    def __init__(self, needed: int, have: int) -> None:
        super().__init__(f"incomplete frame: have {have} bytes, need at least {needed}")
        self.needed = needed
        self.have = have


class HandshakeError(WireError):
    """An opening handshake request cannot be built, or a response is malformed or refuses."""


class IncompleteHandshake(HandshakeError):
    """The buffer does not yet hold the whole HTTP head (up to the blank line)."""


def opcode_name(opcode: int) -> str:
    """``"TEXT"`` for 1, ``"PING"`` for 9...; ``"RESERVED(0x3)"`` for values the RFC reserves."""
    try:
        return Opcode(opcode).name
    except ValueError:
        if not 0 <= opcode <= 0xF:
            raise FrameError(f"an opcode has 4 bits (0-15), not {opcode}") from None
        return f"RESERVED(0x{opcode:X})"


# --------------------------------------------------------------------------- handshake


def accept_key(sec_websocket_key: str) -> str:
    """The ``Sec-WebSocket-Accept`` value for a ``Sec-WebSocket-Key`` (RFC 6455 §4.2.2).

    base64(SHA-1(key + GUID)). The server proves it read this very handshake and speaks
    WebSocket; it is not a security measure (anyone can compute it).
    """
    digest = hashlib.sha1((sec_websocket_key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _check_key(key: str) -> None:
    # RFC 6455 §4.1: the key is 16 random bytes, base64-encoded (24 characters).
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise HandshakeError(f"Sec-WebSocket-Key is not base64: {key!r}") from None
    if len(raw) != 16:
        raise HandshakeError(f"Sec-WebSocket-Key must encode 16 bytes, not {len(raw)}")


def _check_token(what: str, value: str) -> None:
    # One header line must stay one line: CR, LF or NUL would let a caller inject headers.
    if not value or not value.isascii() or any(c in value for c in "\r\n\0"):
        raise HandshakeError(f"{what} must be non-empty printable ASCII: {value!r}")


def build_handshake_request(
    host: str,
    path: str,
    key: str,
    *,
    origin: str | None = None,
    extra_headers: tuple[tuple[str, str], ...] = (),
) -> bytes:
    """The exact bytes of a client's opening handshake (RFC 6455 §4.1).

    ``host`` is the ``Host`` header (``"127.0.0.1:8765"``), ``path`` the request target
    (``"/ws"``, query included), ``key`` a base64 of 16 random bytes (e.g.
    ``base64.b64encode(os.urandom(16)).decode()``). Raises HandshakeError on bad input.
    """
    _check_token("host", host)
    _check_token("path", path)
    if not path.startswith("/") or " " in path:
        raise HandshakeError(f"path must start with '/' and hold no spaces: {path!r}")
    _check_key(key)
    headers = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    headers.extend(extra_headers)
    lines = [f"GET {path} HTTP/1.1"]
    for name, value in headers:
        _check_token("header name", name)
        _check_token(f"header {name}", value)
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


@dataclass(frozen=True, slots=True)
class HandshakeResponse:
    """The HTTP head of a server's answer. Header names are kept as sent; ``header()``
    looks one up case-insensitively."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    head_length: int

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


def parse_handshake_response(data: bytes | bytearray | memoryview) -> HandshakeResponse:
    """Parse the HTTP head at the start of ``data`` (status line and headers).

    Bytes after the blank line (``data[response.head_length:]``) already belong to the
    WebSocket stream: a server may send its first frame in the same TCP segment as the 101.
    Raises IncompleteHandshake if the blank line has not arrived yet, HandshakeError if
    the head is malformed.
    """
    buffer = bytes(data)
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HANDSHAKE_HEAD:
            raise HandshakeError(f"HTTP head longer than {MAX_HANDSHAKE_HEAD} bytes")
        raise IncompleteHandshake(f"HTTP head incomplete after {len(buffer)} bytes")
    text = buffer[:end].decode("iso-8859-1")  # every byte is valid ISO-8859-1
    status_line, *header_lines = text.split("\r\n")
    version, _, rest = status_line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version != "HTTP/1.1" or len(code) != 3 or not code.isdigit():
        raise HandshakeError(f"not an HTTP/1.1 status line: {status_line!r}")
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HandshakeError(f"malformed header line: {line!r}")
        headers.append((name, value.strip()))
    return HandshakeResponse(int(code), reason, tuple(headers), end + 4)


def check_handshake_response(response: HandshakeResponse, key: str) -> None:
    """Raise HandshakeError unless ``response`` accepts a WebSocket for ``key`` (§4.1)."""
    if response.status != 101:
        raise HandshakeError(f"expected 101 Switching Protocols, got {response.status}")
    upgrade = (response.header("Upgrade") or "").lower()
    if upgrade != "websocket":
        raise HandshakeError(f"Upgrade header is {upgrade!r}, not 'websocket'")
    connection = [t.strip().lower() for t in (response.header("Connection") or "").split(",")]
    if "upgrade" not in connection:
        raise HandshakeError("Connection header does not include 'Upgrade'")
    accept = response.header("Sec-WebSocket-Accept")
    if accept != accept_key(key):
        raise HandshakeError(f"Sec-WebSocket-Accept {accept!r} does not match the key")


# ------------------------------------------------------------------------------ frames


def apply_mask(data: bytes | bytearray | memoryview, mask: bytes) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated (RFC 6455 §5.3). Its own inverse."""
    if len(mask) != 4:
        raise FrameError(f"a masking key has 4 bytes, not {len(mask)}")
    length = len(data)
    if length == 0:
        return b""
    # One big-integer XOR is far faster in CPython than a byte loop, and exact.
    repeated = (mask * (length // 4 + 1))[:length]
    value = int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")
    return value.to_bytes(length, "big")


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. ``payload`` is already unmasked; ``mask_key`` is None when the
    frame was not masked; ``header_length`` counts every byte before the payload."""

    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: Opcode
    masked: bool
    mask_key: bytes | None
    payload: bytes
    header_length: int

    @property
    def length(self) -> int:
        """Payload length in bytes."""
        return len(self.payload)

    @property
    def size(self) -> int:
        """The whole frame's size on the wire: header plus payload."""
        return self.header_length + len(self.payload)

    @property
    def opcode_name(self) -> str:
        """``"TEXT"``, ``"CLOSE"``..."""
        return self.opcode.name

    def text(self) -> str:
        """The payload as UTF-8 text; raises FrameError if it is not valid UTF-8."""
        try:
            return self.payload.decode("utf-8")
        except UnicodeDecodeError as error:
            raise FrameError(f"payload is not valid UTF-8: {error.reason}") from None


def _payload_bytes(payload: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    raise TypeError(f"payload must be bytes or str, not {type(payload).__name__}")


def encode_frame(
    opcode: int,
    payload: bytes | bytearray | memoryview | str,
    *,
    fin: bool = True,
    mask: bytes | None = None,
) -> bytes:
    """The bytes of one frame. A str payload is encoded as UTF-8.

    Clients must mask every frame (pass 4 fresh random bytes, e.g. ``os.urandom(4)``);
    servers must not (``mask=None``). The shortest length encoding is always used.
    Raises FrameError for a reserved opcode, a control frame over 125 bytes or not final,
    or a mask that is not 4 bytes.
    """
    try:
        code = Opcode(opcode)
    except ValueError:
        raise FrameError(f"invalid opcode {opcode!r}") from None
    data = _payload_bytes(payload)
    length = len(data)
    if code.is_control:
        if length > MAX_CONTROL_PAYLOAD:
            raise FrameError(f"control frame payload over 125 bytes: {length}")
        if not fin:
            raise FrameError("control frames cannot be fragmented (fin must be True)")
    head1 = (0x80 if fin else 0) | code
    mask_bit = 0x80 if mask is not None else 0
    if length < 126:
        header = struct.pack("!BB", head1, mask_bit | length)
    elif length < 0x10000:
        header = struct.pack("!BBH", head1, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", head1, mask_bit | 127, length)
    if mask is None:
        return header + data
    return header + bytes(mask) + apply_mask(data, bytes(mask))


def decode_frame(
    data: bytes | bytearray | memoryview,
    *,
    max_payload: int | None = None,
    expect_masked: bool | None = None,
) -> tuple[Frame, int]:
    """Decode the frame at the start of ``data``; return it and the bytes it used.

    Bytes after the frame are left alone (decode again from ``data[consumed:]``).
    ``max_payload`` bounds the announced length (checked before the payload arrives);
    ``expect_masked`` (True on a server, False on a client) rejects the wrong mask bit.
    Raises IncompleteFrame when more bytes are needed and FrameError when the frame breaks
    RFC 6455: reserved opcode, control frame over 125 bytes or fragmented, a length not in
    its shortest form, or a 64-bit length with the top bit set.
    """
    view = memoryview(data).cast("B") if not isinstance(data, bytes) else data
    have = len(view)
    if have < 2:
        raise IncompleteFrame(2, have)
    head1, head2 = view[0], view[1]
    opcode_value = head1 & 0x0F
    try:
        opcode = Opcode(opcode_value)
    except ValueError:
        raise FrameError(f"reserved opcode 0x{opcode_value:X}") from None
    fin = bool(head1 & 0x80)
    masked = bool(head2 & 0x80)
    if expect_masked is not None and masked != expect_masked:
        side = "client frames must be masked" if expect_masked else "server frames must not be"
        raise FrameError(f"incorrect masking: {side}")
    length = head2 & 0x7F
    offset = 2
    if length == 126:
        if have < 4:
            raise IncompleteFrame(4, have)
        (length,) = struct.unpack_from("!H", view, 2)
        offset = 4
        if length < 126:
            raise FrameError(f"length {length} sent in 16 bits: must use the 7-bit form")
    elif length == 127:
        if have < 10:
            raise IncompleteFrame(10, have)
        (length,) = struct.unpack_from("!Q", view, 2)
        offset = 10
        if length >> 63:
            raise FrameError("64-bit payload length has its most significant bit set")
        if length < 0x10000:
            raise FrameError(f"length {length} sent in 64 bits: must use a shorter form")
    if opcode.is_control:
        if length > MAX_CONTROL_PAYLOAD:
            raise FrameError(f"{opcode.name} frame payload over 125 bytes: {length}")
        if not fin:
            raise FrameError(f"{opcode.name} frame is fragmented (FIN is 0)")
    if max_payload is not None and length > max_payload:
        raise FrameError(f"payload of {length} bytes exceeds the limit of {max_payload}")
    mask_key: bytes | None = None
    if masked:
        if have < offset + 4:
            raise IncompleteFrame(offset + 4 + length, have)
        mask_key = bytes(view[offset : offset + 4])
        offset += 4
    end = offset + length
    if have < end:
        raise IncompleteFrame(end, have)
    payload = bytes(view[offset:end])
    if mask_key is not None:
        payload = apply_mask(payload, mask_key)
    frame = Frame(
        fin=fin,
        rsv1=bool(head1 & 0x40),
        rsv2=bool(head1 & 0x20),
        rsv3=bool(head1 & 0x10),
        opcode=opcode,
        masked=masked,
        mask_key=mask_key,
        payload=payload,
        header_length=offset,
    )
    return frame, end


# ----------------------------------------------------------------------- close payloads


class Close(NamedTuple):
    """A close frame's status code and reason."""

    code: int
    reason: str


def _check_close_code(code: int) -> None:
    if code in _RESERVED_CODES:
        raise FrameError(f"close code {code} is reserved and never sent in a frame")
    if not (code in CLOSE_CODES or code in _SENDABLE_RANGE_CODES):
        raise FrameError(f"invalid close code {code} (use 1000-1014 or 3000-4999)")


def close_payload(code: int, reason: str = "") -> bytes:
    """The payload of a close frame: a 2-byte code in network byte order, then the reason
    in UTF-8 (at most 123 bytes so the payload fits a control frame). Raises FrameError
    for a code that may not be sent (1005, 1006, 1015, unassigned ones) or a long reason."""
    _check_close_code(code)
    encoded = reason.encode("utf-8")
    if len(encoded) > MAX_CONTROL_PAYLOAD - 2:
        raise FrameError(f"close reason over 123 bytes in UTF-8: {len(encoded)}")
    return struct.pack("!H", code) + encoded


def parse_close(payload: bytes | bytearray | memoryview) -> Close:
    """Code and reason of a close frame's payload. An empty payload means "no status"
    (1005, RFC 6455 §7.1.5). Raises FrameError for a 1-byte payload, a code that may not
    be sent, or a reason that is not UTF-8."""
    data = bytes(payload)
    if not data:
        return Close(1005, "")
    if len(data) == 1:
        raise FrameError("close payload of 1 byte: the code needs 2")
    (code,) = struct.unpack_from("!H", data)
    _check_close_code(code)
    try:
        reason = data[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError("close reason is not valid UTF-8") from None
    return Close(code, reason)
