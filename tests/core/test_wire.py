"""wschat.core.wire checked against the websockets library, the RFC's own examples, and
hypothesis properties."""

from __future__ import annotations

import base64
import os
import random
import struct
from collections.abc import Generator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.exceptions import ProtocolError
from websockets.frames import Close as WsClose
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.http11 import Request
from websockets.protocol import OPEN
from websockets.server import ServerProtocol
from websockets.streams import StreamReader
from websockets.uri import parse_uri
from websockets.utils import accept_key as ws_accept_key
from websockets.utils import apply_mask as ws_apply_mask

from wschat.core import wire
from wschat.core.wire import (
    Close,
    FrameError,
    HandshakeError,
    IncompleteFrame,
    IncompleteHandshake,
    Opcode,
    accept_key,
    apply_mask,
    build_handshake_request,
    check_handshake_response,
    close_payload,
    decode_frame,
    encode_frame,
    opcode_name,
    parse_close,
    parse_handshake_response,
)

# Payload sizes on both sides of every boundary between the 7-, 16- and 64-bit forms.
LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 70000]
DATA_OPCODES = [Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY]
CONTROL_OPCODES = [Opcode.CLOSE, Opcode.PING, Opcode.PONG]


def random_bytes(length: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(length)


def ws_parse(data: bytes, *, mask: bool) -> WsFrame:
    """Parse one frame with websockets' own parser; fail if bytes are left over."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser: Generator[None, None, WsFrame] = WsFrame.parse(
        reader.read_exact, mask=mask, max_size=None
    )
    try:
        next(parser)
    except StopIteration as done:
        frame: WsFrame = done.value
    else:  # pragma: no cover - the parser wanted more than the whole frame
        raise AssertionError("websockets wanted more bytes")
    assert reader.buffer == b"", "websockets left bytes unread"
    return frame


# ------------------------------------------------------------------------------ handshake


def test_accept_key_matches_rfc_example() -> None:
    # RFC 6455 §1.3: the sample nonce and the answer it must produce.
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@given(st.binary(min_size=16, max_size=16))
def test_accept_key_matches_websockets(raw: bytes) -> None:
    key = base64.b64encode(raw).decode()
    assert accept_key(key) == ws_accept_key(key)


def test_handshake_request_is_accepted_by_websockets_server() -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    request_bytes = build_handshake_request("127.0.0.1:8765", "/ws?room=1", key)
    assert request_bytes.startswith(b"GET /ws?room=1 HTTP/1.1\r\n")
    assert request_bytes.endswith(b"\r\n\r\n")

    server = ServerProtocol()
    server.receive_data(request_bytes)
    [request] = server.events_received()
    assert isinstance(request, Request)
    assert request.path == "/ws?room=1"
    assert request.headers["Host"] == "127.0.0.1:8765"
    assert request.headers["Sec-WebSocket-Key"] == key

    response = server.accept(request)
    assert response.status_code == 101, response.body
    server.send_response(response)
    response_bytes = b"".join(server.data_to_send())
    parsed = parse_handshake_response(response_bytes + b"\x81\x00")
    assert parsed.status == 101
    assert parsed.head_length == len(response_bytes)
    assert parsed.header("sec-websocket-accept") == accept_key(key)
    check_handshake_response(parsed, key)  # raises if anything is off


def test_handshake_response_from_websockets_fails_for_another_key() -> None:
    key = base64.b64encode(b"k" * 16).decode()
    other = base64.b64encode(b"o" * 16).decode()
    server = ServerProtocol()
    server.receive_data(build_handshake_request("h", "/", key))
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    parsed = parse_handshake_response(b"".join(server.data_to_send()))
    with pytest.raises(HandshakeError, match="Sec-WebSocket-Accept"):
        check_handshake_response(parsed, other)


def test_handshake_response_refusal_is_an_error() -> None:
    parsed = parse_handshake_response(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
    assert (parsed.status, parsed.reason) == (403, "Forbidden")
    with pytest.raises(HandshakeError, match="101"):
        check_handshake_response(parsed, base64.b64encode(bytes(16)).decode())


def test_handshake_response_incomplete_and_malformed() -> None:
    with pytest.raises(IncompleteHandshake):
        parse_handshake_response(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
    with pytest.raises(HandshakeError, match="status line"):
        parse_handshake_response(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(HandshakeError, match="header line"):
        parse_handshake_response(b"HTTP/1.1 101 OK\r\nno colon here\r\n\r\n")
    with pytest.raises(HandshakeError, match="longer"):
        parse_handshake_response(b"x" * (wire.MAX_HANDSHAKE_HEAD + 1))


@pytest.mark.parametrize(
    ("host", "path", "key"),
    [
        ("h\r\nX-Evil: 1", "/", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("h", "/a\r\nX-Evil: 1", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("h", "no-slash", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("h", "/a b", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("", "/", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("h", "/", "not base64!"),
        ("h", "/", base64.b64encode(b"short").decode()),
    ],
)
def test_handshake_request_rejects_bad_input(host: str, path: str, key: str) -> None:
    with pytest.raises(HandshakeError):
        build_handshake_request(host, path, key)


# ---------------------------------------------------------------------------------- frames


def test_rfc_examples() -> None:
    # RFC 6455 §5.7, byte for byte.
    assert encode_frame(Opcode.TEXT, b"Hello") == bytes.fromhex("810548656c6c6f")
    masked = bytes.fromhex("818537fa213d7f9f4d5158")
    assert encode_frame(Opcode.TEXT, "Hello", mask=bytes.fromhex("37fa213d")) == masked
    frame, used = decode_frame(masked)
    assert (frame.payload, frame.masked, frame.mask_key, used) == (
        b"Hello", True, bytes.fromhex("37fa213d"), 11)
    first, _ = decode_frame(bytes.fromhex("010348656c"))
    assert (first.fin, first.opcode, first.payload) == (False, Opcode.TEXT, b"Hel")
    ping, _ = decode_frame(bytes.fromhex("890548656c6c6f"))
    assert (ping.opcode, ping.payload) == (Opcode.PING, b"Hello")
    # 256 bytes unmasked binary: 16-bit length form; 64 KiB: 64-bit length form.
    assert encode_frame(Opcode.BINARY, bytes(256))[:4] == bytes.fromhex("827e0100")
    assert encode_frame(Opcode.BINARY, bytes(65536))[:10] == bytes.fromhex(
        "827f0000000000010000")


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("masked", [False, True])
def test_encode_is_parsed_by_websockets(length: int, masked: bool) -> None:
    payload = random_bytes(length, seed=length)
    mask = os.urandom(4) if masked else None
    data = encode_frame(Opcode.BINARY, payload, mask=mask)
    frame = ws_parse(data, mask=masked)
    assert frame.opcode is WsOpcode.BINARY
    assert bytes(frame.data) == payload
    assert frame.fin


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("masked", [False, True])
def test_decode_reads_websockets_frames(length: int, masked: bool) -> None:
    payload = random_bytes(length, seed=length + 1)
    data = WsFrame(WsOpcode.BINARY, payload).serialize(mask=masked)
    frame, used = decode_frame(data, expect_masked=masked)
    assert used == len(data) == frame.size
    assert frame.payload == payload
    assert frame.length == length
    assert (frame.opcode, frame.fin, frame.masked) == (Opcode.BINARY, True, masked)
    assert frame.header_length == {0: 2, 1: 4, 2: 10}[(length >= 126) + (length >= 65536)] + (
        4 if masked else 0)


@pytest.mark.parametrize("length", LENGTHS)
def test_server_protocol_receives_our_client_frames(length: int) -> None:
    text = "é" * (length // 2) + "a" * (length % 2)  # UTF-8: exactly `length` bytes
    server = ServerProtocol(state=OPEN, max_size=None)
    server.receive_data(encode_frame(Opcode.TEXT, text, mask=os.urandom(4)))
    [frame] = server.events_received()
    assert isinstance(frame, WsFrame)
    assert frame.opcode is WsOpcode.TEXT
    assert bytes(frame.data).decode() == text
    assert server.parser_exc is None and server.state is OPEN


def test_server_protocol_rejects_unmasked_client_frame() -> None:
    server = ServerProtocol(state=OPEN)
    server.receive_data(encode_frame(Opcode.TEXT, "oi"))  # no mask: forbidden for clients
    assert isinstance(server.parser_exc, ProtocolError)
    close_frame, _ = decode_frame(b"".join(server.data_to_send()), expect_masked=False)
    assert close_frame.opcode is Opcode.CLOSE
    assert parse_close(close_frame.payload).code == 1002


@pytest.mark.parametrize("length", LENGTHS)
def test_our_decoder_reads_server_and_client_protocols(length: int) -> None:
    payload = random_bytes(length, seed=7)
    server = ServerProtocol(state=OPEN)
    server.send_binary(payload)
    sent = b"".join(server.data_to_send())
    from_server, used = decode_frame(sent, expect_masked=False)
    assert (from_server.payload, from_server.masked, used) == (payload, False, len(sent))

    client = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=OPEN)
    client.send_binary(payload)
    from_client, _ = decode_frame(b"".join(client.data_to_send()), expect_masked=True)
    assert from_client.payload == payload
    assert from_client.mask_key is not None and len(from_client.mask_key) == 4


def test_client_protocol_receives_our_server_frames_and_answers_ping() -> None:
    client = ClientProtocol(parse_uri("ws://127.0.0.1/"), state=OPEN)
    client.receive_data(encode_frame(Opcode.TEXT, "Olá mundo! LTIS 2025"))
    client.receive_data(encode_frame(Opcode.PING, b"are you there?"))
    frames = client.events_received()
    assert [(f.opcode, bytes(f.data)) for f in frames if isinstance(f, WsFrame)] == [
        (WsOpcode.TEXT, "Olá mundo! LTIS 2025".encode()),
        (WsOpcode.PING, b"are you there?"),
    ]
    pong, _ = decode_frame(b"".join(client.data_to_send()), expect_masked=True)
    assert (pong.opcode, pong.payload) == (Opcode.PONG, b"are you there?")


def test_fragments_are_reassembled_by_websockets() -> None:
    mask = os.urandom(4)
    server = ServerProtocol(state=OPEN)
    server.receive_data(
        encode_frame(Opcode.TEXT, "Olá ", fin=False, mask=mask)
        + encode_frame(Opcode.PING, "x", mask=mask)  # control frames may interleave
        + encode_frame(Opcode.CONTINUATION, "mundo", mask=mask)
    )
    frames = [f for f in server.events_received() if isinstance(f, WsFrame)]
    assert [(f.opcode, f.fin) for f in frames] == [
        (WsOpcode.TEXT, False), (WsOpcode.PING, True), (WsOpcode.CONT, True)]
    assert b"".join(bytes(f.data) for f in frames if f.opcode is not WsOpcode.PING) == (
        "Olá mundo".encode())


# ----------------------------------------------------------------------------- properties

payloads = st.one_of(
    st.binary(max_size=300),
    st.builds(random_bytes, st.integers(65530, 66000), st.integers(0, 1000)),
)
masks = st.none() | st.binary(min_size=4, max_size=4)


@st.composite
def frames(draw: st.DrawFn) -> tuple[Opcode, bytes, bool, bytes | None]:
    opcode = draw(st.sampled_from(list(Opcode)))
    if opcode.is_control:
        return opcode, draw(st.binary(max_size=125)), True, draw(masks)
    return opcode, draw(payloads), draw(st.booleans()), draw(masks)


@settings(max_examples=150, deadline=None)
@given(frames(), st.binary(max_size=20))
def test_round_trip(case: tuple[Opcode, bytes, bool, bytes | None], trailing: bytes) -> None:
    opcode, payload, fin, mask = case
    data = encode_frame(opcode, payload, fin=fin, mask=mask)
    frame, used = decode_frame(data + trailing)
    assert used == len(data)
    assert (frame.opcode, frame.payload, frame.fin, frame.masked, frame.mask_key) == (
        opcode, payload, fin, mask is not None, mask)
    assert not (frame.rsv1 or frame.rsv2 or frame.rsv3)
    # and websockets reads the very same frame
    theirs = ws_parse(data, mask=mask is not None)
    assert (int(theirs.opcode), bytes(theirs.data), theirs.fin) == (opcode, payload, fin)


@settings(max_examples=100, deadline=None)
@given(frames(), st.data())
def test_truncated_frame_is_incomplete(
    case: tuple[Opcode, bytes, bool, bytes | None], data: st.DataObject
) -> None:
    opcode, payload, fin, mask = case
    encoded = encode_frame(opcode, payload, fin=fin, mask=mask)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(IncompleteFrame) as info:
        decode_frame(encoded[:cut])
    assert cut < info.value.needed <= len(encoded)
    assert info.value.have == cut


@given(st.binary(max_size=1000), st.binary(min_size=4, max_size=4))
def test_apply_mask_matches_websockets_and_is_its_own_inverse(data: bytes, mask: bytes) -> None:
    masked = apply_mask(data, mask)
    assert masked == ws_apply_mask(data, mask)
    assert apply_mask(masked, mask) == data


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = encode_frame(Opcode.TEXT, "oi", mask=b"abcd") + b"rest"
    for buffer in (bytearray(data), memoryview(data), memoryview(data)[0:]):
        frame, used = decode_frame(buffer)
        assert (frame.text(), used) == ("oi", 8)


# --------------------------------------------------------------------------- bad frames


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x83\x00", "reserved opcode 0x3"),
        (b"\x8b\x00", "reserved opcode 0xB"),
        (b"\x89\x7e\x00\x7e" + bytes(126), "over 125"),
        (b"\x09\x00", "fragmented"),
        (b"\x81\x7e\x00\x05hello", "7-bit form"),
        (b"\x81\x7f" + struct.pack("!Q", 5) + b"hello", "shorter form"),
        (b"\x82\x7f" + struct.pack("!Q", 1 << 63), "most significant bit"),
    ],
)
def test_decode_rejects_broken_frames(data: bytes, message: str) -> None:
    with pytest.raises(FrameError, match=message) as info:
        decode_frame(data)
    assert not isinstance(info.value, IncompleteFrame)


def test_websockets_agrees_that_broken_frames_are_broken() -> None:
    for data in (b"\x83\x00", b"\x89\x7e\x00\x7e" + bytes(126), b"\x09\x00"):
        with pytest.raises(ProtocolError):
            ws_parse(data, mask=False)


def test_decode_checks_masking_and_size_limits() -> None:
    with pytest.raises(FrameError, match="must be masked"):
        decode_frame(encode_frame(Opcode.TEXT, "x"), expect_masked=True)
    with pytest.raises(FrameError, match="must not be"):
        decode_frame(encode_frame(Opcode.TEXT, "x", mask=b"1234"), expect_masked=False)
    # The limit applies from the header alone, before the payload arrives.
    header = encode_frame(Opcode.BINARY, bytes(100_000))[:10]
    with pytest.raises(FrameError, match="exceeds the limit"):
        decode_frame(header, max_payload=65536)


def test_incomplete_frame_reports_what_is_needed() -> None:
    with pytest.raises(IncompleteFrame) as info:
        decode_frame(b"")
    assert info.value.needed == 2
    with pytest.raises(IncompleteFrame) as info:
        decode_frame(encode_frame(Opcode.BINARY, bytes(300), mask=b"abcd")[:7])
    assert info.value.needed == 2 + 2 + 4 + 300


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"opcode": 3, "payload": b""}, "invalid opcode"),
        ({"opcode": 0x10, "payload": b""}, "invalid opcode"),
        ({"opcode": Opcode.PING, "payload": bytes(126)}, "over 125"),
        ({"opcode": Opcode.CLOSE, "payload": b"", "fin": False}, "fragmented"),
        ({"opcode": Opcode.TEXT, "payload": b"x", "mask": b"123"}, "4 bytes"),
    ],
)
def test_encode_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(FrameError, match=message):
        encode_frame(**kwargs)  # type: ignore[arg-type]


def test_encode_rejects_a_payload_that_is_not_bytes_or_text() -> None:
    with pytest.raises(TypeError, match="payload"):
        encode_frame(Opcode.TEXT, 42)  # type: ignore[arg-type]


def test_frame_text_and_names() -> None:
    frame, _ = decode_frame(encode_frame(Opcode.BINARY, b"\xff"))
    with pytest.raises(FrameError, match="UTF-8"):
        frame.text()
    assert frame.opcode_name == "BINARY"
    assert [opcode_name(code) for code in (0, 1, 2, 8, 9, 10)] == [
        "CONTINUATION", "TEXT", "BINARY", "CLOSE", "PING", "PONG"]
    assert opcode_name(3) == "RESERVED(0x3)"
    with pytest.raises(FrameError):
        opcode_name(16)


# ----------------------------------------------------------------------------- close


@pytest.mark.parametrize(
    ("code", "reason"), [(1000, ""), (1001, "bye"), (1009, "grande demais"), (4001, "login"),
                         (3000, "x" * 121 + "é")])
def test_close_payload_matches_websockets(code: int, reason: str) -> None:
    payload = close_payload(code, reason)
    assert payload == WsClose(code, reason).serialize()
    assert parse_close(payload) == Close(code, reason)
    parsed = WsClose.parse(payload)
    assert (parsed.code, parsed.reason) == (code, reason)


BOUNDARY_CODES = [0, 999, 1000, 1003, 1004, 1005, 1006, 1007, 1011, 1014, 1015, 1016, 2999,
                  3000, 4000, 4999, 5000, 0xFFFF]


def accepted_by_both(code: int) -> tuple[bool, bool]:
    payload = struct.pack("!H", code)
    try:
        WsClose.parse(payload)
        theirs = True
    except ProtocolError:
        theirs = False
    try:
        parse_close(payload)
        ours = True
    except FrameError:
        ours = False
    return ours, theirs


@pytest.mark.parametrize("code", BOUNDARY_CODES)
def test_boundary_close_codes_agree_with_websockets(code: int) -> None:
    ours, theirs = accepted_by_both(code)
    assert ours == theirs


@given(st.integers(0, 0xFFFF))
def test_close_codes_accepted_exactly_where_websockets_accepts(code: int) -> None:
    ours, theirs = accepted_by_both(code)
    assert ours == theirs


def test_close_edge_cases() -> None:
    assert parse_close(b"") == Close(1005, "")
    with pytest.raises(FrameError, match="1 byte"):
        parse_close(b"\x03")
    with pytest.raises(FrameError, match="UTF-8"):
        parse_close(b"\x03\xe8\xff")
    for reserved in (1005, 1006, 1015):
        with pytest.raises(FrameError, match="reserved"):
            close_payload(reserved)
    with pytest.raises(FrameError, match="invalid close code"):
        close_payload(999)
    with pytest.raises(FrameError, match="123 bytes"):
        close_payload(1000, "é" * 62)  # 124 bytes in UTF-8
    frame, _ = decode_frame(encode_frame(Opcode.CLOSE, close_payload(1000, "tchau")))
    assert parse_close(frame.payload) == (1000, "tchau")
