"""What the client's state machine tells its driver, as data. No I/O.

:class:`~wschat.client.protocol.ClientProtocol` reports where it stands (:class:`Phase`), the
frames to write and why (:class:`Write`), when to reconnect (:class:`Retry`), what a frame
meant (:data:`Meaning`), and two notes that only a screen needs beside the user's events
(:class:`Confirmed`, :class:`Online`). The browser's ``client_machine.js`` uses the same names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, Literal

from wschat.client.events import Event, Message
from wschat.core.errors import CloseCode

__all__ = [
    "LEAVING_CODES",
    "RECONNECT_CODES",
    "Confirmed",
    "Meaning",
    "Online",
    "Output",
    "Phase",
    "Retry",
    "Why",
    "Write",
]

#: Close codes after which a client reconnects and resumes (PROTOCOL.md).
RECONNECT_CODES: Final = frozenset({
    CloseCode.GOING_AWAY, CloseCode.ABNORMAL, CloseCode.INTERNAL_ERROR,
    CloseCode.SERVICE_RESTART, CloseCode.TRY_AGAIN_LATER, CloseCode.SLOW_READER,
})

#: Close codes that say "this server is leaving": the next attempt goes to another URL at once.
LEAVING_CODES: Final = frozenset({CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART})

#: What a received frame meant, as :meth:`ClientProtocol.receive` reports it (for logs and
#: for the browser's protocol inspector).
Meaning = Literal[
    "welcome", "refused", "unexpected", "backlog", "live", "confirmed", "barrier",
    "drop_refused", "event", "ignored",
]


#: Why a frame is written: the login comes from :meth:`ClientProtocol.connecting`; ``send`` is a
#: frame's first write, ``resend`` a later one (after a reconnect, or a reload's outbox).
Why = Literal["barrier", "send", "resend", "request", "read", "typing", "drop", "logout"]


class Phase(enum.Enum):
    """Where the client stands. Frames flow only in ``CATCHING_UP`` (the barrier, a logout)
    and ``READY`` (everything)."""

    CLOSED = "closed"  #: no connection yet
    OPENING = "opening"  #: the login was written; no ``welcome`` yet
    CATCHING_UP = "catching_up"  #: logged in; the backlog (history or replay) is arriving
    READY = "ready"  #: the backlog is over: sends go out as they are made
    WAITING = "waiting"  #: the connection is gone; open another as :attr:`Retry` says
    FINISHED = "finished"  #: no more connections (:attr:`ClientProtocol.error` says why)


@dataclass(frozen=True, slots=True)
class Retry:
    """A reconnect is due: the ``attempt``-th of this outage (0 first: wait a random time in
    ``[0, min(cap, first * 2**attempt)]``), to the next URL of a list when ``next_url``; with
    ``at_once`` (the password after a refused token), without waiting."""

    attempt: int
    next_url: bool = False
    at_once: bool = False


@dataclass(frozen=True, slots=True)
class Write:
    """A frame to write on the current connection, and why (for logs and inspectors)."""

    frame: str
    why: Why


@dataclass(frozen=True, slots=True)
class Confirmed:
    """The answer to a resend whose message the caller already has (from a replay, without
    ref): it acknowledges the send and is not a new message (docs/decisions.md, "Refs")."""

    message: Message


@dataclass(frozen=True, slots=True)
class Online:
    """Who is online right after a backlog: the answer to the client's own barrier ``who``,
    which the caller did not ask for."""

    online: tuple[str, ...]


#: What :meth:`ClientProtocol.events_received` returns: the user's events, plus the two notes
#: only a screen needs (``ChatClient`` does not yield them).
Output = Event | Confirmed | Online
