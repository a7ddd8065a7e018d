"""The log in one SQLite file (stdlib ``sqlite3``): the default store of ``wschat serve``.

Durability: the database runs in WAL mode with ``synchronous=NORMAL``. Every commit is written
to the WAL file before ``commit`` returns, so it survives the death of the process (a crash,
SIGKILL, ``os._exit``) even without :meth:`SQLiteStore.close`; only a power cut or an OS crash
can lose the last few commits, never corrupt the file. ``FULL`` would add an fsync per commit
for that last case, which a chat server does not need.

Trade-off: every call runs synchronously inside its ``async`` method, on the event loop, instead
of in a worker thread. Each call is a few indexed statements on a local file (microseconds) and
the server appends once per burst of messages, not once per message, so a thread hop would cost
more than it saves. The connection is opened with ``check_same_thread=False`` and guarded by a
lock, so using the store from another thread (a notebook, a test) is safe, just not parallel.

Ids are the ``INTEGER PRIMARY KEY AUTOINCREMENT`` of ``messages``: increasing, never reused.
Visibility is answered in SQL from the indexes on ``(to_key, id, sender_key)`` and
``(sender_key, id)``: public rows, rows to the user, rows from the user, each read newest or
oldest first and merged, so a read touches about ``limit`` rows however long the log is.

Unread counts (``welcome.unread``) are two bounded ``COUNT`` sub-selects over the first index
alone (it covers ``sender_key``, so no table row is read): public rows, and rows to the user,
after the read position, not from the user, each with ``LIMIT cap``. A count reads at most
``2 * cap`` index entries plus the user's own public messages in that range, never the log.

Upgrades: the ``reads`` table and the covering index came after schema 1 without changing it
(an older wschat ignores both), so :meth:`SQLiteStore.open` adds them to an older file.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from wschat.core.credentials import new_epoch
from wschat.core.model import Draft, Entry
from wschat.core.names import name_key
from wschat.store.base import (
    MAX_SEQ_ID,
    REF_WINDOW,
    TOKEN_PRUNE_EVERY,
    Account,
    Appended,
    StoreBase,
    StoreError,
    account_key,
    before_fetch,
    before_page,
    check_drafts,
    new_entry,
    oldest_first,
    parse_seq_id,
    upper_bound,
)

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

#: Version of the tables below, kept in ``meta``; a file with another version is refused.
SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID",
    (
        "CREATE TABLE accounts (key TEXT PRIMARY KEY, name TEXT NOT NULL,"
        " password_hash TEXT NOT NULL) WITHOUT ROWID"
    ),
    (
        "CREATE TABLE tokens (hash TEXT PRIMARY KEY, user_key TEXT NOT NULL,"
        " expires_at REAL NOT NULL) WITHOUT ROWID"
    ),
    "CREATE INDEX tokens_expiry ON tokens (expires_at)",
    (
        "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT NOT NULL,"
        " sender_key TEXT NOT NULL, to_name TEXT, to_key TEXT, text TEXT NOT NULL,"
        " ts REAL NOT NULL, ref TEXT)"
    ),
    "CREATE INDEX messages_to_sender ON messages (to_key, id, sender_key)",
    "CREATE INDEX messages_sender ON messages (sender_key, id)",
    (
        "CREATE TABLE refs (user_key TEXT NOT NULL, ref TEXT NOT NULL, entry_id INTEGER NOT NULL,"
        " ts REAL NOT NULL, PRIMARY KEY (user_key, ref)) WITHOUT ROWID"
    ),
    "CREATE INDEX refs_ts ON refs (ts)",
    (
        "CREATE TABLE away (user_key TEXT PRIMARY KEY, start_id INTEGER NOT NULL,"
        " end_id INTEGER) WITHOUT ROWID"
    ),
    "CREATE TABLE reads (user_key TEXT PRIMARY KEY, entry_id INTEGER NOT NULL) WITHOUT ROWID",
)

#: What a schema-1 file made by an older wschat lacks, added at open (each is idempotent).
_UPGRADES = (
    "CREATE TABLE IF NOT EXISTS reads (user_key TEXT PRIMARY KEY, entry_id INTEGER NOT NULL)"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS messages_to_sender ON messages (to_key, id, sender_key)",
    "DROP INDEX IF EXISTS messages_to",  # a prefix of messages_to_sender: only slows writes
)

_COLUMNS = "id, sender, to_name, text, ts, ref"


def _visible(condition: str, order: str) -> str:
    """A query for entries visible to ``:user`` that meet ``condition``, in ``order``, ``:lim`` max.

    One sub-select per way an entry can be visible, each an index range scan that stops after
    ``:lim`` rows; UNION merges them and drops the duplicates (a public message or a message to
    oneself matches two branches). Only fixed fragments go into the text; values are bound.
    """
    branch = (
        f"SELECT * FROM (SELECT {_COLUMNS} FROM messages WHERE {{who}} AND {condition}"
        f" ORDER BY id {order} LIMIT :lim)"
    )
    whos = ("to_key IS NULL", "to_key = :user", "sender_key = :user")
    return " UNION ".join(branch.format(who=who) for who in whos) + (
        f" ORDER BY id {order} LIMIT :lim"
    )


_AFTER = _visible("id > :low AND id <= :high", "ASC")
_DOWN = _visible("id <= :high", "DESC")

_UNREAD_BRANCH = (
    "(SELECT COUNT(*) FROM (SELECT 1 FROM messages WHERE {who} AND id > :low AND id <= :high"
    " AND sender_key != :user LIMIT :cap))"
)
#: Unread rows: public ones and ones to the user, not from the user, each count capped.
_UNREAD = "SELECT " + " + ".join(
    _UNREAD_BRANCH.format(who=who) for who in ("to_key IS NULL", "to_key = :user")
)

#: Seconds between two WAL checkpoints of the background checkpointer (file databases).
CHECKPOINT_EVERY = 1.0

#: WAL pages after which a COMMIT checkpoints by itself: only a safety net in case the
#: background checkpointer cannot keep up (SQLite's default is 1,000).
_AUTOCHECKPOINT_PAGES = 10_000


def _entry(row: Sequence[Any]) -> Entry:
    number, sender, to, text, ts, ref = row
    return Entry(
        str(number),
        str(sender),
        None if to is None else str(to),
        str(text),
        float(ts),
        None if ref is None else str(ref),
    )


def _rollback(conn: sqlite3.Connection) -> None:
    """Undo an open transaction; the error that got us here matters more than a failed undo."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass


