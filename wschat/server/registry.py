"""Who is connected to this process: every session by user and by id, and those catching up."""

from __future__ import annotations

from collections.abc import Collection

from wschat.core.routing import Roster
from wschat.server.session import Session

__all__ = ["Registry"]


class Registry:
    """The sessions of this process. No I/O: the catch-up registers and unregisters them, the
    router and the bus read who is here.

    ``catching_up`` lists the sessions whose :attr:`Session.catching_up` is set, so that a
    broadcast finds them without a pass over every session (the live path holds its items for
    them instead of writing: see :class:`~wschat.server.session.Session`).
    """

    def __init__(self) -> None:
        self.roster: Roster[Session] = Roster()
        self.by_sid: dict[str, Session] = {}
        self.catching_up: set[Session] = set()

    def register(self, session: Session) -> bool:
        """Add ``session``, catching up (its live items are held); True if it is its user's
        first session here."""
        first = self.roster.open(session.user, session)
        self.catching_up.add(session)
        self.by_sid[session.sid] = session
        return first

    def go_live(self, session: Session) -> None:
        """``session`` ends its catch-up (see :meth:`Session.go_live`, which may refuse)."""
        session.go_live()
        self.catching_up.discard(session)

    def unregister(self, session: Session) -> bool:
        """Forget ``session`` (nothing more is written to it); True if it was its user's last."""
        session.closing = True
        self.catching_up.discard(session)
        self.by_sid.pop(session.sid, None)
        return self.roster.close(session)

    def sender(self, origin: str | None) -> Session | None:
        """The session with id ``origin`` if it is here (the sender of an entry), else None."""
        return self.by_sid.get(origin) if origin is not None else None

    def everyone(self) -> Collection[Session]:
        """Every session here, in the order they opened; a live view."""
        return self.roster.all_sessions()

    def online(self) -> list[str]:
        """The users with a session here, sorted case-insensitively (a new list)."""
        return self.roster.online()

    def __len__(self) -> int:
        return len(self.roster)
