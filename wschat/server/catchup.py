"""The seam between replay and live traffic: a login or a resume never loses nor doubles a message.

The session is registered for live traffic *first*, with its live entries held in a buffer;
then the log is read up to ``welcome.last`` and sent with flow control; then the buffer is
flushed, skipping what the log read already covered. Registering before reading is what makes
the seam safe: an entry appended at any moment is either in the log read, or in the buffer, or
both (and then skipped once). A :data:`~wschat.server.session.SeamHook` lets tests append at
the named points in between.

Everything here is written through :meth:`Session.send_backlog` (websockets' ``send``, which
waits for the client to read), while the live path holds what it has for this session; the
switch to the live path is :meth:`Session.go_live`, whose docstring holds the rule.
"""

from __future__ import annotations

from wschat.core.defaults import UNREAD_CAP
from wschat.core.frames import message_frame, welcome_frame
from wschat.core.model import Entry, log_order
from wschat.core.requests import Resume
from wschat.server.bus import Bus, Joined
from wschat.server.config import ServerConfig
from wschat.server.metrics import Metrics
from wschat.server.registry import Registry
from wschat.server.session import Held, SeamHook, Session
from wschat.store import Store

__all__ = ["CatchUp"]


class CatchUp:
    """Takes a new session from login to live: welcome, then history or replay, then live."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        registry: Registry,
        config: ServerConfig,
        metrics: Metrics,
        seam_hook: SeamHook | None = None,
    ) -> None:
        self.store = store
        self.bus = bus
        self.registry = registry
        self.config = config
        self.metrics = metrics
        self._seam_hook = seam_hook

    async def run(self, session: Session, resume: Resume | None) -> None:
        """Register for live traffic, send welcome and the backlog, then go live."""
        first = self.registry.register(session)
        joined = await self.bus.join(session.user, session.key, session.sid, first)
        await self._hook("registered", session)
        last = await self.store.last_visible(session.key)
        read = await self.store.read_position(session.key)
        unread = 0
        if last is not None:
            unread = await self.store.unread(session.key, read, last, UNREAD_CAP)
        backlog, recovered = await self._backlog(session, resume, last)
        await self._hook("log_read", session)
        await session.send_backlog(
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
            await session.send_backlog(message_frame(entry))
        if recovered and backlog:
            self.metrics.replayed.inc(len(backlog))
        await self._flush(session, last, joined)

    async def _flush(self, session: Session, last: str | None, joined: Joined) -> None:
        """Send the live traffic that arrived during the catch-up, then go live.

        Skips the entries the log read covered (ids up to ``last``) and the presence events
        that ``welcome.online`` covered (ids up to ``joined.floor``); waits first until the bus
        has handed over everything up to both, so none of them can still come later.
        """
        await self.bus.synced(last, joined.floor)
        floor = log_order(last) if last is not None else None
        presence_floor = log_order(joined.floor) if joined.floor is not None else None
        while held := session.take_held():
            for item in held:
                frame = _still_owed(item, floor, presence_floor)
                if frame is not None:
                    await session.send_backlog(frame)
        self.registry.go_live(session)  # no await since nothing was found held

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


def _still_owed(
    item: Held, floor: tuple[int, int] | None, presence_floor: tuple[int, int] | None
) -> str | None:
    """The frame of a held item, or None if the log read (ids up to ``floor``) or
    ``welcome.online`` (presence events up to ``presence_floor``) covered it already."""
    if isinstance(item, str):
        return item
    if isinstance(item, tuple):
        event_id, frame = item
        covered = presence_floor is not None and log_order(event_id) <= presence_floor
        return None if covered else frame
    if floor is not None and log_order(item.id) <= floor:
        return None
    return message_frame(item)
