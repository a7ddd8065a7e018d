"""The benchmark's lean WebSocket codec (benchmarks/wsframes.py) agrees with websockets' own.

The load generator replaces websockets' client with this codec for speed; these checks make
sure it writes frames websockets reads back unchanged, reads what websockets writes, and
computes the handshake's accept key the same way.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader
from websockets.utils import accept_key as ws_accept_key
from websockets.utils import apply_mask

from benchmarks import wsframes

OPCODES = [Opcode.TEXT, Opcode.BINARY, Opcode.PING, Opcode.PONG, Opcode.CLOSE]

# Lengths around the 7-bit, 16-bit and 64-bit length encodings.
payloads = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([125, 126, 127, 65535, 65536, 70000]).map(lambda n: bytes(range(256)) * (n // 256) + bytes(n % 256)),
)


def parse_with_websockets(data: bytes, *, mask: bool) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser: Generator[None, None, Frame] = Frame.parse(reader.read_exact, mask=mask)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("websockets wanted more bytes than one whole frame")


@settings(max_examples=60, deadline=None)
@given(payload=payloads, opcode=st.sampled_from([Opcode.TEXT, Opcode.BINARY]), mask=st.binary(min_size=4, max_size=4))
def test_websockets_reads_what_we_write(payload: bytes, opcode: Opcode, mask: bytes) -> None:
    frame = parse_with_websockets(wsframes.encode_frame(opcode.value, payload, mask=mask), mask=True)
    assert frame.opcode is opcode
    assert frame.fin
    assert frame.data == payload


@settings(max_examples=60, deadline=None)
@given(payload=payloads, mask=st.binary(min_size=4, max_size=4))
def test_masking_matches_websockets(payload: bytes, mask: bytes) -> None:
    assert wsframes.mask_payload(payload, mask) == apply_mask(payload, mask)


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(st.tuples(st.sampled_from(OPCODES), st.binary(max_size=200), st.booleans()), min_size=1, max_size=8),
    big=st.booleans(),
    cuts=st.lists(st.integers(min_value=1, max_value=97), max_size=20),
)
def test_we_read_what_websockets_writes_in_any_chunks(
    frames: list[tuple[Opcode, bytes, bool]], big: bool, cuts: list[int]
) -> None:
    sent = [
        # Control frames are never fragmented and carry at most 125 bytes.
        (op, data[:125] if op in (Opcode.PING, Opcode.PONG, Opcode.CLOSE) else data,
         True if op in (Opcode.PING, Opcode.PONG, Opcode.CLOSE) else fin)
        for op, data, fin in frames
    ]
    if big:
        sent.append((Opcode.BINARY, b"x" * 70_000, True))
    stream = b"".join(Frame(op, data, fin).serialize(mask=False) for op, data, fin in sent)
    reader = wsframes.FrameReader()
    got: list[tuple[bool, int, bytes]] = []
    pos = 0
    for cut in cuts:
        got.extend(reader.feed(stream[pos : pos + cut]))
        pos += cut
    got.extend(reader.feed(stream[pos:]))
    assert got == [(fin, op.value, data) for op, data, fin in sent]


def test_reader_inflates_what_websockets_compresses() -> None:
    # permessage-deflate with context takeover, as websockets' server writes it.
    server_side = PerMessageDeflate(False, False, 15, 15)
    reader = wsframes.FrameReader(inflate=True)
    texts = [b'{"type":"welcome","user":"u1"}', b"x" * 3000, b'{"type":"welcome","user":"u2"}']
    stream = b"".join(
        Frame(Opcode.TEXT, text).serialize(mask=False, extensions=[server_side]) for text in texts
    )
    assert stream.count(b"x" * 100) == 0  # really compressed
    assert [payload for _, _, payload in reader.feed(stream)] == texts


def test_reader_refuses_masked_and_unexpected_compressed_frames() -> None:
    masked = Frame(Opcode.TEXT, b"hi").serialize(mask=True)
    with pytest.raises(wsframes.FrameError, match="masked"):
        list(wsframes.FrameReader().feed(masked))
    compressed = Frame(Opcode.TEXT, b"hi").serialize(
        mask=False, extensions=[PerMessageDeflate(False, False, 15, 15)]
    )
    with pytest.raises(wsframes.FrameError, match="reserved bits"):
        list(wsframes.FrameReader().feed(compressed))


def test_handshake_accept_key_and_response() -> None:
    key = wsframes.new_key()
    assert wsframes.accept_key(key) == ws_accept_key(key)
    head = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {ws_accept_key(key)}\r\nSec-WebSocket-Extensions: permessage-deflate"
    ).encode()
    headers = wsframes.parse_handshake_response(head, key)
    assert headers["sec-websocket-extensions"] == "permessage-deflate"
    bad = head.replace(b"101 Switching Protocols", b"403 Forbidden")
    with pytest.raises(wsframes.FrameError, match="403"):
        wsframes.parse_handshake_response(bad, key)
    request = wsframes.handshake_request("127.0.0.1", 8765, "/ws", key, deflate=True).decode()
    assert request.startswith("GET /ws HTTP/1.1\r\n")
    assert f"Sec-WebSocket-Key: {key}\r\n" in request
    assert request.endswith("\r\n\r\n")
