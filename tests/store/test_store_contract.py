"""The Store contract, run against every store: MemoryStore, SQLiteStore on a file, and
RedisStore on a real redis-server (skipped loudly when there is none, see rediskit).

Ids are opaque: memory and SQLite give "1", "2", ...; Redis gives stream ids. The tests name
entries by their position in the log (``chat.id(3)``) and ask the store under test for ids
that are well formed but absent (``chat.absent``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rediskit import fresh_prefix

from wschat.cluster.redis_store import RedisStore
from wschat.core.model import Draft, Entry, log_order
from wschat.core.names import name_key
from wschat.store import (
    REF_WINDOW,
    Appended,
    MemoryStore,
    SQLiteStore,
    Store,
    StoreError,
    open_store,
)

T0 = 1_764_090_000.0


def draft(sender: str, to: str | None = None, text: str = "oi", ts: float = T0, ref: str | None = None) -> Draft:
    return Draft(sender=sender, to=to, text=text, ts=ts, ref=ref)


def make_store(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "redis":
        server = request.getfixturevalue("redis_server")
        return RedisStore(server.url, prefix=fresh_prefix())
    return SQLiteStore(tmp_path / "chat.db")


def is_seq_store(store: Store) -> bool:
    return not isinstance(store, RedisStore)


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    opened = make_store(request.param, tmp_path, request)
    await opened.open()
    yield opened
    await opened.close()


async def append_all(store: Store, *drafts: Draft) -> list[str]:
    """Append each draft in its own batch and return the new ids."""
    ids = []
    for one in drafts:
        [result] = await store.append([one])
        assert result.created
        ids.append(result.entry.id)
    return ids


def ids(entries: list[Entry]) -> list[str]:
    return [entry.id for entry in entries]


# -- the interface ------------------------------------------------------------------------


async def test_store_satisfies_protocol_and_has_epoch(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.epoch.startswith("e-") and len(store.epoch) == 18


def test_open_store_maps_db_option(tmp_path: Path) -> None:
    memory = open_store(":memory:")
    assert isinstance(memory, SQLiteStore) and memory.path == ":memory:"
    on_disk = open_store(str(tmp_path / "x.db"))
    assert isinstance(on_disk, SQLiteStore) and on_disk.path == str(tmp_path / "x.db")
    with pytest.raises(StoreError):
        open_store("")


async def test_open_store_memory_database_works() -> None:
    store = open_store(":memory:")
    await store.open()
    await append_all(store, draft("ana"))
    assert await store.head() == "1"
    await store.close()


# -- accounts -----------------------------------------------------------------------------


async def test_create_and_get_account(store: Store) -> None:
    account = await store.create_account("Joao", "hash-1")
    assert (account.name, account.key, account.password_hash) == ("Joao", "joao", "hash-1")
    assert await store.get_account("joao") == account
    assert await store.get_account("ana") is None


async def test_existing_account_returned_unchanged_first_spelling_kept(store: Store) -> None:
    first = await store.create_account("Joao", "hash-1")
    again = await store.create_account("JOAO", "hash-2")
    assert again == first
    assert again.name == "Joao" and again.password_hash == "hash-1"
    assert await store.get_account("joao") == first


async def test_racing_first_logins_get_one_account(store: Store) -> None:
    results = await asyncio.gather(
        *(store.create_account(name, f"hash-{i}") for i, name in enumerate(["ana", "Ana", "ANA"]))
    )
    assert len(set(results)) == 1
    assert await store.get_account("ana") == results[0]


async def test_invalid_account_name_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.create_account("no spaces", "hash")
    with pytest.raises(ValueError):
        await store.create_account("", "hash")


# -- tokens -------------------------------------------------------------------------------


async def test_valid_token_gives_user(store: Store) -> None:
    await store.add_token("h1", "joao", T0 + 100)
    assert await store.token_user("h1", T0) == "joao"
    assert await store.token_user("h1", T0 + 99.9) == "joao"


async def test_expired_token_gives_none(store: Store) -> None:
    await store.add_token("h1", "joao", T0 + 100)
    assert await store.token_user("h1", T0 + 100) is None
    assert await store.token_user("h1", T0 + 5000) is None


async def test_revoked_and_unknown_tokens_give_none(store: Store) -> None:
    await store.add_token("h1", "joao", T0 + 100)
    await store.add_token("h2", "joao", T0 + 100)
    await store.revoke_token("h1")
    await store.revoke_token("never-issued")
    assert await store.token_user("h1", T0) is None
    assert await store.token_user("h2", T0) == "joao"
    assert await store.token_user("unknown", T0) is None


async def test_pruning_expired_tokens_keeps_valid_ones(store: Store) -> None:
    await store.add_token("old", "ana", T0 + 10)
    await store.add_token("new", "ana", T0 + 10_000)
    assert await store.token_user("old", T0 + 20) is None
    assert await store.token_user("new", T0 + 5000) == "ana"


# -- append -------------------------------------------------------------------------------


async def test_empty_log(store: Store) -> None:
    assert await store.append([]) == []
    assert await store.head() is None
    assert await store.last_visible("ana") is None
    assert await store.recent("ana", 10) == []
    assert await store.before("ana", None, 10) == ([], False)
    assert await store.after("ana", "1", None, 10) is None


async def test_append_batch_gets_increasing_ids_and_keeps_fields(store: Store) -> None:
    drafts = [
        draft("Ana", None, "oi a todos", T0, "c-1"),
        draft("bob", "Ana", "oi", T0 + 1.5),
        draft("cid", "cid", "nota", T0 + 2),
    ]
    results = await store.append(drafts)
    assert [r.created for r in results] == [True, True, True]
    for result, sent in zip(results, drafts, strict=True):
        entry = result.entry
        assert (entry.sender, entry.to, entry.text, entry.ts, entry.ref) == (
            sent.sender, sent.to, sent.text, sent.ts, sent.ref,
        )
        assert await store.get(entry.id) == entry
    more = await store.append([draft("ana"), draft("bob")])
    all_ids = [r.entry.id for r in results + more]
    assert len(set(all_ids)) == 5
    assert all_ids == sorted(all_ids, key=log_order)
    assert await store.head() == all_ids[-1]


async def test_ids_compare_in_log_order_past_nine(store: Store) -> None:
    await store.append([draft("ana", text=str(i)) for i in range(12)])
    entries = await store.recent("ana", 20)
    assert [e.text for e in entries] == [str(i) for i in range(12)]
    assert await store.head() == entries[-1].id
    assert await store.after("ana", entries[8].id, None, 10) == entries[9:]


@pytest.mark.parametrize(
    "bad",
    [
        draft("bad name!"),
        draft("ana", to="no way"),
        draft("ana", text="\ud800"),
        draft("ana", ts=float("nan")),
        draft("ana", ref="\udfff"),
    ],
)
async def test_invalid_draft_rejects_whole_batch(store: Store, bad: Draft) -> None:
    [first] = await append_all(store, draft("ana", text="before"))
    with pytest.raises(ValueError):
        await store.append([draft("ana", text="good"), bad, draft("bob", text="good too")])
    assert await store.head() == first
    assert ids(await store.recent("ana", 10)) == [first]


# -- refs (idempotent resend) --------------------------------------------------------------


async def test_same_sender_same_ref_returns_original(store: Store) -> None:
    [first] = await store.append([draft("Ana", text="oi", ref="c-1")])
    head = await store.head()
    [again] = await store.append([draft("ana", text="oi (resent)", ts=T0 + 30, ref="c-1")])
    assert again.created is False
    assert again.entry == first.entry
    assert await store.head() == head


async def test_other_sender_same_ref_is_new(store: Store) -> None:
    [first] = await store.append([draft("ana", ref="c-1")])
    [other] = await store.append([draft("bob", ref="c-1")])
    assert other.created is True
    assert other.entry.id != first.entry.id


async def test_ref_window_boundary(store: Store) -> None:
    [first] = await store.append([draft("ana", ref="c-1", ts=T0)])
    [edge] = await store.append([draft("ana", ref="c-1", ts=T0 + REF_WINDOW)])
    assert edge.created is False and edge.entry == first.entry
    [late] = await store.append([draft("ana", ref="c-1", ts=T0 + REF_WINDOW + 1)])
    assert late.created is True and late.entry.id != first.entry.id
    # From now on the ref means the newer message.
    [resend] = await store.append([draft("ana", ref="c-1", ts=T0 + REF_WINDOW + 2)])
    assert resend.created is False and resend.entry == late.entry


async def test_duplicate_ref_inside_one_batch(store: Store) -> None:
    results = await store.append(
        [
            draft("ana", text="one", ref="c-1"),
            draft("bob", text="two", ref="c-1"),
            draft("ANA", text="one again", ref="c-1"),
            draft("ana", text="no ref"),
            draft("ana", text="no ref"),
        ]
    )
    assert [r.created for r in results] == [True, True, False, True, True]
    assert results[2].entry == results[0].entry
    assert await store.head() == results[4].entry.id
    assert len({r.entry.id for r in results}) == 4


async def test_pruning_old_refs_keeps_refs_inside_window(store: Store) -> None:
    await store.append([draft("bob", ts=T0)])
    [kept] = await store.append([draft("ana", ref="r", ts=T0 + 500)])
    await store.append([draft("bob", ts=T0 + 650)])  # a prune may run here
    await store.append([draft("bob", ts=T0 + 900)])
    [resend] = await store.append([draft("ana", ref="r", ts=T0 + 1000)])
    assert resend.created is False and resend.entry == kept.entry
    [late] = await store.append([draft("ana", ref="r", ts=T0 + 1101)])
    assert late.created is True


# -- read positions -----------------------------------------------------------------------


async def test_read_position_is_none_until_set(store: Store) -> None:
    await append_all(store, draft("ana"))
    assert await store.read_position("ana") is None


async def test_read_position_moves_forward_only(store: Store) -> None:
    first, second, third = await append_all(store, draft("ana"), draft("bob"), draft("ana"))
    assert await store.set_read("Ana", second) is True
    assert await store.read_position("ana") == second
    assert await store.set_read("ana", second) is False  # equal: nothing changes
    assert await store.set_read("ana", first) is False  # older: nothing changes
    assert await store.read_position("ANA") == second
    assert await store.set_read("ana", third) is True
    assert await store.read_position("ana") == third
    assert await store.read_position("bob") is None  # one position per user


async def test_read_position_compares_in_log_order_past_nine(store: Store) -> None:
    positions = await append_all(store, *[draft("ana", text=f"m{i}") for i in range(12)])
    assert await store.set_read("ana", positions[10]) is True  # "11" (or a stream id)
    assert await store.set_read("ana", positions[8]) is False  # "9" > "11" as strings only
    assert await store.read_position("ana") == positions[10]


async def test_racing_read_positions_keep_the_latest(store: Store) -> None:
    positions = await append_all(store, *[draft("bob", text=f"m{i}") for i in range(8)])
    await asyncio.gather(*(store.set_read("ana", one) for one in reversed(positions)))
    assert await store.read_position("ana") == positions[-1]


async def test_set_read_refuses_a_malformed_id(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.set_read("ana", "not-an-id")
    assert await store.read_position("ana") is None


async def test_read_position_survives_reopening(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    for kind in ("sqlite", "redis"):
        one = make_store(kind, tmp_path, request)
        await one.open()
        [first] = await append_all(one, draft("bob"))
        assert await one.set_read("ana", first)
        await one.close()
        again = make_store(kind, tmp_path, request)
        if isinstance(one, RedisStore) and isinstance(again, RedisStore):
            again.prefix = one.prefix  # the same keys, read by a new connection
        await again.open()
        assert await again.read_position("ana") == first, kind
        await again.close()


async def test_unread_counts_visible_messages_of_others(store: Store) -> None:
    """1 public by ana, 2 bob->ana, 3 public by bob, 4 bob->cid, 5 ana->ana, 6 cid->Ana."""
    positions = await append_all(
        store,
        draft("ana"),
        draft("bob", "ana"),
        draft("bob"),
        draft("bob", "cid"),
        draft("ana", "ana"),
        draft("cid", "Ana"),
    )
    assert await store.unread("ana", None, None, 100) == 3  # 2, 3, 6
    assert await store.unread("ana", positions[1], None, 100) == 2  # 3, 6
    assert await store.unread("ana", positions[2], positions[4], 100) == 0
    assert await store.unread("ana", None, None, 2) == 2  # capped
    assert await store.unread("ana", None, None, 0) == 0
    assert await store.unread("cid", None, None, 100) == 3  # 1, 3, 4
    assert await store.unread("ANA", positions[5], None, 100) == 0
    assert await store.unread("dan", None, None, 100) == 2  # never registered: publics


async def test_unread_on_an_empty_log_is_zero(store: Store) -> None:
    assert await store.unread("ana", None, None, 10) == 0
    assert await store.unread("ana", None, await store.head(), 10) == 0


# -- visibility ---------------------------------------------------------------------------


@dataclass
class Chat:
    """A store holding six entries, named by position: ``id(1)`` ... ``id(6)``."""

    store: Store
    ids: list[str]

    def id(self, position: int) -> str:
        return self.ids[position - 1]

    def positions(self, entries: list[Entry]) -> list[int]:
        return [self.ids.index(entry.id) + 1 for entry in entries]

    @property
    def beyond(self) -> str:
        """A well-formed id newer than every entry."""
        if is_seq_store(self.store):
            return "99"
        ms, _ = log_order(self.ids[-1])
        return f"{ms + 1000}-0"

    @property
    def absent(self) -> list[str]:
        """Well-formed ids the log does not hold, and ids of the other stores' form."""
        if is_seq_store(self.store):
            return ["0", "7", "999", "1-0", self.id(1) + "-0"]
        ms, seq = log_order(self.ids[-1])
        return ["0-0", f"{ms}-{seq + 7}", self.beyond, "1", "7", "01-0", self.id(1) + "0"]


