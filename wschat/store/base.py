"""The store's interface (:class:`Store`) and the values every store shares.

The store is the log. Every accepted message is appended to it and gets an id; delivery,
replay after a reconnect, history and store-and-forward are all reads of that one log. It also
keeps accounts, login tokens (hashes only), the refs a client sent recently (so a resend is
published once), when each user went away and came back, and each user's read position.

Ids are opaque to clients. In the memory and SQLite stores they are decimal strings of an
increasing sequence (``"1"``, ``"2"``, ...): compare them with :func:`wschat.core.model.log_order`,
never as strings (``"10" < "9"``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from wschat.core.errors import WschatError
from wschat.core.model import Draft, Entry
from wschat.core.names import is_valid_name, name_key
from wschat.core.requests import is_utf8_safe

__all__ = [
    "MAX_SEQ_ID",
    "REF_WINDOW",
    "TOKEN_PRUNE_EVERY",
    "Account",
    "Appended",
    "Store",
    "StoreBase",
    "StoreError",
    "account_key",
    "before_fetch",
    "before_page",
    "check_drafts",
    "new_entry",
    "oldest_first",
    "parse_seq_id",
    "upper_bound",
]

#: Seconds an accepted ``ref`` is remembered: a resend within this window is not stored again.
REF_WINDOW = 600.0

#: How often (in the callers' clock, seconds) a store deletes expired tokens.
TOKEN_PRUNE_EVERY = 3600.0

#: The largest sequence id (SQLite's INTEGER PRIMARY KEY is a signed 64-bit integer).
MAX_SEQ_ID = 2**63 - 1

_SEQ_ID = re.compile(r"[1-9][0-9]{0,18}")


class StoreError(WschatError):
    """The store cannot work: a file that is not a database, unwritable, corrupt, not open.

    ``str(error)`` is one line meant for a user (the CLI prints it instead of a traceback).
    """


@dataclass(frozen=True, slots=True)
class Account:
    """A registered user: the first login's spelling, its key, and the password's hash."""

    name: str
    key: str
    password_hash: str


@dataclass(frozen=True, slots=True)
class Appended:
    """What :meth:`Store.append` did with one draft.

    ``created`` False means the draft's ref had already been accepted from the same sender
    within :data:`REF_WINDOW`: nothing was stored and ``entry`` is the original message.
    """

    entry: Entry
    created: bool


class StoreBase:
    """What every store class shares: ``async with store:`` and :meth:`last_visible`.

    ``async with`` opens the store and closes it again. Subclasses give ``open()``,
    ``close()`` and ``recent()`` (see :class:`Store`); :meth:`last_visible` is built on
    ``recent()``.
    """

    async def open(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def recent(self, user_key: str, n: int, upto: str | None = None) -> list[Entry]:
        raise NotImplementedError

    async def last_visible(self, user_key: str) -> str | None:
        """The newest id visible to ``user_key`` (None if none): the last of :meth:`recent` 1."""
        newest = await self.recent(user_key, 1)
        return newest[-1].id if newest else None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


@runtime_checkable
class Store(Protocol):
    """The log, accounts, tokens, refs and away marks of one server (or one shared database).

    User keys are :func:`wschat.core.names.name_key` of a name. "Visible to a user" means
    :meth:`wschat.core.model.Entry.visible_to`: public, or sent by or to that user. Every method
    that returns entries returns them in log order, oldest first.
    """

    #: The log's epoch, set by :meth:`open`; the same after a restart on the same database.
    #: Ids from one epoch mean nothing in another.
    epoch: str

    async def open(self) -> None:
        """Open (creating if needed) the storage and set :attr:`epoch`. Raises StoreError."""
        ...

    async def close(self) -> None:
        """Release the storage. Everything an earlier call returned from is already durable."""
        ...

    # -- accounts -----------------------------------------------------------------------

    async def get_account(self, user_key: str) -> Account | None:
        """The account with key ``user_key``, or None if that name was never registered."""
        ...

    async def create_account(self, name: str, password_hash: str) -> Account:
        """Register ``name`` atomically; if its key exists, return the EXISTING account unchanged.

        The caller then verifies the password against the returned account's hash: of two
        first logins racing for one name, exactly one password wins. ValueError for an
        invalid name.
        """
        ...

    # -- tokens (only hashes are stored) --------------------------------------------------

    async def add_token(self, token_hash: str, user_key: str, expires_at: float) -> None:
        """Remember a token (by its hash) for ``user_key`` until ``expires_at`` (epoch seconds)."""
        ...

    async def token_user(self, token_hash: str, now: float) -> str | None:
        """The user key of a known, unrevoked token with ``expires_at > now``, else None."""
        ...

    async def revoke_token(self, token_hash: str) -> None:
        """Forget a token; unknown hashes are ignored."""
        ...

    # -- the log ----------------------------------------------------------------------------

    async def append(self, drafts: Sequence[Draft]) -> list[Appended]:
        """Append a burst of drafts in ONE transaction, committed before this returns.

        One result per draft, in order; new ids increase in log order. A draft whose ref the
        same sender (by key) had accepted within REF_WINDOW seconds of the draft's ``ts``
        (earlier in the same batch included) is not stored: ``Appended(original, False)``.
        """
        ...

    async def head(self) -> str | None:
        """The newest id in the whole log, None if the log is empty. (The one-process bus asks
        it after an append that failed unexpectedly: has anything been committed?)"""
        ...

    async def last_visible(self, user_key: str) -> str | None:
        """The newest id visible to ``user_key``, None if there is none."""
        ...

    async def after(
        self, user_key: str, after_id: str, upto: str | None, limit: int
    ) -> list[Entry] | None:
        """Visible entries with ``after_id < id <= upto`` (``upto`` None: no bound), at most ``limit``.

        None when ``after_id`` is not an id the log holds (unknown or malformed), whether or not
        that entry is visible to the user: the caller then sends history instead of a replay.
        """
        ...

    async def recent(self, user_key: str, n: int, upto: str | None = None) -> list[Entry]:
        """The newest ``n`` visible entries with ``id <= upto``, returned oldest first."""
        ...

    async def before(
        self, user_key: str, before_id: str | None, n: int
    ) -> tuple[list[Entry], bool]:
        """The ``n`` visible entries just older than ``before_id`` (None: from the newest).

        Returns them oldest first, and whether older visible entries remain. A malformed
        ``before_id`` gives ``([], False)``; a well-formed one need not be in the log.
        """
        ...

    async def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, None if unknown or malformed."""
        ...

    # -- store-and-forward ------------------------------------------------------------------

    async def went_offline(self, user_key: str) -> None:
        """Remember :meth:`head` as the start of the user's away period (their last session closed)."""
        ...

    async def came_online(self, user_key: str) -> None:
        """Remember :meth:`head` as the end of the user's away period (their first session opened)."""
        ...

    async def forwarded(self, user_key: str, upto: str | None) -> list[Entry]:
        """Private entries to the user from others in the last away period ``(start, end]``.

        Also bounded by ``id <= upto``; oldest first. While the user is still marked away
        (no :meth:`came_online` since), only ``upto`` bounds the period. Empty if the user was
        never marked offline.
        """
        ...

    # -- read positions ---------------------------------------------------------------------

    async def read_position(self, user_key: str) -> str | None:
        """The user's read position (one per user, not per session), None if never set."""
        ...

    async def set_read(self, user_key: str, entry_id: str) -> bool:
        """Move the user's read position to ``entry_id`` if it is later in the log than the
        current one (or there is none); True if it moved, False if it stayed.

        Forward-only and atomic, across processes sharing the store too: of two calls racing,
        the later id wins whatever the order they land in. The caller has checked that
        ``entry_id`` is in the log and visible to the user; ValueError if it is not an id of
        this store's form.
        """
        ...

    async def unread(self, user_key: str, after: str | None, upto: str | None, cap: int) -> int:
        """How many entries visible to the user and NOT sent by them have
        ``after < id <= upto`` (``after`` None: from the start; ``upto`` None: no bound),
        counted up to ``cap``: ``min(count, cap)``.

        Never a scan of the whole log: each store answers from its indexes, reading at most
        about ``cap`` entries (see each store for its bound).
        """
        ...


