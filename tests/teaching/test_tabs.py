"""wschat.teaching.tabs: the minimal chat's tabs log in by name, keep what they showed, lose
their connection without a close frame, and the who-got-what table reads them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from wschat.teaching.tabs import GOT, MISSED, Tab, open_tab, received

#: How each connection the server below saw ended: (user, close frame received or None).
Endings = asyncio.Queue[tuple[str, object]]


@pytest.fixture
async def chat() -> AsyncIterator[tuple[str, Endings]]:
    """A one-room chat: the first line is the name, every later line goes to everyone."""
    connections: set[ServerConnection] = set()
    endings: Endings = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        user = str(await ws.recv())
        connections.add(ws)
        await ws.send(f"bem-vindo, {user}")
        try:
            async for line in ws:
                text = line if isinstance(line, str) else line.decode()
                broadcast(connections, f"{user}: {text}")
        except ConnectionClosed:
            pass
        finally:
            connections.discard(ws)
            endings.put_nowait((user, ws.protocol.close_rcvd))

    server: Server = await serve(handler, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", endings
    finally:
        server.close()
        await server.wait_closed()


async def test_tabs_log_in_and_keep_every_line_after_the_welcome(chat: tuple[str, Endings]) -> None:
    url, _ = chat
    ana = await open_tab("ana (aba 1)", url, "ana")
    bob = await open_tab("bob", url, "bob")
    assert ana.welcome == "bem-vindo, ana" and ana.connected
    await ana.say("oi")
    await bob.say("olá")
    assert await ana.read_until("bob: olá") == ["ana: oi", "bob: olá"]
    assert await bob.next_line() == "ana: oi"
    assert bob.lines == ["ana: oi"]
    for tab in (ana, bob):
        await tab.close()
        await tab.close()  # twice is fine
    assert not ana.connected


async def test_a_cut_ends_the_connection_without_a_close_frame(chat: tuple[str, Endings]) -> None:
    url, endings = chat
    ana = await open_tab("ana", url, "ana")
    bob = await open_tab("bob", url, "bob")
    await ana.say("antes")
    await ana.read_until("ana: antes")
    assert await ana.cut() == 1006 and not ana.connected
    await bob.say("durante")
    await bob.read_until("bob: durante")
    await ana.open()  # a new connection, the same screen
    await bob.say("depois")
    await ana.read_until("bob: depois")
    assert ana.lines == ["ana: antes", "bob: depois"]
    for tab in (ana, bob):
        await tab.close()
    async with asyncio.timeout(5):
        ended = [await endings.get() for _ in range(3)]
    # No close frame came from the cut connection; the two closed ones sent theirs.
    assert sorted(user for user, frame in ended if frame is None) == ["ana"]


async def test_read_until_gives_up_after_its_timeout(chat: tuple[str, Endings]) -> None:
    url, _ = chat
    ana = await open_tab("ana", url, "ana")
    with pytest.raises(TimeoutError):
        await ana.read_until("nunca", timeout=0.2)
    await ana.close()


async def test_a_tab_must_be_opened_first() -> None:
    with pytest.raises(RuntimeError, match="open"):
        await Tab("ana", "ws://127.0.0.1:9", "ana").say("oi")


def test_received_is_one_row_per_line_and_one_column_per_tab() -> None:
    ana, bob = Tab("ana", "ws://x", "ana"), Tab("bob", "ws://x", "bob")
    ana.lines = ["ana: oi", "ana → joao: oi", "joao: tchau"]
    bob.lines = ["ana: oi", "joao: tchau", "bob: fui"]
    table, rows = received([ana, bob])
    assert rows == [("ana: oi", GOT, GOT), ("ana → joao: oi", GOT, MISSED),
                    ("joao: tchau", GOT, GOT), ("bob: fui", MISSED, GOT)]
    assert table.splitlines()[:3] == [
        "| mensagem | ana | bob |", "| --- | --- | --- |", "| ana: oi | ✓ | ✓ |"]
