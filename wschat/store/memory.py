"""A store in plain lists and dicts: for tests and notebooks; everything is lost on exit.

Same semantics as :class:`wschat.store.sqlite.SQLiteStore`, and a new random epoch per
instance (a new process never continues an old log). Reads walk the list from the right end
and stop as soon as they have enough entries; fine for a notebook, not for a big log.
Unread counts are the exception, since a login asks for one: three sorted id lists (public
ids, each sender's public ids, each user's private ids from others) answer it with bisect,
in O(log n) whatever the log's length.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Sequence
from itertools import islice

from wschat.core.credentials import new_epoch
from wschat.core.model import Draft, Entry
from wschat.core.names import name_key
from wschat.store.base import (
    REF_WINDOW,
    TOKEN_PRUNE_EVERY,
    Account,
    Appended,
    StoreBase,
    account_key,
    before_fetch,
    before_page,
    check_drafts,
    new_entry,
    oldest_first,
    parse_seq_id,
    upper_bound,
)

__all__ = ["MemoryStore"]


class MemoryStore(StoreBase):
    """The :class:`~wschat.store.base.Store` interface over in-process lists and dicts.

    It needs no :meth:`open`, but accepts one (and ``async with``) so code can treat every
    store alike. Not thread-safe: use it from one event loop.
    """

    def __init__(self) -> None:
        self.epoch: str = new_epoch()
        self._accounts: dict[str, Account] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._tokens_pruned = float("-inf")
        self._entries: list[Entry] = []  # the entry with id "i" is at index i - 1
        self._refs: dict[tuple[str, str], tuple[int, float]] = {}
        self._refs_pruned = float("-inf")
        self._away: dict[str, tuple[int, int | None]] = {}
        self._reads: dict[str, int] = {}
        # Ordered id lists (append-only, so sorted for free) for unread counts by bisect.
        self._public: list[int] = []
        self._public_by: dict[str, list[int]] = {}  # sender key -> their public ids
        self._inbox: dict[str, list[int]] = {}  # user key -> private ids to them from others

    async def open(self) -> None:
        """Nothing to open; kept for the interface."""

    async def close(self) -> None:
        """Nothing to release; the data stays readable until the object is dropped."""


    # -- accounts -----------------------------------------------------------------------

    async def get_account(self, user_key: str) -> Account | None:
        return self._accounts.get(name_key(user_key))

    async def create_account(self, name: str, password_hash: str) -> Account:
        key = account_key(name)
        return self._accounts.setdefault(key, Account(name, key, password_hash))

    # -- tokens -----------------------------------------------------------------------------

    async def add_token(self, token_hash: str, user_key: str, expires_at: float) -> None:
        self._tokens[token_hash] = (user_key, expires_at)

    async def token_user(self, token_hash: str, now: float) -> str | None:
        self._prune_tokens(now)
        found = self._tokens.get(token_hash)
        if found is None or not found[1] > now:
            return None
        return found[0]

    async def revoke_token(self, token_hash: str) -> None:
        self._tokens.pop(token_hash, None)

    def _prune_tokens(self, now: float) -> None:
        if now - self._tokens_pruned < TOKEN_PRUNE_EVERY:
            return
        self._tokens_pruned = now
        for key in [k for k, (_, expires) in self._tokens.items() if not expires > now]:
            del self._tokens[key]

    # -- the log ----------------------------------------------------------------------------

    async def append(self, drafts: Sequence[Draft]) -> list[Appended]:
        check_drafts(drafts)  # all or nothing: nothing below can fail half-way
        results: list[Appended] = []
        for draft in drafts:
            sender_key = name_key(draft.sender)
            if draft.ref is not None:
                seen = self._refs.get((sender_key, draft.ref))
                if seen is not None and seen[1] >= draft.ts - REF_WINDOW:
                    results.append(Appended(self._entries[seen[0] - 1], False))
                    continue
            number = len(self._entries) + 1
            entry = new_entry(str(number), draft)
            self._entries.append(entry)
            self._index(number, sender_key, entry.to_key)
            if draft.ref is not None:
                self._refs[(sender_key, draft.ref)] = (number, draft.ts)
            results.append(Appended(entry, True))
        if drafts:
            self._prune_refs(max(draft.ts for draft in drafts))
        return results

    def _index(self, number: int, sender_key: str, to_key: str | None) -> None:
        if to_key is None:
            self._public.append(number)
            self._public_by.setdefault(sender_key, []).append(number)
        elif to_key != sender_key:
            self._inbox.setdefault(to_key, []).append(number)

    def _prune_refs(self, now: float) -> None:
        # Refs older than the window can never match again; drop them once per window.
        # Twice the window, so a clock stepping back a little loses nothing.
        if now - self._refs_pruned < REF_WINDOW:
            return
        self._refs_pruned = now
        horizon = now - 2 * REF_WINDOW
        for key in [k for k, (_, ts) in self._refs.items() if ts < horizon]:
            del self._refs[key]

    async def head(self) -> str | None:
        return str(len(self._entries)) if self._entries else None

    def _visible_down(self, user_key: str, below: int) -> Iterator[Entry]:
        """Visible entries with id < ``below``, newest first."""
        user_key = name_key(user_key)
        for index in range(min(below - 1, len(self._entries)) - 1, -1, -1):
            entry = self._entries[index]
            if entry.visible_to(user_key):
                yield entry

    async def after(
        self, user_key: str, after_id: str, upto: str | None, limit: int
    ) -> list[Entry] | None:
        start = parse_seq_id(after_id)
        if start is None or start > len(self._entries):
            return None
        stop = min(upper_bound(upto), len(self._entries))
        user_key = name_key(user_key)
        found: list[Entry] = []
        for index in range(start, stop):  # ids start+1 .. stop
            if len(found) >= limit:
                break
            entry = self._entries[index]
            if entry.visible_to(user_key):
                found.append(entry)
        return found

    async def recent(self, user_key: str, n: int, upto: str | None = None) -> list[Entry]:
        return oldest_first(islice(self._visible_down(user_key, upper_bound(upto) + 1), max(n, 0)))

    async def before(
        self, user_key: str, before_id: str | None, n: int
    ) -> tuple[list[Entry], bool]:
        if before_id is None:
            below = len(self._entries) + 1
        else:
            parsed = parse_seq_id(before_id)
            if parsed is None:
                return [], False
            below = parsed
        return before_page(list(islice(self._visible_down(user_key, below), before_fetch(n))), n)

    async def get(self, entry_id: str) -> Entry | None:
        number = parse_seq_id(entry_id)
        if number is None or number > len(self._entries):
            return None
        return self._entries[number - 1]

    # -- store-and-forward ------------------------------------------------------------------

    async def went_offline(self, user_key: str) -> None:
        self._away[name_key(user_key)] = (len(self._entries), None)

    async def came_online(self, user_key: str) -> None:
        key = name_key(user_key)
        if key in self._away:
            self._away[key] = (self._away[key][0], len(self._entries))

    async def forwarded(self, user_key: str, upto: str | None) -> list[Entry]:
        key = name_key(user_key)
        if key not in self._away:
            return []
        start, end = self._away[key]
        stop = min(upper_bound(upto), len(self._entries) if end is None else end)
        return [
            entry
            for entry in self._entries[start:stop]
            if entry.to_key == key and entry.sender_key != key
        ]

    # -- read positions ---------------------------------------------------------------------

    async def read_position(self, user_key: str) -> str | None:
        number = self._reads.get(name_key(user_key))
        return None if number is None else str(number)

    async def set_read(self, user_key: str, entry_id: str) -> bool:
        number = parse_seq_id(entry_id)
        if number is None:
            raise ValueError(f"not a log id: {entry_id!r}")
        key = name_key(user_key)
        if number <= self._reads.get(key, 0):
            return False
        self._reads[key] = number
        return True

    async def unread(self, user_key: str, after: str | None, upto: str | None, cap: int) -> int:
        key = name_key(user_key)
        low = 0 if after is None else upper_bound(after)
        high = min(upper_bound(upto), len(self._entries))
        if high <= low:
            return 0
        count = (
            _in_range(self._public, low, high)
            - _in_range(self._public_by.get(key, []), low, high)
            + _in_range(self._inbox.get(key, []), low, high)
        )
        return min(count, max(cap, 0))


def _in_range(ids: list[int], low: int, high: int) -> int:
    """How many of the sorted ``ids`` have ``low < id <= high`` (two bisections)."""
    return bisect_right(ids, high) - bisect_right(ids, low)
