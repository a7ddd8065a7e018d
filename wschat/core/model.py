"""The log's entries: what every store returns and every part of the server passes around."""

from __future__ import annotations

import re
from dataclasses import dataclass

from wschat.core.names import name_key

__all__ = ["Draft", "Entry", "is_later", "log_order"]

#: The two forms of a wschat id: ``"42"`` (memory, SQLite) and ``"<ms>-<seq>"`` (Redis), ASCII
#: digits only.
_ID = re.compile(r"([0-9]+)(?:-([0-9]+))?")


@dataclass(frozen=True, slots=True)
class Draft:
    """A message accepted from a client and not yet in the log (it has no id yet).

    ``sender`` and ``to`` are display spellings (the first login's); ``ref`` is the
    sender's idempotency key, kept so that a resend returns the original entry. ``origin`` is
    the session that sent it: a store shared by several processes keeps it with the entry so
    that the process holding that session sends it the ``ref`` (others ignore it).
    """

    sender: str
    to: str | None
    text: str
    ts: float
    ref: str | None = None
    origin: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """A message in the log. ``id`` is opaque to clients, unique in the store's epoch."""

    id: str
    sender: str
    to: str | None
    text: str
    ts: float
    ref: str | None = None

    @property
    def sender_key(self) -> str:
        """The sender's case-insensitive key."""
        return name_key(self.sender)

    @property
    def to_key(self) -> str | None:
        """The recipient's key, or None for a public message."""
        return None if self.to is None else name_key(self.to)

    def visible_to(self, user_key: str) -> bool:
        """Public entries are visible to everyone; private ones to sender and recipient only."""
        return self.to is None or self.sender_key == user_key or self.to_key == user_key


def log_order(entry_id: str) -> tuple[int, int]:
    """Sort key of an id in log order, for the server's own comparisons only.

    Memory and SQLite ids are decimal sequence numbers (``"42"``); Redis stream ids are
    ``"<ms>-<seq>"``; both in ASCII digits. One epoch never mixes the two forms. Raises
    ValueError for anything else.
    """
    match = _ID.fullmatch(entry_id)
    if match is None:
        raise ValueError(f"not a log id: {entry_id!r}")
    head, tail = match.groups()
    return int(head), int(tail) if tail is not None else 0


def is_later(a: str, b: str | None) -> bool:
    """True when id ``a`` comes after id ``b`` in log order, or ``b`` is None (nothing yet).

    Ids are opaque strings to a client (PROTOCOL.md); wschat's own are ordered by
    :func:`log_order`. **An id this cannot order counts as later**: when ``a`` or ``b`` is not
    of wschat's forms (``"abc"``, ``""``, ``"4 2"``, digits other than ASCII ``0-9``), the
    answer is True, so a client takes the server's word (moves its read position, shows the
    message as new) instead of dropping what it cannot judge; the server checks every id it
    is sent. ``is_later(a, a)`` is False for an id it can order. The browser client's
    ``isLater`` (``wschat/static/chat_wire.js``) follows the same rule, and the cases in
    ``tests/client/client_vectors.json`` hold both to it.
    """
    if b is None:
        return True
    try:
        return log_order(a) > log_order(b)
    except ValueError:
        return True
