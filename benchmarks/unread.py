"""``python -m benchmarks.unread``: what a login costs with 100,000 messages in the log.

``welcome.unread`` (PROTOCOL.md v3) counts the messages a user has not read, up to 10,000, at
every login. This measures that count and a whole login, for each store (memory, a SQLite
file, and Redis when a redis-server 6.2+ is found), with logs of 10,000 and 100,000 messages,
so that the table shows whether the cost grows with the log:

- ``unread()`` alone, for a reader with no read position (the worst case: the count runs to
  the 10,000 cap), with one 50,000 messages back, and with one 100 messages back;
- a whole login over a real socket on 127.0.0.1: connect, log in with a token (no slow hash),
  until ``welcome`` arrives, and until the end of the history that follows (50 messages).

The log: 20 writers, 80 % public messages, 20 % private ones between random pairs, plus the
reader's own public messages (one in 50). Writes ``benchmarks/results/unread.md`` (``--out``
to change) and prints the table. About a minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

from websockets.asyncio.client import connect

from wschat.cluster.redis_config import RedisConfig
from wschat.cluster.redis_store import RedisStore
from wschat.core.credentials import hash_password, new_token, token_hash
from wschat.core.defaults import UNREAD_CAP
from wschat.core.model import Draft
from wschat.server.thread import ServerThread
from wschat.store import MemoryStore, SQLiteStore, Store
from wschat.teaching.redis_server import RedisServer, find_redis_server

RESULTS = os.path.join(os.path.dirname(__file__), "results")
READER = "reader"
WRITERS = [f"user{i}" for i in range(20)]
BATCH = 1000
#: Repeats of each timing; the table gives the median and the worst.
REPEATS = 20


@dataclass
class Row:
    store: str
    messages: int
    case: str
    unread: int
    median_ms: float
    worst_ms: float


def drafts(n: int, seed: int = 7) -> Iterator[Draft]:
    """The log's ``n`` messages (see the module doc), reproducible."""
    rng = random.Random(seed)
    for i in range(n):
        if i % 50 == 0:
            yield Draft(READER, None, f"minha {i}", 1_764_090_000.0 + i)
            continue
        sender = rng.choice(WRITERS)
        to = None
        if rng.random() < 0.2:
            to = rng.choice([READER, *WRITERS])
        yield Draft(sender, to, f"mensagem {i}", 1_764_090_000.0 + i)


async def fill(store: Store, n: int) -> tuple[list[str], str]:
    """Append ``n`` messages in bursts, register the reader; its ids and a login token."""
    ids: list[str] = []
    batch: list[Draft] = []
    for draft in drafts(n):
        batch.append(draft)
        if len(batch) == BATCH:
            ids += [r.entry.id for r in await store.append(batch)]
            batch = []
    if batch:
        ids += [r.entry.id for r in await store.append(batch)]
    await store.create_account(READER, await asyncio.to_thread(hash_password, "senha"))
    token = new_token()
    await store.add_token(token_hash(token), READER, time.time() + 3600)
    return ids, token


async def timed(call: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Median and worst of ``REPEATS`` runs of ``call``, in milliseconds."""
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        await call()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), max(runs)


async def count_cases(name: str, store: Store, ids: list[str]) -> list[Row]:
    rows = []
    last = await store.last_visible(READER)
    middle = ("read 50,000 back", ids[-50_000]) if len(ids) > 50_000 else (
        "read at the first message", ids[0])
    for case, read in [("no read position", None), middle, ("read 100 back", ids[-100])]:
        count = await store.unread(READER, read, last, UNREAD_CAP)
        median, worst = await timed(lambda r=read: store.unread(READER, r, last, UNREAD_CAP))  # type: ignore[misc]
        rows.append(Row(name, len(ids), f"unread(), {case}", count, median, worst))
    return rows


async def login_case(name: str, url: str, token: str, n: int) -> Row:
    """A whole login by token: until welcome (median, worst), and the count it carried."""
    runs, unread = [], 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        async with connect(url, max_size=None, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "login", "user": READER, "token": token}))
            welcome = json.loads(await ws.recv())
            runs.append((time.perf_counter() - start) * 1000)
            assert welcome["type"] == "welcome", welcome
            unread = welcome["unread"]
            while json.loads(await ws.recv()).get("id") != welcome["last"]:
                pass  # the history that follows
    return Row(name, n, "login by token, until welcome", unread, statistics.median(runs), max(runs))


@contextlib.asynccontextmanager
async def serving(make: Callable[[], ServerThread]) -> AsyncIterator[ServerThread]:
    server = await asyncio.to_thread(lambda: make().start())
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def bench_memory(n: int) -> list[Row]:
    store = MemoryStore()
    ids, token = await fill(store, n)
    rows = await count_cases("memory", store, ids)
    async with serving(lambda: ServerThread(store=store)) as server:
        rows.append(await login_case("memory", server.url, token, n))
    return rows


async def bench_sqlite(n: int, folder: str) -> list[Row]:
    path = os.path.join(folder, f"unread-{n}.db")
    async with SQLiteStore(path) as store:
        ids, token = await fill(store, n)
        rows = await count_cases("sqlite", store, ids)
    async with serving(lambda: ServerThread(db=path)) as server:
        rows.append(await login_case("sqlite", server.url, token, n))
    return rows


async def bench_redis(n: int, url: str) -> list[Row]:
    prefix = f"bench-unread-{n}-{os.getpid()}:"
    async with RedisStore(url, prefix=prefix) as store:
        ids, token = await fill(store, n)
        rows = await count_cases("redis", store, ids)
    config = RedisConfig(url, prefix=prefix)
    node_store, bus = config.node()
    async with serving(lambda: ServerThread(store=node_store, bus=bus)) as server:
        rows.append(await login_case("redis", server.url, token, n))
    return rows


def table(rows: list[Row]) -> str:
    lines = [
        "| store | messages in the log | what | unread | median ms | worst ms |",
        "| --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r.store} | {r.messages:,} | {r.case} | {r.unread:,} |"
                     f" {r.median_ms:.2f} | {r.worst_ms:.2f} |")
    return "\n".join(lines)


async def main(sizes: list[int], out: str) -> None:
    logging.getLogger("wschat").setLevel(logging.WARNING)  # not a line per login
    rows: list[Row] = []
    redis_path = find_redis_server()
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        redis = stack.enter_context(RedisServer(redis_path)) if redis_path else None
        for n in sizes:
            rows += await bench_memory(n)
            rows += await bench_sqlite(n, folder)
            if redis is not None:
                rows += await bench_redis(n, redis.url)
            print(f"{n:,} messages done", flush=True)
    text = (
        "# Login cost with a long log (welcome.unread)\n\n"
        "`python -m benchmarks.unread` (see its docstring). Reader `reader`, "
        f"{REPEATS} runs per line; unread is capped at {UNREAD_CAP:,}. "
        + ("" if redis_path else "No redis-server was found: no Redis rows. ")
        + "\n\n" + table(rows) + "\n"
    )
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w", encoding="utf-8") as file:
        file.write(text)
    print(text)


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.unread", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000],
                        help="log lengths to measure (default: 10,000 and 100,000)")
    parser.add_argument("--out", default=os.path.join(RESULTS, "unread.md"))
    args = parser.parse_args()
    asyncio.run(main(args.sizes, args.out))


if __name__ == "__main__":
    cli()