@pytest.fixture
async def chat(store: Store) -> Chat:
    """1 public by ana, 2 ana->bob, 3 bob->cid, 4 cid->cid, 5 public by cid, 6 bob->Cid."""
    positions = await append_all(
        store,
        draft("ana", None, "hello all"),
        draft("ana", "bob", "hi bob"),
        draft("bob", "cid", "hi cid"),
        draft("cid", "cid", "note to self"),
        draft("cid", None, "hello from cid"),
        draft("bob", "Cid", "again"),
    )
    return Chat(store, positions)


VISIBLE = {
    "ana": [1, 2, 5],
    "bob": [1, 2, 3, 5, 6],
    "cid": [1, 3, 4, 5, 6],
    "dan": [1, 5],  # never registered: publics only
}


@pytest.mark.parametrize("user", sorted(VISIBLE))
async def test_recent_shows_only_visible(chat: Chat, user: str) -> None:
    assert chat.positions(await chat.store.recent(user, 50)) == VISIBLE[user]
    assert chat.positions(await chat.store.recent(user, 2)) == VISIBLE[user][-2:]
    assert await chat.store.recent(user, 0) == []


@pytest.mark.parametrize("user", sorted(VISIBLE))
async def test_last_visible(chat: Chat, user: str) -> None:
    assert await chat.store.last_visible(user) == chat.id(VISIBLE[user][-1])
    assert await chat.store.head() == chat.id(6)


