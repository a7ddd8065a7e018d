"""What only the SQLite store promises: it survives restarts and crashes, and fails clearly."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import textwrap
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from wschat.core.model import Draft
from wschat.store import SQLiteStore, StoreError
from wschat.store.sqlite import _AFTER, _DOWN, _UNREAD, SCHEMA_VERSION

T0 = 1_764_090_000.0


def draft(sender: str, to: str | None = None, text: str = "oi", ref: str | None = None) -> Draft:
    return Draft(sender=sender, to=to, text=text, ts=T0, ref=ref)


async def test_restart_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with SQLiteStore(path) as store:
        epoch = store.epoch
        account = await store.create_account("Joao", "hash-1")
        await store.add_token("tok", "joao", T0 + 100)
        results = await store.append([draft("Joao", text="oi", ref="c-1"), draft("ana", "joao")])
        await store.went_offline("joao")
        await store.append([draft("ana", "Joao", "while away")])
    async with SQLiteStore(path) as again:
        assert again.epoch == epoch
        assert await again.get_account("joao") == account
        assert await again.token_user("tok", T0) == "joao"
        assert await again.recent("joao", 10) == [r.entry for r in results] + [await again.get("3")]
        [resend] = await again.append([draft("joao", text="oi", ref="c-1")])
        assert resend.created is False and resend.entry == results[0].entry
        [new] = await again.append([draft("ana")])
        assert new.entry.id == "4"  # ids continue, never reused
        await again.came_online("joao")
        assert [e.text for e in await again.forwarded("joao", None)] == ["while away"]


async def test_memory_database_gets_a_new_epoch_each_time() -> None:
    async with SQLiteStore(":memory:") as one, SQLiteStore(":memory:") as two:
        assert one.epoch != two.epoch
        await one.append([draft("ana")])
        assert await two.head() is None


async def test_wal_normal_and_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with SQLiteStore(path) as store:
        other = sqlite3.connect(path)
        try:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            meta = dict(other.execute("SELECT key, value FROM meta").fetchall())
        finally:
            other.close()
        assert meta == {"schema_version": str(SCHEMA_VERSION), "epoch": store.epoch}
        assert store._conn is not None
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


async def test_append_is_one_transaction_committed_before_return(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with SQLiteStore(path) as store:
        assert store._conn is not None
        statements: list[str] = []
        store._conn.set_trace_callback(statements.append)
        await store.append([draft("ana", text=str(i), ref=f"c-{i}") for i in range(5)])
        store._conn.set_trace_callback(None)
        assert sum(s.startswith("BEGIN") for s in statements) == 1
        assert sum(s == "COMMIT" for s in statements) == 1
        assert statements[-1] == "COMMIT"
        reader = sqlite3.connect(path)  # another connection sees the whole burst
        try:
            assert reader.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 5
        finally:
            reader.close()


@pytest.mark.posix_signals
async def test_two_stores_on_one_file_share_the_log(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with SQLiteStore(path) as one, SQLiteStore(path) as two:
        assert one.epoch == two.epoch
        [a] = await one.append([draft("ana")])
        [b] = await two.append([draft("bob")])
        assert (a.entry.id, b.entry.id) == ("1", "2")
        assert [e.id for e in await one.recent("cid", 10)] == ["1", "2"]


CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from wschat.core.model import Draft
    from wschat.store import SQLiteStore

    async def main():
        store = SQLiteStore(sys.argv[1])
        await store.open()
        await store.create_account("Ana", "hash-a")
        await store.add_token("tok", "ana", 2e9)
        results = await store.append(
            [Draft("Ana", None, f"m{i}", 1.0, f"c-{i}") for i in range(3)]
        )
        print(" ".join(r.entry.id for r in results), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # die without close(): no checkpoint, no cleanup

    asyncio.run(main())
    """
)


@pytest.mark.posix_signals
async def test_process_crash_after_append_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(path), stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(child.communicate(), timeout=60)
    assert child.returncode == -signal.SIGKILL, stderr.decode()
    assert stdout.decode().split() == ["1", "2", "3"]
    assert os.path.exists(f"{path}-wal")  # the commits live in the WAL, not yet checkpointed
    async with SQLiteStore(path) as store:
        assert [e.text for e in await store.recent("bob", 10)] == ["m0", "m1", "m2"]
        assert (await store.get_account("ana")) is not None
        assert await store.token_user("tok", 1e9) == "ana"
        [resend] = await store.append([Draft("ana", None, "m0", 2.0, "c-0")])
        assert resend.created is False and resend.entry.id == "1"


def _assert_one_line(error: pytest.ExceptionInfo[StoreError]) -> None:
    message = str(error.value)
    assert message and "\n" not in message


async def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError) as error:
        await SQLiteStore(path).open()
    _assert_one_line(error)
    assert str(path) in str(error.value)
    assert "not a database" in str(error.value)


async def test_directory_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as error:
        await SQLiteStore(tmp_path).open()
    _assert_one_line(error)


