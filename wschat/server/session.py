"""One logged-in connection, as the server's parts pass it around."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection

from wschat.core.model import Entry

__all__ = ["SeamHook", "Session", "peer_address"]


@dataclass(eq=False, slots=True)
class Session:
    """One logged-in connection. Hashed by identity: a user may have many."""

    ws: ServerConnection
    user: str
    key: str
    sid: str
    token: str
    #: While True, live traffic (entries, and ready frames such as presence) waits in
    #: ``buffer`` until welcome and the backlog have been sent.
    catching_up: bool = True
    #: Entries, ready frames, and (event id, frame) pairs of presence events that have ids;
    #: None while nothing is held (a live session keeps no empty list: memory per connection).
    buffer: list[Entry | str | tuple[str, str]] | None = None
    closing: bool = False
    #: The connection's socket descriptor when the compiled fan-out may write to it directly
    #: (plain TCP on a known loop), else -1: see wschat.server.delivery.direct_fd.
    fd: int = -1

    def hold(self, item: Entry | str | tuple[str, str]) -> None:
        """Keep ``item`` for after the catch-up, behind what is already held."""
        if self.buffer is None:
            self.buffer = [item]
        else:
            self.buffer.append(item)


#: Called at the named points of the catch-up phase; tests use it to force appends there.
SeamHook = Callable[[str, Session], Awaitable[None]]


def peer_address(ws: ServerConnection) -> str:
    """The peer's IP address, for logs and the failed-login limit ("?" if unknown)."""
    peer = ws.remote_address
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "?"
