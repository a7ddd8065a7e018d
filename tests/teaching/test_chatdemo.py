"""wschat.teaching.chatdemo: screens note how each message arrived; the table reads the log."""

from __future__ import annotations

import asyncio

import pytest

from wschat import Message, Presence, Read, ServerThread, TypingNotice
from wschat.teaching.chatdemo import (
    HISTORY,
    LIVE,
    NOT_RECEIVED,
    REPLAY,
    LoginInjector,
    log_in,
    presences,
    read_frames,
    said,
    show,
    visible_log,
    who_got_what,
    without_ts,
)


def test_show_names_each_event_in_portuguese() -> None:
    assert show(Message("7", "ana", None, "oi", 0.0)) == "#7 ana → todos: oi"
    assert show(Message("8", "ana", "joao", "oi", 0.0, "r1")) == "#8 ana → joao: oi   [ref r1]"
    assert show(Presence("joao", False)) == "presença: joao saiu"
    assert show(Read("8")) == "lido até #8"
    assert show(TypingNotice("joao")) == "joao está digitando…"
    assert show(TypingNotice("joao", "ana")) == "joao está digitando para ana…"


async def test_screens_label_history_live_and_replay() -> None:
    server = ServerThread(history=3).start()
    try:
        ana = await log_in("ana", server.url, "ana", "senha-da-ana")
        await ana.client.send("antes")
        await ana.read_until(said("antes"))
        joao = await log_in("joao", server.url, "joao", "senha-do-joao")
        await joao.read_until(said("antes"))
        await ana.read_until(lambda e: e == Presence("joao", True))
        back = asyncio.Event()
        await joao.client.drop(until=back)
        await ana.read_until(lambda e: e == Presence("joao", False))
        await ana.client.send("/msg joao fora")
        await ana.read_until(said("fora"))
        back.set()
        await joao.read_until(said("fora"))
        await ana.client.send("de volta")
        for screen in (ana, joao):
            await screen.read_until(said("de volta"))

        entries = visible_log(server, ["ana", "joao"])
        table, rows = who_got_what(entries, [ana, joao])
        assert rows == [("1", LIVE, HISTORY), ("2", LIVE, REPLAY), ("3", LIVE, LIVE)]
        assert table.splitlines()[0] == "| id | de → para | texto | ana | joao |"
        assert "| 2 | ana → joao | fora | ao vivo | replay |" in table
        assert presences(ana) == [Presence("joao", True), Presence("joao", False),
                                  Presence("joao", True)]
        assert NOT_RECEIVED not in table
        # One welcome per login: the first, then the reconnection's, which used the token.
        assert [w.recovered for w in joao.welcomes] == [False, True]
        assert joao.welcomes[1].token == joao.welcomes[0].token
        for screen in (ana, joao):
            await screen.client.close()
    finally:
        server.stop()


async def test_login_injector_posts_at_both_seam_points_inside_the_login() -> None:
    injector = LoginInjector("dani")
    server = ServerThread(seam_hook=injector).start()
    try:
        carla = await log_in("carla", server.url, "carla", "senha-da-carla")
        injector.sender = carla
        dani = await log_in("dani", server.url, "dani", "senha-da-dani")
        await carla.client.send("depois")
        await dani.read_until(said("depois"))
        assert injector.fired == ["registered", "log_read"]
        assert [m.text for m in dani.messages()] == [
            "registered 1", "registered 2", "log_read 1", "log_read 2", "depois"]
        # registered: in the log before it was read, so history; log_read: after, so live.
        assert [dani.how[m.id] for m in dani.messages()] == [HISTORY] * 2 + [LIVE] * 3
        for screen in (carla, dani):
            await screen.client.close()
    finally:
        server.stop()


class FakeSocket:
    def __init__(self, frames: list[str]) -> None:
        self.frames = frames

    async def recv(self) -> str:
        if not self.frames:
            await asyncio.sleep(3600)  # like a socket with nothing more to read
        return self.frames.pop(0)


async def test_read_frames_stops_at_the_first_match_and_times_out_otherwise() -> None:
    ws = FakeSocket(['{"id": "1"}', '{"id": "2", "ts": 1.5}', '{"id": "3"}'])
    got = await read_frames(ws, lambda f: f.get("id") == "2")
    assert got == [{"id": "1"}, {"id": "2", "ts": 1.5}]
    assert without_ts(got[1]) == {"id": "2"} and got[1]["ts"] == 1.5  # a copy, not an edit
    with pytest.raises(TimeoutError):
        await read_frames(ws, lambda f: f.get("id") == "9", timeout=0.2)