async def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as error:
        await SQLiteStore(tmp_path / "no" / "such" / "chat.db").open()
    _assert_one_line(error)


async def test_database_of_another_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    other.commit()
    other.close()
    with pytest.raises(StoreError) as error:
        await SQLiteStore(path).open()
    _assert_one_line(error)
    other = sqlite3.connect(path)  # and it was left untouched
    tables = {row[0] for row in other.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    other.close()
    assert tables == {"invoices"}


async def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    async with SQLiteStore(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as error:
        await SQLiteStore(path).open()
    _assert_one_line(error)
    assert "99" in str(error.value)


async def test_use_before_open_and_after_close_is_a_store_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "chat.db")
    with pytest.raises(StoreError):
        await store.head()
    await store.open()
    await store.open()  # a second open is harmless
    await store.append([draft("ana")])
    await store.close()
    await store.close()
    with pytest.raises(StoreError):
        await store.append([draft("ana")])


async def test_empty_path_is_refused() -> None:
    with pytest.raises(StoreError):
        await SQLiteStore("").open()


async def fill_and_analyse(store: SQLiteStore) -> None:
    """A log of 1,000 entries among 30 users (a third of them private), with statistics, so the
    query planner's choice is a realistic one."""
    assert store._conn is not None
    users = [f"user{i}" for i in range(30)]
    await store.append(
        [draft(users[i % 30], None if i % 3 else users[i * 7 % 30]) for i in range(1000)]
    )
    store._conn.execute("ANALYZE")


@pytest.mark.parametrize(
    ("query", "params"),
    [
        (_AFTER, {"user": "user1", "low": 1, "high": 2**63 - 1, "lim": 50}),
        (_DOWN, {"user": "user1", "high": 2**63 - 1, "lim": 50}),
    ],
)
async def test_visibility_queries_use_indexes_not_scans(
    tmp_path: Path, query: str, params: dict[str, object]
) -> None:
    async with SQLiteStore(tmp_path / "chat.db") as store:
        await fill_and_analyse(store)
        assert store._conn is not None
        plan = [str(row[3]) for row in store._conn.execute("EXPLAIN QUERY PLAN " + query, params)]
    reads = [step for step in plan if "messages" in step]
    assert len(reads) == 3
    assert all(step.startswith("SEARCH messages USING INDEX") for step in reads), plan


async def test_unread_count_reads_only_the_covering_index(tmp_path: Path) -> None:
    """welcome.unread must not scan the log: two range searches on one index, no table rows."""
    async with SQLiteStore(tmp_path / "chat.db") as store:
        await fill_and_analyse(store)
        assert store._conn is not None
        params = {"user": "user1", "low": 10, "high": 900, "cap": 10_000}
        plan = [str(row[3]) for row in store._conn.execute("EXPLAIN QUERY PLAN " + _UNREAD, params)]
    reads = [step for step in plan if "messages" in step]
    assert len(reads) == 2
    assert all(
        step.startswith("SEARCH messages USING COVERING INDEX messages_to_sender") for step in reads
    ), plan


async def test_an_older_schema_1_file_gains_read_positions(tmp_path: Path) -> None:
    """A file made before read positions (no ``reads``, the old two-column index) is upgraded
    in place at open, keeping its log."""
    path = tmp_path / "old.db"
    async with SQLiteStore(path) as store:
        [result] = await store.append([draft("bob")])
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE reads")
    conn.execute("DROP INDEX messages_to_sender")
    conn.execute("CREATE INDEX messages_to ON messages (to_key, id)")
    conn.commit()
    conn.close()
    async with SQLiteStore(path) as again:
        assert await again.get(result.entry.id) == result.entry
        assert await again.unread("ana", None, None, 10) == 1
        assert await again.set_read("ana", result.entry.id)
        assert again._conn is not None
        indexes = {
            str(row[0])
            for row in again._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    assert "messages_to_sender" in indexes and "messages_to" not in indexes
    async with SQLiteStore(path) as third:
        assert await third.read_position("ana") == result.entry.id


async def test_checkpoints_happen_in_the_background_not_in_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wschat.store.sqlite.CHECKPOINT_EVERY", 0.05)
    path = tmp_path / "chat.db"
    async with SQLiteStore(path) as store:
        with store._use("test") as conn:
            assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 10_000
        await store.append([draft("ana", text=f"m{i}") for i in range(50)])
        checkpointer = store._checkpointer
        assert checkpointer is not None and checkpointer.is_alive()
        start = checkpointer.done
        for _ in range(200):  # the thread's next pass, bounded at 10 s
            if checkpointer.done > start:
                break
            await asyncio.sleep(0.05)
        assert checkpointer.done > start
        # The rows reached the database file itself: a copy without the WAL holds them.
        copy = tmp_path / "copy.db"
        copy.write_bytes(path.read_bytes())
        with sqlite3.connect(copy) as plain:
            assert plain.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 50
    assert not checkpointer.is_alive()  # close() stopped it
