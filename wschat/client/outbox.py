"""The sends a client waits to see answered, and how it tells a resend's answer from news. No I/O.

Every ``send`` (and ``who``, ``history``) carries a ``ref`` and waits in the :class:`Outbox`
until a frame with that ref comes back: the message itself, or an error (docs/decisions.md,
"Refs"). After a reconnect each pending frame is written again with its same ref, and the
server answers it: with the original message if it had taken it, else by publishing it now.

When the server had taken a send but the connection dropped before its answer arrived, the
message reaches the client twice: in the replay (without ref) and as the answer to the resend
(with it). That answer acknowledges the send; it is not a new message. The outbox recognises
it (:meth:`Outbox.is_repeat`) only when it carries the ref of a pending send *and* its id was
delivered since that send was queued; any other repeated id is news (a server that doubled a
message must be seen). To know "delivered since the send was queued", the outbox counts the
messages delivered and keeps the ids of those delivered while some send waits; each is
forgotten once no pending send is older than it, so nothing is kept while the outbox is empty.
"""

from __future__ import annotations

import collections
import itertools
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

__all__ = ["Outbox", "Pending", "random_refs"]


def random_refs() -> Callable[[str], str]:
    """A maker of the refs a client chooses, by kind (``send``, ``request``, ``sync``,
    ``drop``): a counter and 32 random bits, so that two clients of a user never collide."""
    counter = itertools.count(1)
    prefixes = {"send": "c", "request": "c"}
    return lambda kind: f"{prefixes.get(kind, kind)}-{next(counter)}-{secrets.token_hex(4)}"


@dataclass(eq=False)
class Pending:
    """A frame waiting for its answer. ``gen`` is the connection it was last written on (-1:
    none yet); ``since`` how many messages had been delivered when it was queued."""

    ref: str
    frame: str
    gen: int = -1
    since: int = 0


class Outbox:
    """Pending frames in the order they were queued, with the ids needed to recognise the
    answer to a resend. ``restored`` frames come from an earlier run of the client (the
    browser's sessionStorage); ``delivered`` are the ids that run delivered, needed only when
    some frame is restored."""

    def __init__(self, restored: Iterable[tuple[str, str]] = (), delivered: Iterable[str] = ()) -> None:
        # Generation 0 is no connection of this run: a restored frame counts as written once.
        self._items = {ref: Pending(ref, frame, gen=0) for ref, frame in restored}
        self._delivered = 0
        # id -> delivery count at its latest delivery, plus the same pairs in delivery order
        # (for pruning): the messages delivered while some send waited.
        self._recent: dict[str, int] = {}
        self._order: collections.deque[tuple[int, str]] = collections.deque()
        if self._items:
            for message_id in delivered:
                self._remember(message_id)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Pending]:
        return iter(list(self._items.values()))

    def __contains__(self, ref: object) -> bool:
        return ref in self._items

    @property
    def refs(self) -> tuple[str, ...]:
        """The refs waiting for an answer, oldest first."""
        return tuple(self._items)

    @property
    def remembered(self) -> int:
        """How many delivered ids are kept to recognise answers (0 whenever nothing waits)."""
        return len(self._order)

    def add(self, ref: str, frame: str) -> Pending:
        """Queue ``frame`` under ``ref``; a ref already waiting keeps its first frame."""
        item = self._items.get(ref)
        if item is None:
            item = self._items[ref] = Pending(ref, frame, since=self._delivered)
        return item

    def unsent(self, gen: int) -> list[Pending]:
        """The frames not yet written on connection ``gen``, oldest first."""
        return [item for item in self._items.values() if item.gen != gen]

    def is_repeat(self, message_id: str, ref: str | None) -> bool:
        """True if a message with this id and ref answers a pending send and its id was
        delivered since that send was queued: the acknowledgment of a resend, not news."""
        item = self._items.get(ref) if ref is not None else None
        if item is None:
            return False
        count = self._recent.get(message_id)
        return count is not None and count >= item.since

    def delivered(self, message_id: str) -> None:
        """Count one message delivered to the caller, remembering its id while some send waits."""
        if self._items:
            self._remember(message_id)
        self._delivered += 1

    def acknowledge(self, ref: str | None) -> Pending | None:
        """Take the frame ``ref`` answers off the outbox; None when no such frame waits."""
        item = self._items.pop(ref, None) if ref is not None else None
        if item is None:
            return None
        # Forget the ids delivered before the oldest send still waiting was queued (all of
        # them when none waits, restored ones included): no answer can need them any more.
        # A dict keeps insertion order, so its first item is the oldest send.
        oldest = next(iter(self._items.values()), None)
        floor = oldest.since if oldest is not None else float("inf")
        while self._order and self._order[0][0] < floor:
            count, message_id = self._order.popleft()
            if self._recent.get(message_id) == count:
                del self._recent[message_id]
        return item

    def _remember(self, message_id: str) -> None:
        self._recent[message_id] = self._delivered
        self._order.append((self._delivered, message_id))