async def test_visibility_ignores_case_of_user_key(chat: Chat) -> None:
    assert chat.positions(await chat.store.recent("CID", 50)) == VISIBLE["cid"]


@pytest.mark.parametrize("user", sorted(VISIBLE))
async def test_after_returns_visible_after_id(chat: Chat, user: str) -> None:
    for after in range(1, 7):
        expected = [i for i in VISIBLE[user] if i > after]
        replay = await chat.store.after(user, chat.id(after), None, 100)
        assert replay is not None and chat.positions(replay) == expected


async def test_after_id_need_not_be_visible_to_user(chat: Chat) -> None:
    # 3 is bob->cid: ana cannot see it, but it is in the log, so the replay is valid.
    replay = await chat.store.after("ana", chat.id(3), None, 10)
    assert replay is not None and chat.positions(replay) == [5]


@pytest.mark.parametrize("bad", ["abc", "", "01", "+1", " 1", "1.0", "-1", "1_0", "٣", "9" * 30, "9" * 30 + "-0"])
async def test_after_malformed_id_is_none(chat: Chat, bad: str) -> None:
    assert await chat.store.after("ana", bad, None, 10) is None


async def test_after_unknown_id_is_none(chat: Chat) -> None:
    for absent in chat.absent:
        assert await chat.store.after("ana", absent, None, 10) is None, absent


