"""The server's frames as the client sees them: one frozen dataclass per event, and the decoder.

:func:`parse_event` turns one text frame from the server into a ``Welcome``, an
:data:`Event`, or None for a frame the client does not know (a newer server may add types).
No I/O.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

__all__ = [
    "Disconnected",
    "ErrorEvent",
    "Event",
    "Help",
    "History",
    "Message",
    "Presence",
    "Read",
    "Reconnected",
    "TypingNotice",
    "Users",
    "Welcome",
    "parse_event",
]

log = logging.getLogger("wschat.client")


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Welcome:
    """The server's answer to a successful login.

    ``read`` is the user's read position (None if never set) and ``unread`` how many messages
    from others after it the user can see, counted up to ``last`` and capped at 10,000 (show
    10,000 as "10,000+"). A server older than protocol v3 sends neither: None and 0.
    """

    user: str
    session: str
    epoch: str
    last: str | None
    recovered: bool
    online: tuple[str, ...]
    token: str
    read: str | None = None
    unread: int = 0


@dataclass(frozen=True, slots=True)
class Message:
    """A chat message. ``to`` is None for a public message; ``ref`` is set only on a message
    that answers a send of this client (PROTOCOL.md: a ref comes back only to the session that
    sent it): the live copy of the send, or the original that answers a resend. Replay,
    history and history pages never carry refs."""

    id: str
    sender: str
    to: str | None
    text: str
    ts: float
    ref: str | None = None

    @property
    def private(self) -> bool:
        """True for a private message."""
        return self.to is not None


@dataclass(frozen=True, slots=True)
class Presence:
    """``user``'s first session opened (``online`` True) or their last one closed."""

    user: str
    online: bool


@dataclass(frozen=True, slots=True)
class Read:
    """The user's read position moved to ``id`` (from this session or another of theirs)."""

    id: str


@dataclass(frozen=True, slots=True)
class TypingNotice:
    """``user`` is typing: to everyone (``to`` None) or to this user (``to`` set).
    Ephemeral: show it for a few seconds."""

    user: str
    to: str | None = None


@dataclass(frozen=True, slots=True)
class Users:
    """Who is online (the answer to ``who``)."""

    online: tuple[str, ...]
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class History:
    """A page of older messages, oldest first; ``more`` says whether older ones exist."""

    messages: tuple[Message, ...]
    more: bool
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Help:
    """The server's help text."""

    text: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    """An error the server sent; the connection stays open. ``ref`` names the frame that
    caused it, when it had one."""

    code: str
    detail: str
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection closed with ``code``; the client is reconnecting."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Reconnected:
    """The client logged in again; ``welcome.recovered`` tells whether the replay that follows
    continues exactly where the old connection stopped (True) or is history (False)."""

    welcome: Welcome


#: Everything the iteration of a :class:`ChatClient` yields.
Event = (
    Message
    | Presence
    | Read
    | TypingNotice
    | Users
    | History
    | Help
    | ErrorEvent
    | Disconnected
    | Reconnected
)


# --------------------------------------------------------------------------- parsing


class _Malformed(Exception):
    """A server frame whose fields do not have the protocol's types."""


def _str(obj: dict[str, object], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise _Malformed(f"{key!r} is not a string")
    return value


def _opt_str(obj: dict[str, object], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise _Malformed(f"{key!r} is not a string or null")
    return value


def _bool(obj: dict[str, object], key: str) -> bool:
    value = obj.get(key)
    if not isinstance(value, bool):
        raise _Malformed(f"{key!r} is not a boolean")
    return value


def _names(obj: dict[str, object], key: str) -> tuple[str, ...]:
    value = obj.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Malformed(f"{key!r} is not a list of names")
    return tuple(value)


def _count(obj: dict[str, object], key: str) -> int:
    value = obj.get(key, 0)
    if type(value) is not int or value < 0:
        raise _Malformed(f"{key!r} is not a count")
    return value


def _message(obj: dict[str, object]) -> Message:
    ts = obj.get("ts")
    if not isinstance(ts, (int, float)) or isinstance(ts, bool):
        raise _Malformed("'ts' is not a number")
    return Message(
        _str(obj, "id"), _str(obj, "from"), _opt_str(obj, "to"), _str(obj, "text"), float(ts),
        _opt_str(obj, "ref"),
    )


def parse_event(raw: str) -> Welcome | Event | None:
    """One server frame as a typed value, or None for a frame this client does not know
    (an unknown ``type``, a malformed field: logged and skipped, never fatal)."""
    try:
        obj = json.loads(raw)
        if not isinstance(obj, dict):
            raise _Malformed("not a JSON object")
        kind = obj.get("type")
        ref = _opt_str(obj, "ref")
        if kind == "message":
            return _message(obj)
        if kind == "presence":
            return Presence(_str(obj, "user"), _bool(obj, "online"))
        if kind == "read":
            return Read(_str(obj, "id"))
        if kind == "typing":
            return TypingNotice(_str(obj, "user"), _opt_str(obj, "to"))
        if kind == "users":
            return Users(_names(obj, "online"), ref)
        if kind == "history":
            messages = obj.get("messages")
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise _Malformed("'messages' is not a list of objects")
            return History(tuple(_message(m) for m in messages), _bool(obj, "more"), ref)
        if kind == "help":
            return Help(_str(obj, "text"), ref)
        if kind == "error":
            return ErrorEvent(_str(obj, "code"), _str(obj, "detail"), ref)
        if kind == "welcome":
            return Welcome(
                _str(obj, "user"), _str(obj, "session"), _str(obj, "epoch"),
                _opt_str(obj, "last"), _bool(obj, "recovered"), _names(obj, "online"),
                _str(obj, "token"), _opt_str(obj, "read"), _count(obj, "unread"),
            )
    except (_Malformed, ValueError, RecursionError) as error:
        log.warning("ignoring a malformed frame from the server (%s): %.200r", error, raw)
        return None
    log.debug("ignoring a frame of unknown type: %.200r", raw)
    return None
