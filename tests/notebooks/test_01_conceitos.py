"""Notebook 01_conceitos: it runs top to bottom offline, and what its cells leave behind holds.

Each ``check_*`` function runs in the notebook's kernel after the notebook (tests/nbkit.py):
its parameters name the notebook's variables. The notebook keeps one visible ``assert`` per
demonstration, the one that states its lesson; every other fact its text relies on is checked
here, in the order the notebook shows them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbkit import Run

NOTEBOOK = "01_conceitos"
PATH = Path(__file__).resolve().parents[2] / "notebooks" / f"{NOTEBOOK}.ipynb"


def test_runs_without_errors(notebook_run: Run) -> None:
    assert notebook_run.errors() == []


def test_check(notebook_run: Run, check: Any) -> None:
    notebook_run.assert_held(check)


def test_the_push_latency_is_quoted_from_the_shared_figures() -> None:
    """The prose says "menos de N ms" with N from wschat.teaching.figures, the one place the
    README and the notebooks read it from; check_push_beats_every_poller measures it."""
    from wschat.teaching.figures import PUSH_LATENCY_BOUND_MS
    from wschat.teaching.ptbr import number

    notebook = nbformat.read(PATH, as_version=4)
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    assert f"menos de {number(PUSH_LATENCY_BOUND_MS)} ms" in prose


def test_every_exercise_has_a_hidden_solution_that_calls_its_checker() -> None:
    notebook = nbformat.read(PATH, as_version=4)
    hidden = [c for c in notebook.cells if "solucao" in c.metadata.get("tags", [])]
    assert len(hidden) == 4
    for cell in hidden:
        assert cell.metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
        assert "verificar_" in cell.source


# --------------------------------------------------------------------- 0. the result first


def check_the_replica_ran_on_loopback_and_was_stopped(replica: Any, host: str) -> None:
    assert host == "127.0.0.1"  # only loopback: nothing leaves the machine
    assert replica.url.startswith("ws://127.0.0.1:")
    assert not replica.running  # stopped once the demonstrations were over


# --------------------------------------------------------------------------- 2.1 handshake


def check_the_request_has_the_five_required_headers(request: bytes) -> None:
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET / HTTP/1.1"
    for name in ("Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"):
        assert any(line.startswith(name + ":") for line in lines), name
    assert request.endswith(b"\r\n\r\n")  # an empty line ends the head


def check_the_accept_by_hand_is_the_projects_and_the_rfc_example_holds(
    by_hand: str, key: str, response: Any
) -> None:
    from wschat.core import wire

    assert by_hand == wire.accept_key(key) == response.header("Sec-WebSocket-Accept")
    # RFC 6455 §1.3's own example
    assert wire.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    wire.check_handshake_response(response, key)  # status, Upgrade, Connection and Accept


# ----------------------------------------------------------------------------- 2.2 a frame


def check_the_greeting_frame_is_21_bytes_after_a_2_byte_header(frame: Any, raw: bytes) -> None:
    from wschat import GREETING

    assert raw[:2] == b"\x81\x15"  # the bytes frame-header.png shows
    assert frame.header_length == 2 and frame.length == raw[1] & 0x7F
    assert len(GREETING) == 20 and frame.length == len(GREETING.encode()) == 21  # "á": 2 bytes
    assert frame.text() == GREETING


def check_the_header_is_2_to_14_bytes_per_frame(header_lengths: list[int], largest: int) -> None:
    from wschat.core import wire

    assert header_lengths == [2, 2, 2 + 2, 2 + 2, 2 + 8]  # 2 fixed + 0, 2 or 8 of length
    assert largest == 2 + 8 + 4  # + 4 of masking key: the longest header there is
    # A message in several frames pays a header per frame: FIN=0, then continuation frames.
    first = wire.encode_frame(wire.Opcode.TEXT, "Olá ", fin=False)
    last = wire.encode_frame(wire.Opcode.CONTINUATION, "mundo")
    assert wire.decode_frame(first)[0].header_length == wire.decode_frame(last)[0].header_length == 2


def check_a_64_bit_length_must_have_its_top_bit_clear() -> None:
    import struct

    from wschat.core import wire

    frame = struct.pack("!BBQ", 0x82, 127, 1 << 63)  # top bit of the 64-bit length set
    try:
        wire.decode_frame(frame + bytes(16))
    except wire.FrameError as error:
        assert "most significant bit" in str(error)
    else:
        raise AssertionError("a 64-bit length with its top bit set was accepted")


# ------------------------------------------------------------------------------ 2.3 masking


def check_the_mask_is_a_xor_with_a_fresh_key_per_frame(
    masked: bytes, xor_by_hand: bytes, mask: bytes
) -> None:
    import os

    from wschat.core import wire

    assert masked[6:] == xor_by_hand and b"Hello" not in masked
    assert wire.apply_mask(masked[6:], mask) == b"Hello"  # XOR twice gives the original back
    # A fresh key per frame: the same text leaves differently each time.
    one = wire.encode_frame(wire.Opcode.TEXT, "Hello", mask=os.urandom(4))
    other = wire.encode_frame(wire.Opcode.TEXT, "Hello", mask=os.urandom(4))
    assert one != other


def check_an_unmasked_client_frame_gets_1002_and_the_connection_ends(
    close_frame: Any, after_bad: bytes
) -> None:
    from wschat.core.wire import Opcode

    assert close_frame.opcode is Opcode.CLOSE
    assert after_bad == b""  # the server closed the TCP connection


# ----------------------------------------------------------------------------- 2.4 ping/pong


def check_pong_echoes_and_the_library_pings_every_20_s(pong: Any) -> None:
    import inspect

    from websockets.sync.client import connect

    from wschat.core import wire

    assert pong.opcode is wire.Opcode.PONG
    defaults = inspect.signature(connect).parameters
    assert defaults["ping_interval"].default == defaults["ping_timeout"].default == 20
    try:  # control frames carry at most 125 bytes
        wire.encode_frame(wire.Opcode.PING, bytes(126))
    except wire.FrameError:
        pass
    else:
        raise AssertionError("a 126-byte ping was encoded")


# --------------------------------------------------------------------------------- 2.5 close


def check_the_close_by_hand_echoes_1000_and_the_reserved_codes_never_travel(
    echo: Any, echo_raw: bytes, after_close: bytes
) -> None:
    from wschat.core import wire

    assert echo.opcode is wire.Opcode.CLOSE
    assert echo_raw[2:4] == (1000).to_bytes(2, "big") == b"\x03\xe8"
    assert after_close == b""  # the server closed TCP after the closing handshake
    assert wire.parse_close(b"") == (1005, "")  # an empty close is recorded as 1005
    # 1005, 1006 and 1015 are recorded locally, never sent; a reason has at most 123 bytes.
    for code, reason in ((1005, ""), (1006, ""), (1015, ""), (1000, "x" * 124)):
        try:
            wire.close_payload(code, reason)
        except wire.FrameError:
            continue
        raise AssertionError(f"close_payload({code}, {len(reason)} bytes) was built")


def check_the_application_close_code_came_back(app_close: tuple[int, str]) -> None:
    assert app_close == (4000, "fim da aula")


# ---------------------------------------------------------------------------------- 3. push


def check_push_delivers_each_event_at_once(
    hello: dict[str, Any], arrivals: list[tuple[int, float]]
) -> None:
    assert hello == {"type": "hello", "last": 0}
    assert [event_id for event_id, _ in arrivals] == [1, 2, 3]
    assert all(0 <= latency < 0.5 for _, latency in arrivals)  # a loose bound: no timed test


# --------------------------------------------------------------------------- 4. measurement


def check_every_client_got_every_event_once_in_order(comparison: Any) -> None:
    for result in comparison.results:
        assert result.ids == tuple(range(1, comparison.events + 1)), result.method


def check_push_beats_every_poller(comparison: Any) -> None:
    from wschat.teaching.figures import PUSH_LATENCY_BOUND_MS

    push = comparison.push
    assert push.requests == 1  # the upgrade, and nothing more
    assert push.p50 * 1000 < PUSH_LATENCY_BOUND_MS  # the "menos de 1 ms" the prose quotes
    for interval in (0.05, 0.1, 0.25, 0.5):
        poll = comparison.poll(interval)
        assert push.p50 < poll.p50 and push.bytes < poll.bytes  # less latency, fewer bytes


def check_a_poller_waits_half_an_interval_on_average(comparison: Any) -> None:
    push = comparison.push
    for interval in (0.05, 0.1, 0.25, 0.5):
        poll = comparison.poll(interval)
        # Mean wait: half an interval, plus the answer's way back (RTT/2, what push takes).
        # With 20 events the mean's standard deviation is about 6.5% of the interval; the
        # margin (25% + 10 ms) is near 4 of them, so a busy machine does not fail it by luck.
        assert abs(poll.mean - (interval / 2 + push.mean)) < 0.25 * interval + 0.01
        assert poll.max < interval + 0.5  # and never much more than one interval


def check_polling_trades_latency_for_wasted_requests(comparison: Any) -> None:
    fastest, slowest = comparison.poll(0.05), comparison.poll(0.5)
    assert fastest.empty_responses > fastest.requests / 2  # at 50 ms most come back empty
    assert slowest.requests < comparison.events  # at 500 ms, fewer requests than events
    assert fastest.p50 < 0.1 < slowest.p50  # tens of ms at 50 ms; hundreds at 500 ms
