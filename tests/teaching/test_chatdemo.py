"""wschat.teaching.chatdemo: screens note how each message arrived; the table reads the log."""

from __future__ import annotations

import asyncio

from wschat import Message, Presence, ServerThread
from wschat.teaching.chatdemo import (
    HISTORY,
    LIVE,
    NOT_RECEIVED,
    REPLAY,
    log_in,
    presences,
    said,
    show,
    visible_log,
    who_got_what,
)


def test_show_names_each_event_in_portuguese() -> None:
    assert show(Message("7", "ana", None, "oi", 0.0)) == "#7 ana → todos: oi"
    assert show(Message("8", "ana", "joao", "oi", 0.0, "r1")) == "#8 ana → joao: oi   [ref r1]"
    assert show(Presence("joao", False)) == "presença: joao saiu"


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
        joao.client.drop(until=back)
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
        for screen in (ana, joao):
            await screen.client.close()
    finally:
        server.stop()
