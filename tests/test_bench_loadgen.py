"""The load generator's reading (benchmarks/loadgen.py) agrees with websockets' codec.

A generator client either parses every stamp (sampled) or only counts broadcasts by walking
frame headers (counted). Both must see the same thing in any stream a server can write, cut
into reads anywhere: the same broadcasts counted (older ones not), the same "every client has
broadcast k" moments, the same private messages, every ping answered with its payload, and
the sampled client the exact latency of each stamp. The streams are written by websockets'
own ``Frame.serialize`` and the pongs read back with its parser.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from collections.abc import Generator
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from benchmarks import loadgen
from benchmarks.loadgen import Client, ClientSpec, Sink, Worker, stamp
from wschat.core.wire import accept_key

NOW = 9_000_000_000_000_000_000  # the fake clock's reading at every read
COUNT_FROM, RECORD_FROM = 5, 7
LIVE = 6  # broadcasts from COUNT_FROM on


class Recorder(Sink):
    """One client's sink: each on_complete and private, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.arm(COUNT_FROM, RECORD_FROM)
        self.live = 1
        self.completed: list[int] = []
        self.private_latencies: list[tuple[int, int]] = []

    def on_complete(self, count: int) -> None:
        self.completed.append(count)

    def on_private(self, number: int, sent_ns: int, now: int) -> None:
        self.private_latencies.append((number, now - sent_ns))


class Transport:
    """What a client writes (its pongs and close frames), and whether it closed."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


LOOP = asyncio.new_event_loop()  # never run: clients only make their futures on it


def _client(sampled: bool, dialect: str = "wschat") -> tuple[Client, Recorder, Transport]:
    sink = Recorder()
    client = Client(ClientSpec(dialect, "127.0.0.1", 1), sink, None, "u", LOOP.create_future(),
                    sampled=sampled, index=42)
    transport = Transport()
    client.transport = transport  # type: ignore[assignment]
    client.upgraded = True
    client.is_ready = True
    return client, sink, transport


def _feed(client: Client, stream: bytes, cuts: list[int]) -> None:
    """Hand ``stream`` to the client in reads ending at ``cuts``, as the event loop would."""
    pos = 0
    for end in [*sorted(set(cuts)), len(stream)]:
        chunk = stream[pos:end]
        if chunk:
            buffer = client.get_buffer(-1)
            buffer[: len(chunk)] = chunk
            client.buffer_updated(len(chunk))
        pos = max(pos, end)


def _message(text: str, pad: int = 0) -> bytes:
    """A wschat message frame's payload (``pad`` more characters of JSON around the text)."""
    return json.dumps({"type": "message", "id": "1", "from": "u00", "to": None,
                       "text": text, "ts": 1.5, "pad": "y" * pad}).encode()


SENT = 1_234_567_890_123


def _stream(*, pad: int = 0, big: bool = True) -> tuple[bytes, list[bytes], list[int]]:
    """A server's stream: history (broadcasts below COUNT_FROM), then LIVE broadcasts from
    COUNT_FROM (bare stamps with 7-bit lengths, and JSON messages with 16-bit ones),
    interleaved with pings, presence, privates, a binary frame and (``big``) one frame too
    big for a 16-bit length. Returns it, the ping payloads, and the private numbers."""
    frames: list[Frame] = []
    pings: list[bytes] = []
    privates: list[int] = []
    for bid in range(COUNT_FROM - 3, COUNT_FROM):
        frames.append(Frame(Opcode.TEXT, _message(stamp("B", bid, SENT))))
    frames.append(Frame(Opcode.TEXT, b'{"type":"presence","user":"ana","online":true}'))
    for k, bid in enumerate(range(COUNT_FROM, COUNT_FROM + LIVE)):
        text = stamp("B", bid, SENT + bid)
        payload = text.encode() if k % 2 else _message(text, pad=pad + 40 * k)
        frames.append(Frame(Opcode.TEXT, payload))
        if k % 2 == 0:
            pings.append(bytes([k]) * k)
            frames.append(Frame(Opcode.PING, pings[-1]))
        if k % 3 == 1:
            privates.append(10 + k)
            frames.append(Frame(Opcode.TEXT, _message(stamp("P", 10 + k, SENT - k))))
    frames.insert(5, Frame(Opcode.BINARY, b"\x81\x7e~B000009"))  # looks like a frame; is not
    if big:
        frames.insert(7, Frame(Opcode.TEXT, _message("z" * 70_000)))
    return b"".join(f.serialize(mask=False) for f in frames), pings, privates


def _pongs(written: bytes) -> list[bytes]:
    """The PONG payloads a client wrote (masked frames), read by websockets' parser."""
    reader = StreamReader()
    reader.feed_data(bytes(written))
    reader.feed_eof()
    pongs = []
    while reader.buffer:
        parser: Generator[None, None, Frame] = Frame.parse(reader.read_exact, mask=True)
        try:
            next(parser)
        except StopIteration as done:
            frame = done.value
        else:
            raise AssertionError("a partial frame was written")
        assert frame.opcode is Opcode.PONG
        pongs.append(frame.data)
    return pongs