class SQLiteStore(StoreBase):
    """The :class:`~wschat.store.base.Store` interface on a SQLite file (or ``":memory:"``).

    Call :meth:`open` (or use ``async with``) before anything else. Every SQLite failure comes
    out as a one-line :class:`~wschat.store.base.StoreError`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.epoch: str = ""  # set by open()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._tokens_pruned = float("-inf")
        self._refs_pruned = float("-inf")
        self._checkpointer: _Checkpointer | None = None

    # -- opening and closing ---------------------------------------------------------------

    async def open(self) -> None:
        """Open the file, create the tables on first use, and read the epoch.

        Raises StoreError (one line) if the file is not a wschat database, is corrupt, cannot
        be opened or written, or has a schema this version does not know.
        """
        with self._lock:
            if self._conn is not None:
                return
            if not self.path:
                raise StoreError("no database path given")
            try:
                conn = sqlite3.connect(
                    self.path, timeout=5.0, isolation_level=None, check_same_thread=False
                )
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open database {self.path!r}: {exc}") from exc
            try:
                self.epoch = self._prepare(conn)
            except sqlite3.Error as exc:
                conn.close()
                raise StoreError(f"cannot use database {self.path!r}: {exc}") from exc
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            if self.path != ":memory:":
                self._checkpointer = _Checkpointer(self.path)
                self._checkpointer.start()

    def _prepare(self, conn: sqlite3.Connection) -> str:
        """Set the pragmas, create or check the schema, return the epoch."""
        conn.execute("PRAGMA busy_timeout = 5000")  # wait for another writer, do not fail
        if self.path != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"database {self.path!r} cannot use WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable against process death in WAL
        if self.path != ":memory:":  # checkpoints happen in _Checkpointer's thread instead
            conn.execute(f"PRAGMA wal_autocheckpoint = {_AUTOCHECKPOINT_PAGES}")
        conn.execute("BEGIN IMMEDIATE")
        try:
            epoch = self._schema(conn)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return epoch

    def _schema(self, conn: sqlite3.Connection) -> str:
        tables = {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master")}
        if "meta" not in tables:
            if tables - {"sqlite_sequence"}:
                raise StoreError(f"{self.path!r} is a SQLite database of another program")
            for statement in _SCHEMA:
                conn.execute(statement)
            epoch = new_epoch()
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("schema_version", str(SCHEMA_VERSION)), ("epoch", epoch)],
            )
            return epoch
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise StoreError(
                f"database {self.path!r} has schema version {meta.get('schema_version')!r},"
                f" this wschat knows {SCHEMA_VERSION}"
            )
        if not meta.get("epoch"):
            raise StoreError(f"database {self.path!r} has no epoch")
        for statement in _UPGRADES:
            conn.execute(statement)
        return str(meta["epoch"])

    async def close(self) -> None:
        """Close the connection (a WAL checkpoint happens here). Safe to call twice."""
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.stop()
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                try:
                    conn.close()
                except sqlite3.Error as exc:
                    raise StoreError(f"closing database {self.path!r}: {exc}") from exc


    @contextmanager
    def _use(self, action: str) -> Iterator[sqlite3.Connection]:
        """The open connection, under the lock; SQLite errors become a one-line StoreError."""
        with self._lock:
            if self._conn is None:
                raise StoreError("the store is not open: call open() first")
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise StoreError(f"database error while {action}: {exc}") from exc

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed when the block ends, rolled back if it raises.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so two processes on one file wait
        for each other (busy_timeout) instead of failing on a lock upgrade.
        """
        with self._use(action) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise

    # -- accounts -----------------------------------------------------------------------

    async def get_account(self, user_key: str) -> Account | None:
        with self._use("reading an account") as conn:
            row = conn.execute(
                "SELECT name, key, password_hash FROM accounts WHERE key = ?",
                (name_key(user_key),),
            ).fetchone()
        return None if row is None else Account(str(row[0]), str(row[1]), str(row[2]))

    async def create_account(self, name: str, password_hash: str) -> Account:
        key = account_key(name)
        with self._write("creating an account") as conn:
            conn.execute(
                "INSERT OR IGNORE INTO accounts (key, name, password_hash) VALUES (?, ?, ?)",
                (key, name, password_hash),
            )
            row = conn.execute(
                "SELECT name, key, password_hash FROM accounts WHERE key = ?", (key,)
            ).fetchone()
        return Account(str(row[0]), str(row[1]), str(row[2]))

    # -- tokens -----------------------------------------------------------------------------

    async def add_token(self, token_hash: str, user_key: str, expires_at: float) -> None:
        with self._use("saving a token") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO tokens (hash, user_key, expires_at) VALUES (?, ?, ?)",
                (token_hash, user_key, expires_at),
            )

    async def token_user(self, token_hash: str, now: float) -> str | None:
        with self._use("checking a token") as conn:
            if now - self._tokens_pruned >= TOKEN_PRUNE_EVERY:
                self._tokens_pruned = now
                conn.execute("DELETE FROM tokens WHERE expires_at <= ?", (now,))
            row = conn.execute(
                "SELECT user_key FROM tokens WHERE hash = ? AND expires_at > ?",
                (token_hash, now),
            ).fetchone()
        return None if row is None else str(row[0])

    async def revoke_token(self, token_hash: str) -> None:
        with self._use("revoking a token") as conn:
            conn.execute("DELETE FROM tokens WHERE hash = ?", (token_hash,))

    # -- the log ----------------------------------------------------------------------------

    async def append(self, drafts: Sequence[Draft]) -> list[Appended]:
        check_drafts(drafts)
        if not drafts:
            return []
        results: list[Appended] = []
        with self._write("appending messages") as conn:
            for draft in drafts:
                results.append(self._append_one(conn, draft))
            newest = max(draft.ts for draft in drafts)
            if newest - self._refs_pruned >= REF_WINDOW:
                # Refs older than the window can never match again; drop them once per
                # window. Twice the window, so a clock stepping back a little loses nothing.
                conn.execute("DELETE FROM refs WHERE ts < ?", (newest - 2 * REF_WINDOW,))
                self._refs_pruned = newest
        return results

    def _append_one(self, conn: sqlite3.Connection, draft: Draft) -> Appended:
        sender_key = name_key(draft.sender)
        if draft.ref is not None:
            seen = conn.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE id ="
                " (SELECT entry_id FROM refs WHERE user_key = ? AND ref = ? AND ts >= ?)",
                (sender_key, draft.ref, draft.ts - REF_WINDOW),
            ).fetchone()
            if seen is not None:
                return Appended(_entry(seen), False)
        to_key = None if draft.to is None else name_key(draft.to)
        cursor = conn.execute(
            "INSERT INTO messages (sender, sender_key, to_name, to_key, text, ts, ref)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (draft.sender, sender_key, draft.to, to_key, draft.text, float(draft.ts), draft.ref),
        )
        number = cursor.lastrowid
        if draft.ref is not None:
            conn.execute(
                "INSERT OR REPLACE INTO refs (user_key, ref, entry_id, ts) VALUES (?, ?, ?, ?)",
                (sender_key, draft.ref, number, float(draft.ts)),
            )
        return Appended(new_entry(str(number), draft), True)

    async def head(self) -> str | None:
        with self._use("reading the log") as conn:
            row = conn.execute("SELECT MAX(id) FROM messages").fetchone()
        return None if row[0] is None else str(row[0])

    async def after(
        self, user_key: str, after_id: str, upto: str | None, limit: int
    ) -> list[Entry] | None:
        low = parse_seq_id(after_id)
        if low is None:
            return None
        high = upper_bound(upto)
        with self._use("reading the log") as conn:
            if conn.execute("SELECT 1 FROM messages WHERE id = ?", (low,)).fetchone() is None:
                return None
            rows = conn.execute(
                _AFTER,
                {"user": name_key(user_key), "low": low, "high": high, "lim": max(limit, 0)},
            ).fetchall()
        return [_entry(row) for row in rows]

    def _down(self, user_key: str, high: int, n: int) -> list[Entry]:
        """Up to ``n`` visible entries with id <= ``high``, NEWEST first."""
        with self._use("reading the log") as conn:
            rows = conn.execute(
                _DOWN, {"user": name_key(user_key), "high": high, "lim": max(n, 0)}
            ).fetchall()
        return [_entry(row) for row in rows]

    async def recent(self, user_key: str, n: int, upto: str | None = None) -> list[Entry]:
        return oldest_first(self._down(user_key, upper_bound(upto), n))

    async def before(
        self, user_key: str, before_id: str | None, n: int
    ) -> tuple[list[Entry], bool]:
        if before_id is None:
            high = MAX_SEQ_ID
        else:
            number = parse_seq_id(before_id)
            if number is None:
                return [], False
            high = number - 1
        return before_page(self._down(user_key, high, before_fetch(n)), n)

    async def get(self, entry_id: str) -> Entry | None:
        number = parse_seq_id(entry_id)
        if number is None:
            return None
        with self._use("reading the log") as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE id = ?", (number,)
            ).fetchone()
        return None if row is None else _entry(row)

    # -- store-and-forward ------------------------------------------------------------------

    async def went_offline(self, user_key: str) -> None:
        with self._use("marking a user away") as conn:
            conn.execute(
                "INSERT OR REPLACE INTO away (user_key, start_id, end_id)"
                " VALUES (?, (SELECT IFNULL(MAX(id), 0) FROM messages), NULL)",
                (name_key(user_key),),
            )

    async def came_online(self, user_key: str) -> None:
        with self._use("marking a user back") as conn:
            conn.execute(
                "UPDATE away SET end_id = (SELECT IFNULL(MAX(id), 0) FROM messages)"
                " WHERE user_key = ?",
                (name_key(user_key),),
            )

    async def forwarded(self, user_key: str, upto: str | None) -> list[Entry]:
        key = name_key(user_key)
        high = upper_bound(upto)
        with self._use("reading forwarded messages") as conn:
            mark = conn.execute(
                "SELECT start_id, end_id FROM away WHERE user_key = ?", (key,)
            ).fetchone()
            if mark is None:
                return []
            start, end = int(mark[0]), mark[1]
            if end is not None:
                high = min(high, int(end))
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM messages WHERE to_key = ? AND sender_key != ?"
                " AND id > ? AND id <= ? ORDER BY id",
                (key, key, start, high),
            ).fetchall()
        return [_entry(row) for row in rows]


    # -- read positions ---------------------------------------------------------------------

    async def read_position(self, user_key: str) -> str | None:
        with self._use("reading a read position") as conn:
            row = conn.execute(
                "SELECT entry_id FROM reads WHERE user_key = ?", (name_key(user_key),)
            ).fetchone()
        return None if row is None else str(row[0])

    async def set_read(self, user_key: str, entry_id: str) -> bool:
        number = parse_seq_id(entry_id)
        if number is None:
            raise ValueError(f"not a log id: {entry_id!r}")
        # One statement: atomic against other processes on the same file, forward-only.
        with self._use("saving a read position") as conn:
            cursor = conn.execute(
                "INSERT INTO reads (user_key, entry_id) VALUES (?, ?) ON CONFLICT (user_key)"
                " DO UPDATE SET entry_id = excluded.entry_id"
                " WHERE excluded.entry_id > reads.entry_id",
                (name_key(user_key), number),
            )
            return cursor.rowcount > 0

    async def unread(self, user_key: str, after: str | None, upto: str | None, cap: int) -> int:
        low = 0 if after is None else upper_bound(after)
        high = upper_bound(upto)
        cap = max(cap, 0)
        if high <= low or cap == 0:
            return 0
        with self._use("counting unread messages") as conn:
            row = conn.execute(
                _UNREAD, {"user": name_key(user_key), "low": low, "high": high, "cap": cap}
            ).fetchone()
        return min(int(row[0]), cap)


class _Checkpointer(threading.Thread):
    """Copies the WAL into the database file from its own connection, in its own thread.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses 1,000 WAL pages, on the
    committing thread: for the server that is the event loop, which then stalls for the
    checkpoint's writes and fsync (about 5 ms on a small VM, every few hundred commits; it
    showed in the benchmark's private-message p99). A PASSIVE checkpoint from another
    connection never waits for the writer nor blocks it. Durability is unchanged: a commit
    is in the WAL before COMMIT returns, checkpointed or not.
    """

    def __init__(self, path: str) -> None:
        super().__init__(name="wschat-sqlite-checkpoint", daemon=True)
        self.path = path
        self.done = 0  #: checkpoints run so far (tests read it)
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None)
        except sqlite3.Error:
            return  # the writer's own (rarer) automatic checkpoints remain
        try:
            while not self._stop_event.wait(CHECKPOINT_EVERY):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    continue
                self.done += 1
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