async def test_after_upto_and_limit(chat: Chat) -> None:
    after = chat.store.after
    assert chat.positions(await after("bob", chat.id(1), chat.id(3), 10) or []) == [2, 3]
    assert chat.positions(await after("bob", chat.id(1), chat.beyond, 10) or []) == [2, 3, 5, 6]
    assert chat.positions(await after("bob", chat.id(1), None, 2) or []) == [2, 3]
    assert await after("bob", chat.id(1), None, 0) == []
    assert await after("bob", chat.id(3), chat.id(3), 10) == []


async def test_recent_upto(chat: Chat) -> None:
    recent = chat.store.recent
    assert chat.positions(await recent("bob", 10, upto=chat.id(3))) == [1, 2, 3]
    assert chat.positions(await recent("bob", 2, upto=chat.id(5))) == [3, 5]
    assert chat.positions(await recent("ana", 10, upto=chat.id(4))) == [1, 2]


async def test_upto_that_is_not_an_id_is_a_bug(chat: Chat) -> None:
    with pytest.raises(ValueError):
        await chat.store.recent("ana", 10, upto="x")
    with pytest.raises(ValueError):
        await chat.store.after("ana", chat.id(1), "0", 10)


async def test_before_pages_back_with_more_flag(chat: Chat) -> None:
    before = chat.store.before
    page, more = await before("bob", None, 2)
    assert (chat.positions(page), more) == ([5, 6], True)
    page, more = await before("bob", page[0].id, 2)
    assert (chat.positions(page), more) == ([2, 3], True)
    page, more = await before("bob", page[0].id, 2)
    assert (chat.positions(page), more) == ([1], False)
    assert await before("bob", chat.id(1), 2) == ([], False)


