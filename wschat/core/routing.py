"""Roster and routing: who is online, with which sessions, and who gets each entry. No I/O.

A *session* is whatever the server uses for one open connection (any hashable object).
A user is online while at least one of their sessions is open; users are identified by
their case-insensitive key (:func:`wschat.core.names.name_key`) and shown by the display name
given when their first session opened.

Everything here runs per message for thousands of sessions, so the indexes are kept
ready for the questions asked (sessions by user, users in display order) instead of being
rebuilt on each question.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Hashable
from typing import Generic, TypeVar

from wschat.core.model import Entry
from wschat.core.names import name_key

__all__ = ["Roster", "read_targets", "targets", "typing_targets"]

S = TypeVar("S", bound=Hashable)


class Roster(Generic[S]):
    """The open sessions of every online user.

    ``open`` and ``close`` report the transitions that PROTOCOL.md turns into ``presence``
    notices: a user's first session opening, their last one closing. Other tabs change
    nothing visible. Collections returned as *live views* reflect later changes: iterate
    them without awaiting in between, or copy them first.
    """

    __slots__ = ("_key_of", "_sessions", "_sorted_keys", "_sorted_names")

    def __init__(self) -> None:
        # user key -> that user's sessions, as an insertion-ordered set (dict with None values)
        self._sessions: dict[str, dict[S, None]] = {}
        self._key_of: dict[S, str] = {}  # session -> user key
        # Online users in display order, kept sorted on each change (bisect + list insert,
        # a C memmove) so that online() is one list copy even during a reconnect storm.
        self._sorted_keys: list[str] = []
        self._sorted_names: list[str] = []

    def open(self, user: str, session: S) -> bool:
        """Register ``session`` for ``user`` (a display name); True if ``user`` just came online.

        A session opens once: opening one that is already open raises ValueError.
        """
        if session in self._key_of:
            raise ValueError(f"session already open: {session!r}")
        key = name_key(user)
        self._key_of[session] = key
        sessions = self._sessions.get(key)
        if sessions is not None:
            sessions[session] = None
            return False
        self._sessions[key] = {session: None}
        index = bisect_left(self._sorted_keys, key)
        self._sorted_keys.insert(index, key)
        self._sorted_names.insert(index, user)
        return True

    def close(self, session: S) -> bool:
        """Forget ``session``; True if it was its user's last one (the user is now offline).

        Closing a session that is not open (never opened, or closed already) returns False.
        """
        key = self._key_of.pop(session, None)
        if key is None:
            return False
        sessions = self._sessions[key]
        del sessions[session]
        if sessions:
            return False
        del self._sessions[key]
        index = bisect_left(self._sorted_keys, key)
        del self._sorted_keys[index]
        del self._sorted_names[index]
        return True

    def sessions_of(self, user_key: str) -> Collection[S]:
        """The open sessions of the user with this key (empty if offline); a live view."""
        sessions = self._sessions.get(user_key)
        return sessions.keys() if sessions is not None else ()

    def online(self) -> list[str]:
        """Display names of the online users, sorted case-insensitively (a new list)."""
        return self._sorted_names.copy()

    def all_sessions(self) -> Collection[S]:
        """Every open session, in the order they opened; a live view."""
        return self._key_of.keys()

    def others(self, user_key: str) -> list[S]:
        """The sessions of every online user except ``user_key`` (who gets a presence notice)."""
        # Called when a user's first session opened or last one closed, so the user has one
        # session or none: one C-level copy of every session, then removing theirs, costs
        # less than walking the users in Python.
        result = list(self._key_of)
        mine = self._sessions.get(user_key)
        if not mine:
            return result
        if len(mine) > 4:  # many tabs: one filtering pass instead of a scan per tab
            return [session for session in result if session not in mine]
        for session in mine:
            result.remove(session)
        return result

    def __len__(self) -> int:
        """The number of open sessions."""
        return len(self._key_of)


def targets(entry: Entry, roster: Roster[S]) -> list[S]:
    """The open sessions that get ``entry``, each exactly once.

    Public: every open session, the sender's included. Private: every session of the sender
    and of the recipient (once, for a message to oneself), nobody else's.

    The result is a new list, a snapshot safe to iterate across awaits; for a public entry
    it is a single C-level copy of the session index, with no Python work per session.
    """
    if entry.to is None:
        return list(roster.all_sessions())
    sender, recipient = entry.sender_key, name_key(entry.to)
    result = list(roster.sessions_of(sender))
    if recipient != sender:
        result.extend(roster.sessions_of(recipient))
    return result


def typing_targets(sender: str, to: str | None, roster: Roster[S]) -> list[S]:
    """The open sessions that get a ``typing`` notice of ``sender`` (a name), each once.

    Without ``to``: the sessions of every other online user. With ``to``: the sessions of that
    user alone, none if it is the sender (the sender's own sessions never get their notice).
    A new list, safe to iterate across awaits.
    """
    sender_key = name_key(sender)
    if to is None:
        return roster.others(sender_key)
    to_key = name_key(to)
    if to_key == sender_key:
        return []
    return list(roster.sessions_of(to_key))


def read_targets(user: str, roster: Roster[S]) -> list[S]:
    """The open sessions that get a ``read`` notice of ``user`` (a name): all of theirs and
    nobody else's. A new list, safe to iterate across awaits."""
    return list(roster.sessions_of(name_key(user)))
