"""The log's entries: what every store returns and every part of the server passes around."""

from __future__ import annotations

from dataclasses import dataclass

from wschat.core.names import name_key

__all__ = ["Draft", "Entry", "log_order"]


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
    ``"<ms>-<seq>"``. One epoch never mixes the two forms. Raises ValueError otherwise.
    """
    head, sep, tail = entry_id.partition("-")
    if not head.isdigit() or (sep and not tail.isdigit()):
        raise ValueError(f"not a log id: {entry_id!r}")
    return int(head), int(tail) if sep else 0