def _check(cuts: list[int], *, pad: int = 0, big: bool = True) -> None:
    stream, pings, privates = _stream(pad=pad, big=big)
    for sampled in (True, False):
        client, sink, transport = _client(sampled)
        _feed(client, stream, cuts)
        assert client.carry == b""  # the stream ends on a frame boundary
        assert client.count == LIVE
        assert sink.completed == list(range(1, LIVE + 1))
        assert sink.reached[1 : LIVE + 2] == [1] * LIVE + [0]
        assert _pongs(bytes(transport.written)) == pings
        assert (client.privates, client.last_private, client.private_disorder) == (
            len(privates), privates[-1], 0)
        assert not transport.closed
        if sampled:
            assert (client.last, client.disorder) == (COUNT_FROM + LIVE - 1, 0)
            # latency = now - send time, for the broadcasts from RECORD_FROM only
            assert list(sink.latencies) == [NOW - SENT - b for b in range(RECORD_FROM, COUNT_FROM + LIVE)]
            assert list(sink.latency_clients) == [42] * len(sink.latencies)
            assert [n for n, _ in sink.private_latencies] == privates
            assert all(lat == NOW - SENT + n - 10 for n, lat in sink.private_latencies)
        else:
            assert (client.last, client.disorder, list(sink.latencies)) == (0, 0, [])
            assert sink.private_latencies == []


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loadgen, "time", SimpleNamespace(monotonic_ns=lambda: NOW))


def test_one_read_every_single_cut_and_one_byte_reads() -> None:
    stream, _, _ = _stream(big=False)
    _check([], big=False)
    for cut in range(1, len(stream)):
        _check([cut], big=False)
    _check(list(range(1, len(stream))), big=False)


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=72_000), max_size=30), pad=st.integers(0, 120))
def test_any_cuts(cuts: list[int], pad: int) -> None:
    _check(cuts, pad=pad)


def test_a_gap_a_duplicate_and_a_swap_are_disorder_for_a_sampled_client() -> None:
    bids = [5, 6, 8, 8, 10, 9]  # 7 missing, 8 twice, 9 after 10
    stream = b"".join(Frame(Opcode.TEXT, _message(stamp("B", b, SENT))).serialize(mask=False) for b in bids)
    client, _, _ = _client(True)
    _feed(client, stream, [])
    assert (client.count, client.last, client.disorder) == (6, 9, 4)
    counted, _, _ = _client(False)
    _feed(counted, stream, [])
    assert counted.count == 6  # counting alone cannot tell: that is what the sample is for


def test_close_frame_is_answered_and_masked_frames_refused() -> None:
    client, _, transport = _client(False)
    _feed(client, Frame(Opcode.CLOSE, (1001).to_bytes(2, "big") + b"bye").serialize(mask=False), [])
    assert transport.closed
    assert transport.written[0] == 0x88  # our close frame, echoing the code
    client, _, transport = _client(True)
    _feed(client, Frame(Opcode.TEXT, b"hi").serialize(mask=True), [])
    assert transport.closed and client.count == 0


def test_compressed_frames_are_inflated_only_when_deflate_was_negotiated() -> None:
    # permessage-deflate with context takeover, as websockets' server writes it (the idle
    # memory measurement with deflate offered: a login's welcome, then anything).
    server_side = PerMessageDeflate(False, False, 15, 15)
    payloads = [b'{"type":"welcome","user":"u","token":"t"}', b"x" * 3000,
                _message(stamp("P", 3, SENT))]
    stream = b"".join(
        Frame(Opcode.TEXT, payload).serialize(mask=False, extensions=[server_side])
        for payload in payloads
    )
    assert b"welcome" not in stream and b"x" * 100 not in stream  # really compressed
    client, _, transport = _client(True)
    client.is_ready = False  # waiting for its welcome
    client.inflater = zlib.decompressobj(-15)
    _feed(client, stream, [3, 20, 60])
    assert client.ready.done() and client.welcome == {"type": "welcome", "user": "u", "token": "t"}
    assert client.privates == 1 and not transport.closed
    client, _, transport = _client(True)  # no extension negotiated: RSV1 is an error
    client.is_ready = False
    _feed(client, stream, [])
    assert transport.closed and client.welcome is None


def test_arming_resets_counts_and_samples_every_kth_client() -> None:
    class Pipe:
        def send(self, message: object) -> None: ...

    worker = Worker(Pipe(), ClientSpec("wschat", "127.0.0.1", 1), "127.0.0.2")  # type: ignore[arg-type]
    for i in range(100):
        client, _, _ = _client(True)
        client.index, client.sink, client.count, client.last, client.disorder = i, worker, 7, 9, 1
        worker.clients.append(client)
    worker.rearm(20, 25, 10)
    assert [c.index for c in worker.clients if c.sampled] == list(range(0, 100, 10))
    assert {(c.count, c.last, c.disorder) for c in worker.clients} == {(0, 0, 0)}
    assert (worker.count_from, worker.record_from, worker.floor) == (20, 25, b"000020")
    worker.rearm(1, 1, 1)
    assert all(c.sampled for c in worker.clients)


def test_handshake_and_frames_in_one_read() -> None:
    """The first read may hold the end of the handshake response and frames after it."""
    sink = Recorder()
    client = Client(ClientSpec("relay", "127.0.0.1", 1), sink, None, "u", LOOP.create_future())
    client.transport = Transport()  # type: ignore[assignment]
    head = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept_key(client.key)}\r\n\r\n").encode()
    frames = b"".join(Frame(Opcode.TEXT, _message(stamp("B", b, SENT))).serialize(mask=False)
                      for b in range(COUNT_FROM, COUNT_FROM + 3))
    _feed(client, head + frames, [len(head) - 3, len(head) + 5])
    assert client.is_ready and client.count == 3 and sink.completed == [1, 2, 3]