async def test_before_exactly_n_left_has_no_more(chat: Chat) -> None:
    page, more = await chat.store.before("ana", chat.id(5), 2)
    assert (chat.positions(page), more) == ([1, 2], False)
    page, more = await chat.store.before("ana", chat.id(5), 1)
    assert (chat.positions(page), more) == ([2], True)


async def test_before_hides_others_privates(chat: Chat) -> None:
    page, more = await chat.store.before("dan", chat.id(6), 10)
    assert (chat.positions(page), more) == ([1, 5], False)
    page, more = await chat.store.before("ana", chat.beyond, 10)
    assert (chat.positions(page), more) == ([1, 2, 5], False)


@pytest.mark.parametrize("bad", ["abc", "", "01", "-3", "1-01", "x-1"])
async def test_before_malformed_id_is_empty(chat: Chat, bad: str) -> None:
    assert await chat.store.before("ana", bad, 10) == ([], False)


@pytest.mark.parametrize("bad", ["abc", "", "01", "1-01"])
async def test_get_malformed_is_none(chat: Chat, bad: str) -> None:
    assert await chat.store.get(bad) is None


async def test_get_unknown_is_none(chat: Chat) -> None:
    for absent in chat.absent:
        assert await chat.store.get(absent) is None, absent


# -- store-and-forward ----------------------------------------------------------------------


async def test_forwarded_empty_if_never_offline(chat: Chat) -> None:
    assert await chat.store.forwarded("cid", None) == []
    await chat.store.came_online("cid")
    assert await chat.store.forwarded("cid", None) == []


async def test_forwarded_returns_privates_to_user_while_away(store: Store) -> None:
    [before] = await append_all(store, draft("bob", "ana", "before away"))  # 1
    await store.went_offline("Ana")
    away = await append_all(
        store,
        draft("bob", "ana", "while away 1"),  # 2
        draft("bob", None, "public"),  # 3
        draft("cid", "bob", "not for ana"),  # 4
        draft("ana", "ana", "from herself (another device)"),  # 5
        draft("Cid", "ANA", "while away 2"),  # 6
    )
    await store.came_online("ana")
    await append_all(store, draft("bob", "ana", "after she came back"))  # 7
    assert before not in ids(await store.forwarded("ana", None))
    assert ids(await store.forwarded("ana", None)) == [away[0], away[4]]  # 2 and 6
    assert ids(await store.forwarded("ana", away[3])) == [away[0]]  # up to 5
    assert await store.forwarded("bob", None) == []


