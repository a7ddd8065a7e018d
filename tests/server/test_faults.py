"""Fault tests (issue 7, "Faults"): a server killed mid-traffic, readers that stop reading,
and connections cut without a close. Nothing a client got back with an id may be lost, and
nothing may arrive twice.

- SIGKILL: ``python -m wschat serve`` on a SQLite file is killed (several times, at different
  points: mid-traffic and in the middle of the reconnect storm) while senders send as fast as
  they can and readers read; it is restarted on the same file and port. Every client is a
  :class:`wschat.client.ChatClient` that reconnects and resumes by itself. At the end every
  message a sender got back with an id is in the log with that id, every send is in the log
  exactly once, and every client received the whole log exactly once, in order.
- A reader that stops reading (its bytes held in a proxy) is closed with 4008; a fast reader
  meanwhile gets everything; the slow ChatClient then reconnects and misses nothing. One that
  comes back only after the close timeout finds the connection cut, and was already shown
  offline. (tests/server/test_close.py and tests/server/test_run.py check the 4008 itself with raw
  clients.)
- A TCP connection cut without a close (a proxy that stops forwarding, sockets left open) is
  found by keepalive within ``--ping-interval`` + ``--ping-timeout`` + the server's close
  timeout, and presence then says offline.

All bounds below only fail a broken server; none is a speed goal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chatkit import Clients, Frame, expect_close, ids, publish, recv_json, recv_n, send_json, short
from netkit import Proxy
from servekit import ServeProcess

from wschat.client.chat_client import ChatClient, ChatClientError
from wschat.client.events import Disconnected, Event, Message, Reconnected, Users
from wschat.server.config import ServerConfig
from wschat.server.thread import ServerThread
from wschat.store import SQLiteStore

#: Stops its processes with POSIX signals (skipped on Windows, see tests/conftest.py).
pytestmark = pytest.mark.posix_signals

PW = "s3nha"

#: A ChatClient that retries quickly (the default backoff is for real networks).
BACKOFF = (0.05, 0.5)


class Tracked:
    """A ChatClient and every event it yielded, read continuously (so it never stops reading
    unless a test wants it to)."""

    def __init__(self, client: ChatClient, changed: asyncio.Event | None = None) -> None:
        self.client = client
        self.events: list[Event] = []
        self.error: ChatClientError | None = None
        self.changed = changed or asyncio.Event()  # set on every event (may be shared)
        self.task = asyncio.create_task(self._consume())

    async def _consume(self) -> None:
        try:
            async for event in self.client:
                self.events.append(event)
                self.changed.set()
        except ChatClientError as error:
            self.error = error
        finally:
            self.changed.set()

    @property
    def messages(self) -> list[Message]:
        return [e for e in self.events if isinstance(e, Message)]

    def count(self, kind: type) -> int:
        return sum(isinstance(e, kind) for e in self.events)

    async def until(self, done: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
        async def loop() -> None:
            while not done():
                assert self.error is None, f"{self.client.user}: {self.error}"
                self.changed.clear()
                if not done():
                    await self.changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise AssertionError(
                f"{self.client.user}: {what} not within {timeout} s; last events "
                f"{short(self.events[-5:])}"
            ) from None

    async def fence(self) -> None:
        """Everything the server sent this session before now has been received: the answer
        to a ``who`` comes after it."""
        ref = await self.client.who()
        await self.until(
            lambda: any(isinstance(e, Users) and e.ref == ref for e in self.events), "the fence"
        )

    async def close(self) -> None:
        await self.client.close()
        await self.task


async def tracked(url: str, user: str, changed: asyncio.Event | None = None) -> Tracked:
    client = ChatClient(url, user, PW, backoff=BACKOFF)
    await client.connect()
    return Tracked(client, changed)


# --------------------------------------------------------------------------- SIGKILL

SENDERS = 3
PER_SENDER = 400
WINDOW = 50  # sends a sender may have unacknowledged before it waits

#: Where the server is killed: once the senders together got this many more sends
#: acknowledged since the previous kill, or ("storm") as soon as a client logged in again
#: after the previous restart, while the others are still reconnecting and reading replays.
KILL_POINTS: list[int | str] = [20, "storm", 250, 250]


def read_log(db: Path) -> list[Any]:
    """Every entry of the log in the SQLite file, read with a store of its own."""

    async def read() -> list[Any]:
        store = SQLiteStore(db)
        await store.open()
        try:
            head = await store.head()
            return [await store.get(str(n)) for n in range(1, int(head) + 1)] if head else []
        finally:
            await store.close()

    return asyncio.run(read())


async def test_sigkill_mid_traffic_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    args = ("--db", str(db), "--rate-limit", "0", "--log-level", "warning")
    servers = [await asyncio.to_thread(lambda: ServeProcess(*args, cwd=tmp_path).ready())]
    port = servers[0].port
    url = servers[0].url
    everyone: list[Tracked] = []
    try:
        anything = asyncio.Event()  # set on any client's event: what the kill points wait on
        readers = [await tracked(url, f"leitor{n}", anything) for n in range(2)]
        senders = [await tracked(url, f"envia{n}", anything) for n in range(SENDERS)]
        everyone = readers + senders
        refs: dict[str, list[str]] = {s.client.user: [] for s in senders}

        async def send_all(sender: Tracked) -> None:
            name = sender.client.user
            for i in range(PER_SENDER):
                refs[name].append(await sender.client.send(f"{name} {i}"))
                if i % WINDOW == WINDOW - 1:
                    assert await sender.client.wait_acknowledged(60), (name, sender.error)
            assert await sender.client.wait_acknowledged(60), (name, sender.error)

        def acknowledged() -> dict[tuple[str, str], str]:
            """(sender, ref) -> id of every send a sender got back with an id so far."""
            return {
                (s.client.user, m.ref): m.id for s in senders for m in s.messages if m.ref
            }

        sending = [asyncio.create_task(send_all(s)) for s in senders]
        snapshots: list[dict[tuple[str, str], str]] = []
        in_flight: list[int] = []  # sends not yet acknowledged at each kill: resent later
        for point in KILL_POINTS:
            if point == "storm":
                before = max(c.count(Reconnected) for c in everyone)
                await senders[0].until(
                    lambda b=before: any(c.count(Reconnected) > b for c in everyone),  # type: ignore[misc]
                    "a reconnect to the restarted server",
                )
            else:
                assert isinstance(point, int)
                target = len(snapshots[-1]) + point if snapshots else point
                await senders[0].until(
                    lambda t=target: len(acknowledged()) >= t,  # type: ignore[misc]
                    f"{target} sends acknowledged",
                )
            snapshots.append(acknowledged())
            in_flight.append(sum(len(s.client.unacknowledged) for s in senders))
            assert not all(t.done() for t in sending), "the traffic ended before the kill"
            await asyncio.to_thread(servers[-1].kill)  # SIGKILL: no close, no flush, no 1001
            servers.append(
                await asyncio.to_thread(lambda: ServeProcess(*args, cwd=tmp_path, port=port).ready())
            )
        await asyncio.wait_for(asyncio.gather(*sending), 120)
        assert max(in_flight) > 0, "no kill caught a send in flight"

        log = await asyncio.to_thread(read_log, db)
        by_id = {e.id: e for e in log}
        # Every id a sender got back before a kill is still in the log, with its message.
        for snapshot in snapshots:
            for (name, ref), entry_id in snapshot.items():
                entry = by_id.get(entry_id)
                assert entry is not None and (entry.sender, entry.ref) == (name, ref), (
                    f"{name} got {entry_id} for {ref} before a kill; the log has {entry}")
        # Every send is in the log exactly once (resends were stored at most once, and each
        # was acknowledged in the end), and each sender's messages are in the order it sent.
        assert len(log) == SENDERS * PER_SENDER
        for name, sent in refs.items():
            mine = [e for e in log if e.sender == name]
            assert [e.ref for e in mine] == sent
            assert [e.text for e in mine] == [f"{name} {i}" for i in range(PER_SENDER)]
        # Every client, across its reconnects, received the whole log once each, in log order.
        for client in everyone:
            await client.fence()
            got = [m.id for m in client.messages]
            assert got == [e.id for e in log], (
                f"{client.client.user}: {len(got)} messages for {len(log)} in the log; first "
                f"difference at {next((i for i, (a, b) in enumerate(zip(got, log, strict=False)) if a != b.id), None)}")
            # It reconnected by itself after the kills, each time resuming where it was.
            reconnects = [e for e in client.events if isinstance(e, Reconnected)]
            assert 1 <= len(reconnects) <= len(KILL_POINTS)
            assert all(r.welcome.recovered for r in reconnects)
            assert client.count(Disconnected) == len(reconnects)
            assert all(e.code == 1006 for e in client.events if isinstance(e, Disconnected))
    finally:
        for client in everyone:
            await client.close()
        for server in servers:
            await asyncio.to_thread(server.kill)


# --------------------------------------------------------------------------- slow readers


async def flood(sender: Any, fast: Any, count: int = 700) -> list[str]:
    """Publish ``count`` messages of 16,000 bytes (about 11 MB, more than the kernel buffers
    on the way hold) and check that the fast reader gets every one; their ids."""
    text = "🙂" * 4000

    async def send_all() -> list[str]:
        return [(await publish(sender, text))["id"] for _ in range(count)]

    sent, received = await asyncio.gather(send_all(), recv_n(fast, count, timeout=60))
    assert ids(received) == sent  # the fast reader is not held back by the slow one
    return sent


async def test_a_chat_client_that_stops_reading_gets_4008_then_resumes_without_loss(
    serve: Callable[..., ServerThread], clients: Clients
) -> None:
    # 30 s for the reader to read its backlog: far more than the flood takes, however loaded
    # the machine, so that it surely comes back "within the close timeout".
    server = serve(max_pending=64 * 1024, rate_limit=0, slow_close_timeout=30)
    async with Proxy(server.port) as proxy:
        slow = await tracked(proxy.url(), "lento")
        try:
            sender, _ = await clients.login(server.url, "sender", PW)
            fast, _ = await clients.login(server.url, "fast", PW)
            assert (await recv_json(sender))["user"] == "fast"  # presence
            proxy.pause_downstream()  # the slow client's bytes stop: it reads nothing more
            sent = await flood(sender, fast)
            proxy.resume_downstream()  # back within the close timeout: it learns the code

            await slow.until(lambda: len(slow.messages) >= len(sent), "every message")
            await slow.fence()
            assert [m.id for m in slow.messages] == sent  # once each, in order, none lost
            kinds = [type(e).__name__ for e in slow.events if not isinstance(e, Users)]
            cut = kinds.index("Disconnected")
            assert slow.events[cut] == Disconnected(4008, slow.events[cut].reason)  # type: ignore[union-attr]
            assert kinds[cut + 1] == "Reconnected" and kinds.count("Disconnected") == 1
            reconnected = slow.events[cut + 1]
            assert isinstance(reconnected, Reconnected) and reconnected.welcome.recovered
            # The fast reader saw the slow one leave and come back.
            assert [await recv_json(fast) for _ in range(2)] == [
                {"type": "presence", "user": "lento", "online": online} for online in (False, True)
            ]
        finally:
            await slow.close()


async def test_a_reader_back_after_the_close_timeout_finds_the_connection_cut(
    serve: Callable[..., ServerThread], clients: Clients
) -> None:
    server = serve(max_pending=64 * 1024, rate_limit=0, slow_close_timeout=0.5)
    async with Proxy(server.port) as proxy:
        slow, _ = await clients.login(proxy.url(), "lento", PW)
        talker, _ = await clients.login(server.url, "talker", PW)
        assert (await recv_json(slow))["user"] == "talker"
        proxy.pause_downstream()
        count = 700  # 11 MB of private messages to the reader that stopped reading
        left = {"type": "presence", "user": "lento", "online": False}
        # The talker waits for each echo before its next send (with max_pending at 64 KiB, a
        # talker that sent ahead of its reading would be a slow reader too, and closed with
        # 4008 in its turn); without the reader doing anything, it hears the reader leave:
        # the server dropped it within the slow-reader close timeout.
        frames: list[Frame] = []
        for n in range(1, count + 1):
            await send_json(talker, {"type": "send", "to": "lento", "text": "🙂" * 4000})
            frames += await recv_until_all(talker, lambda got: len(ids(got)) == 1)
            assert len(ids(frames)) == n
        if left not in frames:
            frames += await recv_until_all(talker, lambda got: left in got)
        sent = ids(frames)
        proxy.resume_downstream()
        frames = await expect_close(slow, None, timeout=10)
        assert slow.close_code == 1006  # no close frame: the 4008 was dropped with the rest
        got = ids(frames)
        assert got == sent[: len(got)] and len(got) < len(sent)


async def recv_until_all(ws: Any, done: Callable[[list[Frame]], bool]) -> list[Frame]:
    """Every frame until ``done(frames so far)`` holds."""
    frames: list[Frame] = []

    async def collect() -> None:
        while not done(frames):
            frames.append(await recv_json(ws, timeout=30))

    await asyncio.wait_for(collect(), 60)
    return frames


# --------------------------------------------------------------------------- keepalive

PING_INTERVAL = 0.5
PING_TIMEOUT = 0.5
#: Scheduling and process slack on a loaded machine: generous, not a speed goal.
SLACK = 3.0


@pytest.mark.parametrize("backlog", [0, 1500], ids=["quiet", "busy"])
async def test_a_cut_without_a_close_is_found_by_keepalive_and_shown_offline(
    tmp_path: Path, clients: Clients, backlog: int
) -> None:
    """``busy``: after the cut, others keep talking, so the server's writes to the dead peer
    pile up: about 6 MB, past what the kernel's buffers take, below --max-pending (so it is
    not the slow-reader bound that ends it). The keepalive ping then waits behind them; the
    peer must still be found in time."""
    server = await asyncio.to_thread(lambda: ServeProcess(
        "--db", ":memory:", "--rate-limit", "0", "--max-pending", str(64 * 1024 * 1024),
        "--ping-interval", str(PING_INTERVAL), "--ping-timeout", str(PING_TIMEOUT),
        cwd=tmp_path).ready())
    try:
        watcher, _ = await clients.login(server.url, "watcher", PW)
        talker, _ = await clients.login(server.url, "talker", PW)
        assert await recv_json(watcher) == {"type": "presence", "user": "talker", "online": True}
        async with Proxy(server.port) as proxy:
            victim, _ = await clients.login(proxy.url(), "victim", PW)
            assert await recv_json(watcher) == {"type": "presence", "user": "victim", "online": True}
            loop = asyncio.get_running_loop()
            start = loop.time()
            proxy.blackhole()  # no FIN, no reset: both sockets stay open
            for _ in range(backlog):  # private to the victim: the watcher reads nothing of it
                await send_json(talker, {"type": "send", "to": "victim", "text": "x" * 4000})
            bound = PING_INTERVAL + PING_TIMEOUT + ServerConfig().close_timeout
            offline = await recv_json(watcher, timeout=bound + SLACK + 10)
            elapsed = loop.time() - start
            assert offline == {"type": "presence", "user": "victim", "online": False}
            assert elapsed <= bound + SLACK, f"found after {elapsed:.1f} s; bound {bound} s"
            # The victim itself saw nothing: no close came through the dead path.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(victim.recv(), 0.2)
        # The watcher answers pings: it is still connected and served.
        await publish(watcher, "ainda aqui")
    finally:
        await clients.aclose()
        await asyncio.to_thread(server.kill)
