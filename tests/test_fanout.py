"""wschat.fanout: shared frame bytes equal websockets' own, bursts keep each session's order."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode

from wschat.fanout import Burst, text_frame


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
