"""The tabs of notebook 03's minimal chat: plain-text WebSocket clients that log in by name.

The minimal chat (written in the notebook, where it is the lesson) takes a name as the first
line of a connection, answers one welcome line, and then sends lines of text. A :class:`Tab`
is one browser tab of that chat: it logs in, says lines, keeps every line it showed (the
welcome excluded), and can lose its connection the way a network failure loses it (no close
frame) and open a new one. :func:`received` is the who-got-what table of a few tabs.

The labels are in Portuguese because the notebook shows them as they are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = ["GOT", "MISSED", "Tab", "open_tab", "received"]

#: A table cell: the tab showed that line, or it did not.
GOT, MISSED = "✓", "—"


class Tab:
    """One tab of the minimal chat: ``user`` logged in at ``url``, shown as ``name``.

    ``lines`` holds every line the tab received after its welcome, in order, across the
    connections it opened (a screen keeps what it showed when the network comes back).
    """

    def __init__(self, name: str, url: str, user: str) -> None:
        self.name, self.url, self.user = name, url, user
        self.lines: list[str] = []
        self.welcome: str | None = None
        self._ws: ClientConnection | None = None

    @property
    def connected(self) -> bool:
        """True while the tab's connection is open."""
        return self._ws is not None and self._ws.close_code is None

    async def open(self, timeout: float = 5.0) -> None:
        """Connect, send the name and wait for the welcome line (once it came, the server
        knows this connection: every line said from then on reaches it)."""
        async with asyncio.timeout(timeout):
            self._ws = await connect(self.url)
            await self._ws.send(self.user)
            self.welcome = str(await self._ws.recv())

    async def say(self, line: str) -> None:
        """Send one line, as typed."""
        await self._connection().send(line)

    async def read_until(self, line: str, timeout: float = 5.0) -> list[str]:
        """Read lines until ``line`` arrives; return them all, that one included.

        Raises :class:`TimeoutError` if it does not arrive within ``timeout`` seconds.
        """
        got: list[str] = []
        ws = self._connection()
        async with asyncio.timeout(timeout):
            while not got or got[-1] != line:
                got.append(str(await ws.recv()))
        self.lines.extend(got)
        return got

    async def next_line(self, timeout: float = 5.0) -> str:
        """The next line this tab receives (within ``timeout`` seconds)."""
        async with asyncio.timeout(timeout):
            got = str(await self._connection().recv())
        self.lines.append(got)
        return got

    async def cut(self) -> int:
        """Lose the connection as a network failure does: the TCP connection ends at once,
        no close frame either way. Return the close code this tab records (1006)."""
        ws = self._connection()
        ws.transport.abort()
        await ws.wait_closed()
        return ws.close_code or 1006

    async def close(self) -> None:
        """Close the connection with the closing handshake (code 1000). Safe to call twice."""
        if self._ws is not None:
            try:
                await self._ws.close()
            except ConnectionClosed:  # pragma: no cover - closed meanwhile
                pass

    def _connection(self) -> ClientConnection:
        if self._ws is None:
            raise RuntimeError(f"{self.name}: call open() first")
        return self._ws


async def open_tab(name: str, url: str, user: str) -> Tab:
    """A new tab called ``name``, logged in as ``user`` at ``url``."""
    tab = Tab(name, url, user)
    await tab.open()
    return tab


def received(tabs: Sequence[Tab]) -> tuple[str, list[tuple[str, ...]]]:
    """Who got what: a markdown table, one row per line that any tab showed (in the order
    they first appeared) and one column per tab, and its rows ``(line, ✓ or —, ...)``."""
    lines = list(dict.fromkeys(line for tab in tabs for line in tab.lines))
    rows = [(line, *(GOT if line in tab.lines else MISSED for tab in tabs)) for line in lines]
    table = ["| mensagem | " + " | ".join(tab.name for tab in tabs) + " |",
             "| --- " * (1 + len(tabs)) + "|"]
    table += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(table), rows