# -- helpers shared by every store ---------------------------------------------------------------


def account_key(name: str) -> str:
    """The key of the account ``name`` would create; ValueError if it is not a valid user name.

    What :meth:`Store.create_account` checks before it stores anything.
    """
    if not is_valid_name(name):
        raise ValueError(f"invalid user name: {name!r}")
    return name_key(name)


def new_entry(entry_id: str, draft: Draft) -> Entry:
    """The log entry that storing ``draft`` under ``entry_id`` made (``ts`` as a float)."""
    return Entry(entry_id, draft.sender, draft.to, draft.text, float(draft.ts), draft.ref)


def oldest_first(newest_first: Iterable[Entry]) -> list[Entry]:
    """Entries a store read newest first (its index walks down from the top), in log order:
    what :meth:`Store.recent` and :meth:`Store.before` return."""
    found = list(newest_first)
    found.reverse()
    return found


def before_fetch(n: int) -> int:
    """How many visible entries :meth:`Store.before` reads for a page of ``n``: one more
    than the page (``n`` below 0 counts as 0), so :func:`before_page` can tell whether
    older ones remain.
    """
    return max(n, 0) + 1


def before_page(newest_first: Sequence[Entry], n: int) -> tuple[list[Entry], bool]:
    """The result of :meth:`Store.before` from the entries it read, newest first.

    ``newest_first`` holds at most :func:`before_fetch` ``(n)`` entries. Returns the newest
    ``n`` of them (``n`` below 0 counts as 0) oldest first, and whether there were more.
    """
    n = max(n, 0)
    return oldest_first(newest_first[:n]), len(newest_first) > n


