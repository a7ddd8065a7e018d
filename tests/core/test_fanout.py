"""wschat.core.fanout: shared frame bytes equal websockets' own, bursts keep each session's order."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from wschat.core.fanout import Burst, Deferred, text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 4000, 65535, 65536, 70000])
def test_text_frame_is_what_websockets_writes_for_a_server(size: int) -> None:
    text = ("é" * size)[: size // 2] + "a" * (size - size // 2)
    assert text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_burst_shares_public_frames_and_keeps_order_for_own_sessions() -> None:
    burst: Burst[str] = Burst()
    burst.to_everyone(b"1")
    burst.to_everyone_but("ana", b"2", b"2+ref")  # ana sent 2 with a ref
    burst.to_one("joao", b"3p")  # a private message to joao
    burst.to_everyone(b"4")
    shared, own = burst.joined()
    assert shared == b"124"
    assert own == {"ana": b"12+ref4", "joao": b"123p4"}


def test_empty_burst_writes_nothing() -> None:
    burst: Burst[str] = Burst()
    assert burst.joined() == (b"", {})
    burst.to_one("ana", b"x")
    assert burst.joined() == (b"", {"ana": b"x"})


class Wire:
    """What each session received, in order (the write callback of Deferred)."""

    def __init__(self) -> None:
        self.got: dict[str, bytes] = {}

    def write(self, sessions: list[str], data: bytes) -> None:
        for session in sessions:
            self.got[session] = self.got.get(session, b"") + data


def test_deferred_writes_shared_bytes_in_chunks() -> None:
    wire = Wire()
    deferred: Deferred[str] = Deferred(wire.write)
    sessions = [f"s{i}" for i in range(5)]
    deferred.add(b"A", sessions, {})
    assert wire.got == {}
    assert deferred.flush_some(2) == 3
    assert len(wire.got) == 2
    assert deferred.flush_some(10) == 0
    assert wire.got == dict.fromkeys(sessions, b"A")
    assert deferred.pending_bytes() == 0


def test_deferred_never_lets_a_newer_frame_overtake_an_older_one() -> None:
    wire = Wire()
    deferred: Deferred[str] = Deferred(wire.write)
    deferred.add(b"1", ["ana", "bia", "caio"], {})
    assert deferred.flush_some(1) == 2  # one session has broadcast 1, two still wait for it
    deferred.add(b"", [], {"bia": b"2p", "caio": b"2p"})  # a private message to them
    # davi joined meanwhile and catches up from the log: broadcast 3 skips him.
    deferred.add(b"3", ["ana", "bia", "caio", "davi"], {"ana": b"3r"}, exclude={"davi"})
    deferred.write_now("davi", b"presence")
    deferred.flush_some(100)
    assert wire.got == {"ana": b"13r", "bia": b"12p3", "caio": b"12p3", "davi": b"presence"}


def test_deferred_forgets_a_session_that_left() -> None:
    wire = Wire()
    deferred: Deferred[str] = Deferred(wire.write)
    deferred.add(b"1", ["ana", "bia"], {})
    deferred.forget("ana")
    assert deferred.flush_some(10) == 0
    assert wire.got == {"bia": b"1"}
