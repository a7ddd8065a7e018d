"""The seam between replay and live traffic: a login or a resume never loses nor doubles a message.

The session is registered for live traffic *first*, with its live entries held in a buffer;
then the log is read up to ``welcome.last`` and sent with flow control; then the buffer is
flushed, skipping what the log read already covered. Registering before reading is what makes
the seam safe: an entry appended at any moment is either in the log read, or in the buffer, or
both (and then skipped once). A :data:`~wschat.server.session.SeamHook` lets tests append at
the named points in between.
"""

from __future__ import annotations

from wschat.core.defaults import UNREAD_CAP
from wschat.core.events import Resume
from wschat.core.frames import message_frame, welcome_frame
from wschat.core.model import Entry, log_order
from wschat.server.bus import Bus, Joined
from wschat.server.config import ServerConfig
from wschat.server.delivery import Delivery
from wschat.server.session import SeamHook, Session
from wschat.store import Store

__all__ = ["CatchUp"]


class CatchUp:
    """Takes a new session from login to live: welcome, then history or replay, then live."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        delivery: Delivery,
        config: ServerConfig,
        seam_hook: SeamHook | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.delivery = delivery
        self.config = config
        self._seam_hook = seam_hook

    async def run(self, session: Session, resume: Resume | None) -> None:
        """Register for live traffic, send welcome and the backlog, then go live."""
        first = self.delivery.register(session)
        joined = await self.bus.join(session.user, session.key, session.sid, first)
        await self._hook("registered", session)
        last = await self.store.last_visible(session.key)
        read = await self.store.read_position(session.key)
        unread = 0
        if last is not None:
            unread = await self.store.unread(session.key, read, last, UNREAD_CAP)
        backlog, recovered = await self._backlog(session, resume, last)
        await self._hook("log_read", session)
        ws = session.ws
        await ws.send(
            welcome_frame(
                user=session.user,
                session=session.sid,
                epoch=self.store.epoch,
                last=last,
                recovered=recovered,
                online=joined.online,
                token=session.token,
                read=read,
                unread=unread,
            )
        )
        # Never with a ref (PROTOCOL.md: a ref comes back only to the session that sent it),
        # even on the user's own messages: flow control waits while the client does not read.
        for entry in backlog:
            await ws.send(message_frame(entry))
        if recovered and backlog:
            self.delivery.metrics.replayed.inc(len(backlog))
        await self._flush(session, last, joined)

    async def _flush(self, session: Session, last: str | None, joined: Joined) -> None:
        """Send the live traffic that arrived during the catch-up, then go live.

        Skips the entries the log read covered (ids up to ``last``) and the presence events
        that ``welcome.online`` covered (ids up to ``joined.floor``); waits first until the bus
        has handed over everything up to both, so none of them can still come later.
        """
        await self.bus.synced(last, joined.floor)
        ws = session.ws
        floor = log_order(last) if last is not None else None
        presence_floor = log_order(joined.floor) if joined.floor is not None else None
        while session.buffer:
            held, session.buffer = session.buffer, None
            for item in held:
                if isinstance(item, str):
                    await ws.send(item)
                elif isinstance(item, tuple):
                    event_id, frame = item
                    if presence_floor is None or log_order(event_id) > presence_floor:
                        await ws.send(frame)
                elif floor is None or log_order(item.id) > floor:
                    await ws.send(message_frame(item))
        self.delivery.go_live(session)  # no await since the buffer was seen empty

    async def _backlog(
        self, session: Session, resume: Resume | None, last: str | None
    ) -> tuple[list[Entry], bool]:
        """The replay after ``resume`` if it is recoverable, else history; up to ``last``."""
        if last is None:
            return [], resume is not None and resume.epoch == self.store.epoch
        cfg = self.config
        if resume is not None and resume.epoch == self.store.epoch:
            replay = await self.store.after(session.key, resume.after, last, cfg.max_replay + 1)
            if replay is not None and len(replay) <= cfg.max_replay:
                return replay, True
        recent = await self.store.recent(session.key, cfg.history, last)
        forwarded = await self.store.forwarded(session.key, last)
        merged = {e.id: e for e in forwarded}
        merged.update((e.id, e) for e in recent)
        return sorted(merged.values(), key=lambda e: log_order(e.id)), False

    async def _hook(self, point: str, session: Session) -> None:
        if self._seam_hook is not None:
            await self._seam_hook(point, session)