async def test_forwarded_while_still_away_is_bounded_by_upto(store: Store) -> None:
    await store.went_offline("ana")
    away = await append_all(store, draft("bob", "ana", "a"), draft("bob", "ana", "b"))
    assert ids(await store.forwarded("ana", away[0])) == away[:1]
    assert ids(await store.forwarded("ana", None)) == away


async def test_forwarded_uses_only_the_last_away_period(store: Store) -> None:
    await store.went_offline("ana")
    await append_all(store, draft("bob", "ana", "first period"))  # 1
    await store.came_online("ana")
    await append_all(store, draft("bob", "ana", "while online"))  # 2
    await store.went_offline("ana")
    third = await append_all(store, draft("bob", "ana", "second period"))  # 3
    await store.came_online("ana")
    assert ids(await store.forwarded("ana", None)) == third


# -- property: every read agrees with a plain list filtered by visibility ------------------

USERS = ["ana", "Ana", "bob", "cid"]  # "Ana" is "ana": keys ignore case
KEYS = sorted({name_key(u) for u in USERS} | {"dan"})

drafts_strategy = st.lists(
    st.lists(
        st.builds(
            draft,
            sender=st.sampled_from(USERS),
            to=st.none() | st.sampled_from(USERS),
            text=st.text(max_size=5),
            ref=st.none() | st.sampled_from(["r1", "r2"]),
        ),
        min_size=1,
        max_size=4,
    ),
    max_size=8,
)


async def check_against_model(store: Store, batches: list[list[Draft]], n: int, limit: int) -> None:
    await store.open()
    model: list[Entry] = []
    refs: dict[tuple[str, str], Entry] = {}
    for batch in batches:
        results = await store.append(batch)
        for sent, result in zip(batch, results, strict=True):
            if sent.ref is not None and (name_key(sent.sender), sent.ref) in refs:
                assert result == Appended(refs[(name_key(sent.sender), sent.ref)], False)
                continue
            assert result.created
            model.append(result.entry)
            if sent.ref is not None:
                refs[(name_key(sent.sender), sent.ref)] = result.entry
    if is_seq_store(store):
        assert ids(model) == [str(i) for i in range(1, len(model) + 1)]
    else:
        orders = [log_order(i) for i in ids(model)]
        assert orders == sorted(set(orders))  # strictly increasing
    assert await store.head() == (model[-1].id if model else None)
    for user in KEYS:
        visible = [e for e in model if e.visible_to(user)]
        assert await store.recent(user, n) == (visible[-n:] if n else [])
        assert await store.last_visible(user) == (visible[-1].id if visible else None)
        for start in model:
            later = [e for e in visible if log_order(e.id) > log_order(start.id)]
            assert await store.after(user, start.id, None, limit) == later[:limit]
        pages: list[Entry] = []
        before: str | None = None
        while True:
            page, more = await store.before(user, before, max(n, 1))
            pages = page + pages
            if not more:
                break
            before = page[0].id
        assert pages == visible
        # unread: visible, not sent by the user, after a position, capped
        for start_id in [None, *ids(model)]:
            low = (0, -1) if start_id is None else log_order(start_id)
            unread = [
                e for e in visible if e.sender_key != user and log_order(e.id) > low
            ]
            assert await store.unread(user, start_id, None, 1000) == len(unread)
            assert await store.unread(user, start_id, None, limit) == min(len(unread), limit)
    await store.close()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=drafts_strategy, n=st.integers(0, 6), limit=st.integers(0, 6))
def test_reads_agree_with_visibility_model(kind: str, batches: list[list[Draft]], n: int, limit: int) -> None:
    store: Store = MemoryStore() if kind == "memory" else SQLiteStore(":memory:")
    asyncio.run(check_against_model(store, batches, n, limit))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=drafts_strategy, n=st.integers(0, 6), limit=st.integers(0, 6))
def test_redis_reads_agree_with_visibility_model(
    redis_server: Any,
    batches: list[list[Draft]], n: int, limit: int
) -> None:
    store = RedisStore(redis_server.url, prefix=fresh_prefix())
    asyncio.run(check_against_model(store, batches, n, limit))