# -- helpers shared by the stores whose ids are sequence numbers (memory, SQLite) --------------


def parse_seq_id(entry_id: object) -> int | None:
    """The number of a sequence id in its one canonical spelling (``"42"``), else None.

    ``"042"``, ``"+42"``, ``" 42"``, ``"4_2"``, non-ASCII digits and ids past 64 bits are not
    ids: a client's ``resume.after`` is untrusted input and must never reach SQL as anything
    but a checked int.
    """
    if not isinstance(entry_id, str) or _SEQ_ID.fullmatch(entry_id) is None:
        return None
    number = int(entry_id)
    return number if number <= MAX_SEQ_ID else None


def upper_bound(upto: str | None) -> int:
    """The numeric bound of an ``upto`` argument; ValueError if it is not a sequence id.

    ``upto`` comes from the server itself (a ``head()`` it read), so a bad one is a bug.
    """
    if upto is None:
        return MAX_SEQ_ID
    number = parse_seq_id(upto)
    if number is None:
        raise ValueError(f"upto is not a log id: {upto!r}")
    return number


def check_drafts(drafts: Sequence[Draft]) -> None:
    """Raise ValueError (TypeError for a non-Draft) before anything is stored, if a draft
    could not be a log entry.

    The server validates client input first; this keeps a bug from writing a row that no
    reader could turn back into an :class:`~wschat.core.model.Entry`.
    """
    for draft in drafts:
        if not isinstance(draft, Draft):
            raise TypeError(f"not a Draft: {draft!r}")
        if not is_valid_name(draft.sender):
            raise ValueError(f"invalid sender name: {draft.sender!r}")
        if draft.to is not None and not is_valid_name(draft.to):
            raise ValueError(f"invalid recipient name: {draft.to!r}")
        if not isinstance(draft.text, str) or not is_utf8_safe(draft.text):
            raise ValueError("draft text must be a str that encodes to UTF-8")
        if not isinstance(draft.ts, (int, float)) or not math.isfinite(draft.ts):
            raise ValueError(f"draft ts must be a finite number: {draft.ts!r}")
        if draft.ref is not None and not (isinstance(draft.ref, str) and is_utf8_safe(draft.ref)):
            raise ValueError("draft ref must be None or a str that encodes to UTF-8")
