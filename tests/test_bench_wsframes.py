"""The load generator's handshake and frames (benchmarks/wsframes.py) agree with websockets'.

The load generator replaces websockets' client for speed; these checks make sure the frames
it writes are read back unchanged by websockets, and that its handshake is what a server
expects and refuses what it must. Its reading is checked in tests/test_bench_loadgen.py.
"""

from __future__ import annotations

from collections.abc import Generator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader
from websockets.utils import accept_key as ws_accept_key

from benchmarks import wsframes

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
        frame: Frame = done.value
        return frame
    raise AssertionError("websockets wanted more bytes than one whole frame")


@settings(max_examples=60, deadline=None)
@given(payload=payloads, opcode=st.sampled_from([Opcode.TEXT, Opcode.BINARY]), mask=st.binary(min_size=4, max_size=4))
def test_websockets_reads_what_we_write(payload: bytes, opcode: Opcode, mask: bytes) -> None:
    frame = parse_with_websockets(wsframes.encode_frame(opcode.value, payload, mask=mask), mask=True)
    assert frame.opcode is opcode
    assert frame.fin
    assert frame.data == payload


def test_frames_are_masked_with_a_fresh_key_by_default() -> None:
    one, other = wsframes.encode_frame(Opcode.TEXT.value, b"oi"), wsframes.encode_frame(Opcode.TEXT.value, b"oi")
    assert one[1] & 0x80 and one[2:6] != other[2:6]  # MASK bit set, keys differ
    assert parse_with_websockets(one, mask=True).data == b"oi"


def test_handshake_request_and_response() -> None:
    key = wsframes.new_key()
    request = wsframes.handshake_request("127.0.0.1", 8765, "/ws", key, deflate=True).decode()
    assert request.startswith("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:8765\r\n")
    assert f"Sec-WebSocket-Key: {key}\r\n" in request
    assert "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" in request
    assert request.endswith("\r\n\r\n")
    assert "Sec-WebSocket-Extensions" not in wsframes.handshake_request("h", 1, "/", key).decode()
    head = (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {ws_accept_key(key)}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
    ).encode()
    headers = wsframes.parse_handshake_response(head, key)
    assert headers["sec-websocket-extensions"] == "permessage-deflate"
    bad = head.replace(b"101 Switching Protocols", b"403 Forbidden")
    with pytest.raises(wsframes.FrameError, match="403"):
        wsframes.parse_handshake_response(bad, key)
    with pytest.raises(wsframes.FrameError, match="Accept"):
        wsframes.parse_handshake_response(head, wsframes.new_key())
