"""What only the Redis store promises (the shared contract is in test_store_contract.py).

Several processes share one Redis: two RedisStore objects on one prefix stand for two nodes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import cast

import pytest
from rediskit import fresh_prefix, need_redis_server

from wschat.cluster.redis_store import RedisStore, entry_from_stream, parse_stream_id, safe_url
from wschat.core.model import Draft, log_order
from wschat.store import StoreError
from wschat.teaching.redis_server import RedisServer


async def xrange(store: RedisStore, first: str = "-", last: str = "+") -> list[tuple[str, dict[str, str]]]:
    """The raw stream entries of ``store``'s log (its client decodes replies to str)."""
    entries = await store.redis.xrange(store.key("log"), first, last)
    return cast(list[tuple[str, dict[str, str]]], entries)

T0 = 1_764_090_000.0


@pytest.fixture
async def two(redis_server: RedisServer) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two stores (two nodes) on one Redis and one prefix."""
    prefix = fresh_prefix()
    one, other = RedisStore(redis_server.url, prefix=prefix), RedisStore(redis_server.url, prefix=prefix)
    await one.open()
    await other.open()
    yield one, other
    await one.close()
    await other.close()


async def test_nodes_share_log_epoch_accounts_and_tokens(two: tuple[RedisStore, RedisStore]) -> None:
    one, other = two
    assert one.epoch == other.epoch and one.epoch.startswith("e-")
    [stored] = await one.append([Draft("ana", None, "oi", T0)])
    assert await other.get(stored.entry.id) == stored.entry
    assert await other.head() == stored.entry.id
    account = await one.create_account("Ana", "hash-1")
    assert await other.create_account("ANA", "hash-2") == account
    await one.add_token("h", "ana", T0 + 100)
    assert await other.token_user("h", T0) == "ana"
    await other.revoke_token("h")
    assert await one.token_user("h", T0) is None


async def test_another_prefix_is_another_log(redis_server: RedisServer) -> None:
    async with RedisStore(redis_server.url, prefix=fresh_prefix()) as one:
        async with RedisStore(redis_server.url, prefix=fresh_prefix()) as other:
            await one.append([Draft("ana", None, "oi", T0)])
            assert one.epoch != other.epoch
            assert await other.head() is None


async def test_same_ref_on_two_nodes_at_once_is_stored_once(two: tuple[RedisStore, RedisStore]) -> None:
    one, other = two
    for round_ in range(20):
        ref = f"c-{round_}"
        results = await asyncio.gather(
            one.append([Draft("ana", None, "oi", T0, ref)]),
            other.append([Draft("Ana", None, "oi", T0 + 1, ref)]),
        )
        created = [r.created for [r] in results]
        assert sorted(created) == [False, True]
        assert results[0][0].entry == results[1][0].entry


async def test_entries_keep_the_sending_session(two: tuple[RedisStore, RedisStore]) -> None:
    one, _ = two
    [with_origin, without] = await one.append(
        [Draft("ana", "bob", "oi", T0, "r", origin="s-1"), Draft("bob", None, "olá", T0)]
    )
    read = [entry_from_stream(entry_id, fields) for entry_id, fields in await xrange(one)]
    assert read == [(with_origin.entry, "s-1"), (without.entry, None)]


async def test_retention_by_length_trims_old_entries(redis_server: RedisServer) -> None:
    async with RedisStore(redis_server.url, prefix=fresh_prefix(), maxlen=10) as store:
        results = [await store.append([Draft("ana", None, str(i), T0)]) for i in range(300)]
        first, last = results[0][0].entry, results[-1][0].entry
        length = await store.redis.xlen(store.key("log"))
        assert 10 <= length < 300  # approximate trimming keeps at least maxlen
        assert await store.get(first.id) is None
        assert await store.after("ana", first.id, None, 10) is None  # a resume gets history
        assert [e.text for e in await store.recent("ana", 3)] == ["297", "298", "299"]
        assert await store.head() == last.id


async def test_retention_by_age_trims_old_entries(redis_server: RedisServer) -> None:
    async with RedisStore(redis_server.url, prefix=fresh_prefix(), maxlen=0, max_age=0.05) as store:
        old = [(await store.append([Draft("ana", None, str(i), T0)]))[0].entry for i in range(250)]
        await asyncio.sleep(0.1)  # the entries must get older than max_age: time itself passes
        [new] = await store.append([Draft("ana", None, "novo", T0)])
        assert await store.get(old[0].id) is None
        assert await store.get(new.entry.id) == new.entry
        assert await store.redis.xlen(store.key("log")) < 251


async def test_unread_counts_from_the_indexes_without_reading_the_log(
    two: tuple[RedisStore, RedisStore],
) -> None:
    """The count comes from the sequence numbers and the per-user sets: two nodes appending
    in turn keep one sequence, and the count agrees with the visible entries."""
    one, other = two
    drafts = [Draft("bob", None, "p", T0), Draft("ana", None, "mine", T0),
              Draft("bob", "ana", "to ana", T0), Draft("bob", "cid", "to cid", T0),
              Draft("ana", "ana", "self", T0), Draft("cid", None, "p2", T0)]
    ids = []
    for n, draft in enumerate(drafts):
        [stored] = await (one if n % 2 else other).append([draft])
        ids.append(stored.entry.id)
    fields = (await xrange(one, ids[-1], ids[-1]))[0][1]
    assert (fields["n"], fields["pc"]) == ("6", "3")
    assert await one.unread("ana", None, ids[-1], 100) == 3  # p, to ana, p2
    assert await other.unread("ana", ids[2], ids[-1], 100) == 1  # p2
    assert await one.unread("ana", None, ids[-1], 2) == 2  # capped
    assert await one.unread("cid", ids[0], None, 100) == 2  # mine, to cid; p2 is his own


async def test_unread_after_trimming_counts_what_the_log_keeps(
    two: tuple[RedisStore, RedisStore],
) -> None:
    one, _ = two
    stored = await one.append([Draft("bob", "ana" if n % 3 == 0 else None, f"m{n}", T0)
                               for n in range(12)])
    ids = [r.entry.id for r in stored]
    await one.redis.xtrim(one.key("log"), maxlen=6, approximate=False)  # ids[6:] are kept
    kept = list(range(6, 12))
    assert await one.unread("ana", None, None, 100) == len(kept)
    assert await one.unread("ana", ids[2], None, 100) == len(kept)  # a trimmed read position
    assert await one.unread("ana", ids[8], None, 100) == 3
    # the per-user index sheds what the log no longer holds
    assert await one.redis.zcard(one.key("inbox:ana")) == 2  # ids 6 and 9


async def test_unread_of_entries_from_an_older_wschat_walks_the_stream(
    two: tuple[RedisStore, RedisStore],
) -> None:
    """Entries appended before the count fields existed (no n, no pc): the slower walk."""
    one, _ = two
    log = one.key("log")
    old = [str(await one.redis.xadd(log, {"s": "bob", "x": f"m{n}", "ts": str(T0)})) for n in range(3)]
    await one.redis.xadd(log, {"s": "bob", "t": "ana", "x": "p", "ts": str(T0)})
    await one.redis.xadd(log, {"s": "ana", "x": "mine", "ts": str(T0)})
    [new] = await one.append([Draft("bob", None, "new", T0)])
    assert await one.unread("ana", None, None, 100) == 5
    assert await one.unread("ana", old[1], new.entry.id, 100) == 3


async def test_another_schema_under_the_prefix_is_refused(redis_server: RedisServer) -> None:
    prefix = fresh_prefix()
    async with RedisStore(redis_server.url, prefix=prefix) as store:
        await store.redis.hset(store.key("meta"), "schema", "99")
    with pytest.raises(StoreError, match="schema"):
        await RedisStore(redis_server.url, prefix=prefix).open()


def test_a_url_that_is_not_redis_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Redis URL"):
        RedisStore("http://127.0.0.1:6379/0")


async def test_unreachable_redis_is_a_one_line_store_error(redis_server: RedisServer) -> None:
    with RedisServer(need_redis_server()) as gone:
        url = gone.url
    with pytest.raises(StoreError) as caught:
        await RedisStore(url).open()
    assert url in str(caught.value) and "\n" not in str(caught.value)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer(need_redis_server()) as server:
        yield server


async def test_calls_fail_with_store_error_while_redis_is_down_and_work_after(
    own_redis: RedisServer,
) -> None:
    async with RedisStore(own_redis.url) as store:
        [kept] = await store.append([Draft("ana", None, "guardada", T0, "r1")])
        await asyncio.to_thread(own_redis.terminate)
        with pytest.raises(StoreError):
            await store.append([Draft("ana", None, "perdida", T0)])
        with pytest.raises(StoreError):
            await store.get_account("ana")
        await asyncio.to_thread(own_redis.start)
        # Same data (append-only file), same epoch, and the ref still answers with the original.
        [again] = await store.append([Draft("ana", None, "guardada", T0 + 1, "r1")])
        assert (again.created, again.entry) == (False, kept.entry)
        async with RedisStore(own_redis.url) as fresh:
            assert fresh.epoch == store.epoch


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("0-0", (0, 0)),
        ("1764090000123-7", (1764090000123, 7)),
        (f"{2**64 - 1}-{2**64 - 1}", (2**64 - 1, 2**64 - 1)),
        (f"{2**64}-0", None),
        ("42", None),
        ("01-0", None),
        ("1-01", None),
        ("1-", None),
        ("-1", None),
        (" 1-0", None),
        ("1-0 ", None),
        ("\u0661-\u0660", None),  # Arabic-Indic digits
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_parse_stream_id(text: object, parsed: tuple[int, int] | None) -> None:
    assert parse_stream_id(text) == parsed
    if parsed is not None:
        assert log_order(str(text)) == parsed


def test_passwords_stay_out_of_messages() -> None:
    assert safe_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://***@127.0.0.1:6379/0"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    with pytest.raises(ValueError) as caught:
        RedisStore("http://user:s3cret@host/0")
    assert "s3cret" not in str(caught.value)
