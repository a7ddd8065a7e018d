"""What only the memory store promises (the shared contract is in test_store_contract.py)."""

from __future__ import annotations

from wschat.core.model import Draft
from wschat.store import MemoryStore, Store


async def test_each_instance_is_a_new_log_with_a_new_epoch() -> None:
    one, two = MemoryStore(), MemoryStore()
    assert one.epoch != two.epoch
    await one.append([Draft("ana", None, "oi", 1.0)])
    assert await two.head() is None


async def test_usable_as_async_context_manager_and_typed_as_store() -> None:
    store: Store = MemoryStore()
    async with MemoryStore() as opened:
        [result] = await opened.append([Draft("ana", None, "oi", 1.0)])
        assert await opened.get(result.entry.id) == result.entry
    assert isinstance(store, Store)


async def test_entries_stay_readable_after_close() -> None:
    # Notebooks look at a store after stopping the server that used it.
    store = MemoryStore()
    await store.open()
    await store.append([Draft("ana", None, "oi", 1.0)])
    await store.close()
    assert [e.text for e in await store.recent("ana", 5)] == ["oi"]
