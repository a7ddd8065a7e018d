"""The chat notebooks' helpers: one screen per tab, log-in helpers and the who-got-what table.

A :class:`Screen` wraps one :class:`~wschat.client.ChatClient` and keeps every event it received,
in order, noting for each message whether it arrived live, in a login's history or in a
reconnection's replay. The labels are in Portuguese because the notebooks show them as they are.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, Protocol

from wschat.client.chat_client import ChatClient
from wschat.client.events import (
    Disconnected,
    Event,
    Message,
    Presence,
    Read,
    Reconnected,
    TypingNotice,
    Welcome,
)
from wschat.core.model import Entry
from wschat.server.session import Session
from wschat.server.thread import ServerThread

__all__ = [
    "HISTORY",
    "LIVE",
    "NOT_RECEIVED",
    "REPLAY",
    "LoginInjector",
    "Screen",
    "log_in",
    "presences",
    "read_frames",
    "said",
    "show",
    "visible_log",
    "who_got_what",
    "without_ts",
]

#: How a message reached a screen, as the notebooks print it.
LIVE, REPLAY, HISTORY, NOT_RECEIVED = "ao vivo", "replay", "histórico", "—"


class Screen:
    """What one session (a tab, a device) shows: every event in order of arrival and, for each
    message id, whether it came live, in a login's history or in a reconnection's replay.
    ``welcomes`` holds the login's welcome, then each reconnection's, in order."""

    def __init__(self, name: str, client: ChatClient) -> None:
        if client.welcome is None:
            raise ValueError("connect the client before wrapping it in a Screen")
        self.name, self.client = name, client
        self.events: list[Event] = []
        self.how: dict[str, str] = {}
        self.welcomes: list[Welcome] = [client.welcome]
        self._last_seen: str | None = None
        self._backlog: tuple[str, str] | None = None
        self._expect_backlog(client.welcome)

    def _expect_backlog(self, welcome: Welcome) -> None:
        # The backlog (history or replay) ends at the message whose id is welcome.last.
        empty = welcome.last is None or (welcome.recovered and welcome.last == self._last_seen)
        kind = REPLAY if welcome.recovered else HISTORY
        self._backlog = None if empty or welcome.last is None else (kind, welcome.last)

    def note(self, event: Event) -> None:
        """Record ``event`` as received now."""
        self.events.append(event)
        if isinstance(event, Reconnected):
            self.welcomes.append(event.welcome)
            self._expect_backlog(event.welcome)
        elif isinstance(event, Message):
            if self._backlog is None:
                self.how[event.id] = LIVE
            else:
                kind, last = self._backlog
                self.how[event.id] = kind
                if event.id == last:
                    self._backlog = None
            self._last_seen = event.id

    async def read_until(self, done: Callable[[Event], bool], timeout: float = 10.0) -> list[Event]:
        """Read events until one satisfies ``done``; return them all, that one included."""
        got: list[Event] = []
        async with asyncio.timeout(timeout):
            while True:
                event = await self.client.recv()
                self.note(event)
                got.append(event)
                if done(event):
                    return got

    def messages(self) -> list[Message]:
        """The messages received so far, in order."""
        return [e for e in self.events if isinstance(e, Message)]


async def log_in(name: str, url: str, user: str, password: str | None = None,
                 token: str | None = None) -> Screen:
    """Connect ``user`` to ``url`` (password or token) and return its screen, called ``name``.

    Raises :class:`~wschat.client.LoginError` if the server refuses the login.
    """
    client = ChatClient(url, user, password, token)
    await client.connect()
    return Screen(name, client)


def said(text: str) -> Callable[[Event], bool]:
    """A predicate for :meth:`Screen.read_until`: the message whose text is ``text``."""
    return lambda event: isinstance(event, Message) and event.text == text


def presences(screen: Screen) -> list[Presence]:
    """The presence events ``screen`` received, in order."""
    return [e for e in screen.events if isinstance(e, Presence)]


def show(event: Event) -> str:
    """One line, in Portuguese, for an event."""
    if isinstance(event, Message):
        ref = f"   [ref {event.ref}]" if event.ref else ""
        return f"#{event.id} {event.sender} → {event.to or 'todos'}: {event.text}{ref}"
    if isinstance(event, Presence):
        return f"presença: {event.user} {'entrou' if event.online else 'saiu'}"
    if isinstance(event, Read):
        return f"lido até #{event.id}"
    if isinstance(event, TypingNotice):
        return f"{event.user} está digitando{' para ' + event.to if event.to else ''}…"
    if isinstance(event, Disconnected):
        return f"conexão caiu (código {int(event.code)})"
    if isinstance(event, Reconnected):
        w = event.welcome
        return f"reconectado: recovered={w.recovered}, last={w.last}"
    return repr(event)


def visible_log(server: ServerThread, users: Iterable[str], limit: int = 200) -> list[Entry]:
    """The log's entries that any of ``users`` can see, read on the server, in id order.

    Each user sees the public messages and the private ones they take part in, so the union
    over every user is the whole log. Ids of the in-memory log are counters: ``"1"``, ``"2"``...
    """
    store = server.chat.store
    found: dict[str, Entry] = {}
    for user in users:
        entries: list[Entry]
        entries, _more = server.call(partial(store.before, user, None, limit))
        found.update((e.id, e) for e in entries)
    return sorted(found.values(), key=lambda e: int(e.id))


def who_got_what(entries: Sequence[Entry], screens: Sequence[Screen]
                 ) -> tuple[str, list[tuple[str, ...]]]:
    """A markdown table, one row per log entry and one column per screen, and its rows.

    Each row is ``(id, how screen 1 got it, how screen 2 got it, ...)`` with :data:`LIVE`,
    :data:`REPLAY`, :data:`HISTORY` or :data:`NOT_RECEIVED`.
    """
    rows = [(e.id, *(s.how.get(e.id, NOT_RECEIVED) for s in screens)) for e in entries]
    lines = ["| id | de → para | texto | " + " | ".join(s.name for s in screens) + " |",
             "| --- " * (3 + len(screens)) + "|"]
    for entry, row in zip(entries, rows, strict=True):
        lines.append(f"| {entry.id} | {entry.sender} → {entry.to or 'todos'} | {entry.text} | "
                     + " | ".join(row[1:]) + " |")
    return "\n".join(lines), rows


class LoginInjector:
    """A ``seam_hook`` that makes ``sender`` post two messages at each seam point of ``user``'s
    login: right after the session is registered, and right after the log was read.

    Pass it to ``ServerThread(seam_hook=...)`` from a running event loop (the notebook's), then
    set :attr:`sender` to a connected :class:`Screen` of that server. The hook runs on the
    server's loop, inside the login; the sends run on the notebook's loop, where the sender's
    client lives, and the login waits until each send came back to the sender (so it is in the
    log). Each point fires once; :attr:`fired` lists the points in the order they fired.
    """

    POINTS = ("registered", "log_read")

    def __init__(self, user: str) -> None:
        self.user = user
        self.sender: Screen | None = None
        self.fired: list[str] = []
        self._loop = asyncio.get_running_loop()

    async def __call__(self, point: str, session: Session) -> None:
        if session.user != self.user or point in self.fired or self.sender is None:
            return
        self.fired.append(point)
        # The sender's client belongs to the notebook's loop: run the sends there and wait.
        sending = self._send(self.sender, point)
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(sending, self._loop))

    @staticmethod
    async def _send(sender: Screen, point: str) -> None:
        for i in (1, 2):
            await sender.client.send(f"{point} {i}")
            await sender.read_until(said(f"{point} {i}"))


class TextSocket(Protocol):
    """What :func:`read_frames` needs of a connection: ``recv()`` returning a text frame."""

    async def recv(self) -> Any: ...


async def read_frames(ws: TextSocket, done: Callable[[dict[str, Any]], bool],
                      timeout: float = 10.0) -> list[dict[str, Any]]:
    """Read JSON frames from ``ws`` until one satisfies ``done``; return them all, that one
    included. Raises :class:`TimeoutError` if no such frame comes within ``timeout`` seconds."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frames.append(json.loads(await ws.recv()))
            if done(frames[-1]):
                return frames


def without_ts(frame: dict[str, Any]) -> dict[str, Any]:
    """``frame`` without its ``ts`` (the time changes on every run; the rest is the lesson)."""
    return {k: v for k, v in frame.items() if k != "ts"}
