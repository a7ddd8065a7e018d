"""One logged-in connection, as the server's parts pass it around, and the rule of its two writers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from websockets.asyncio.server import ServerConnection

from wschat.core.model import Entry

__all__ = ["Held", "SeamHook", "Session", "peer_address"]

#: What a session catching up holds for later: a log entry, a ready frame, or the
#: (event id, frame) pair of a presence event that has an id.
Held = Entry | str | tuple[str, str]


@dataclass(eq=False, slots=True)
class Session:
    """One logged-in connection. Hashed by identity: a user may have many.

    **The rule of the two writers.** A session's frames reach its socket through one of two
    writers, never both, and this class is where the switch happens:

    1. While it catches up (``catching_up``, from login until :meth:`go_live`), only the
       catch-up (:mod:`wschat.server.catchup`) writes to it, through websockets' ``send``
       (:meth:`send_backlog`), which waits for the client to read: welcome, the backlog, then
       what was held. Every live item meant for it meanwhile is *held* (:meth:`offer`,
       :meth:`hold`), never written.
    2. From :meth:`go_live` on, only the live path writes to it, straight to the transport and
       without waiting (:mod:`wschat.server.writer`); :meth:`send_backlog` then refuses.

    :meth:`go_live` refuses while anything is held, and the catch-up calls it with no await
    after it found the buffer empty, so no live item can be held after the last flush nor
    written before it: the client gets every frame in the order the server decided, although
    the two writers queue their bytes in different places. Every live writer asks
    :meth:`offer` (or, for a broadcast, skips the sessions the registry lists as catching up).
    """

    ws: ServerConnection
    user: str
    key: str
    sid: str
    token: str
    #: True until :meth:`go_live`: live traffic waits in ``buffer`` (see the class doc).
    catching_up: bool = True
    #: What is held while catching up; None while nothing is (a live session keeps no empty
    #: list: memory per connection).
    buffer: list[Held] | None = None
    #: Set once nothing more may be written to it (it left, or is being closed).
    closing: bool = False
    #: The connection's socket descriptor when the compiled fan-out may write to it directly
    #: (plain TCP on a known loop), else -1: see wschat.server.writer.direct_fd.
    fd: int = -1

    def hold(self, item: Held) -> None:
        """Keep ``item`` for after the catch-up, behind what is already held."""
        if self.buffer is None:
            self.buffer = [item]
        else:
            self.buffer.append(item)

    def offer(self, item: Held) -> bool:
        """The live path's one question: True if the session is live (write ``item`` now);
        False if it is catching up, in which case ``item`` was held for later."""
        if self.catching_up:
            self.hold(item)
            return False
        return True

    async def send_backlog(self, frame: str) -> None:
        """Write one catch-up frame through websockets (waiting for the client to read).

        Only while catching up: after :meth:`go_live` the transport is the live path's, and a
        frame sent here could overtake or be overtaken by live bytes. RuntimeError then.
        """
        if not self.catching_up:
            raise RuntimeError(f"catch-up write to {self.sid} after it went live")
        await self.ws.send(frame)

    def take_held(self) -> list[Held]:
        """What was held so far, oldest first; the buffer starts again empty."""
        held, self.buffer = self.buffer, None
        return held or []

    def go_live(self) -> None:
        """End the catch-up: from now on the live path writes to the transport.

        The caller must have found nothing held, with no await since (RuntimeError if
        something is): else that item would wait forever, or be written out of order.
        """
        if self.buffer:
            raise RuntimeError(f"{self.sid} goes live with {len(self.buffer)} items held")
        self.catching_up = False


#: Called at the named points of the catch-up phase; tests use it to force appends there.
SeamHook = Callable[[str, Session], Awaitable[None]]


def peer_address(ws: ServerConnection) -> str:
    """The peer's IP address, for logs and the failed-login limit ("?" if unknown)."""
    peer = ws.remote_address
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "?"
