"""The chat's log, accounts and tokens: one interface, a memory store and a SQLite store.

The Redis store, shared by several server processes, is :mod:`wschat.cluster.redis_store`
(``serve --redis URL``; see :mod:`wschat.cluster` for what the processes share besides the log).

``open_store(db)`` turns the ``--db`` option of ``wschat serve`` into a store (not yet opened):
``":memory:"`` gives an in-memory SQLite database, anything else is a file path.
"""

from __future__ import annotations

from wschat.store.base import REF_WINDOW, Account, Appended, Store, StoreError
from wschat.store.memory import MemoryStore
from wschat.store.sqlite import SQLiteStore

__all__ = [
    "REF_WINDOW",
    "Account",
    "Appended",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "StoreError",
    "open_store",
]


def open_store(db: str) -> Store:
    """The store for ``--db DB``; call ``await store.open()`` (or ``async with``) next.

    ``":memory:"`` is a SQLite database that lives as long as the process; any other value is
    the path of a SQLite file, created on first open. An empty value raises StoreError.
    """
    if not db:
        raise StoreError("--db needs a file path or :memory:")
    return SQLiteStore(db)
