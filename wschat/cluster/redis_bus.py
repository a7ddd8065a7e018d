"""Several server processes on one Redis: the tail, presence across nodes, dead-node cleanup.

Each ``wschat serve --redis URL`` process is a *node* with a random id. :class:`RedisBus` is the
node's :class:`~wschat.server.bus.Bus`:

- **The tail.** A task on its own connection runs ``XREAD BLOCK`` over two streams, the log and
  the presence events, and hands every new item to the server in id order. The log entries of
  every node arrive this way, this node's own included: the writer only appends (one Lua
  script per burst, committed before anyone can read it; :meth:`RedisBus.committed` has
  nothing to do) and the tail delivers, so every node routes the same entries in the same
  order. The entry keeps the id of the session that sent it, so the node holding that session
  sends it the ``ref``. A burst the server could not deliver was settled by it (its sessions
  resume) and counts as a failure of the tail; several in a row, or any other exception,
  end the tail, and with it the node (see :mod:`wschat.server.supervise`).
- **Presence across nodes.** Lua scripts keep, atomically for the whole cluster, each user's
  sessions (``sessions:KEY``: session -> node), each node's sessions (``node-sessions:NODE``)
  and who is online (``online``: key -> name). A user's first session anywhere, or last one,
  adds a presence event to the ``presence`` stream (inside the same script, so exactly once),
  and every node's tail delivers it to its sessions. ``welcome.online`` is read in the same
  script that registers the session, with the id of the newest presence event it reflects
  (``Joined.floor``): the server skips buffered events up to it, so none comes twice.
- **Read positions and typing** travel on the presence stream too (field ``ev``), so every
  node's tail hands them to its sessions. Typing is never in the log: its stream item is a
  transport, trimmed with the presence events, and never read for history or replay. The
  server passes at most one typing notice per user per second *per process*; the ``typing``
  op adds the bound of the whole cluster (a ``SET NX PX`` key per user), so at most one per
  user per second is passed on whichever nodes the user's tabs are on.
- **Dead nodes.** Every node renews ``node:NODE`` (a key with a TTL) every ``node_ttl / 3``
  seconds and sweeps: a node whose key expired (killed, frozen, cut off) has its sessions
  removed by one script, whose offline events thus go out exactly once whoever runs it.
  A user of a dead node is announced offline within ``node_ttl`` plus one sweep period
  (15 + 5 s by default, inside the 30 s that the issue allows).
- **Lost connections.** Every loop retries with exponential backoff (0.1 s up to 5 s) and logs
  the first failure as an error and the recovery as a warning. After an outage the node
  re-registers its sessions (a node that was swept while cut off comes back online).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from wschat.cluster.redis_defaults import NODE_TTL
from wschat.cluster.redis_store import RedisStore, entry_from_stream
from wschat.cluster.scripts import PRESENCE
from wschat.core.defaults import TYPING_INTERVAL
from wschat.core.model import Entry, is_later, log_order
from wschat.server.bus import Joined, Sink
from wschat.server.supervise import Streak, Supervisor
from wschat.store.base import StoreError

__all__ = ["RedisBus", "new_node_id"]

log = logging.getLogger("wschat.cluster")

#: Presence events kept in their stream (approximately); nodes only need the recent ones.
PRESENCE_MAXLEN = 10_000
#: How long the tail blocks in one XREAD (ms); the socket timeout is a few seconds more.
_BLOCK_MS = 5_000
_READ_COUNT = 1_000
_BACKOFF_FIRST = 0.1
_BACKOFF_MAX = 5.0
#: Longest wait of a catch-up for the tail to reach the point the session's log read saw.
_SYNC_TIMEOUT = 10.0

T = TypeVar("T")



def new_node_id() -> str:
    """A new node id, ``n-`` and 8 hex characters."""
    return "n-" + secrets.token_hex(4)


def _reached(entry_id: str | None, mark: str) -> bool:
    """True when the tail position ``mark`` is at or past ``entry_id`` (None: nothing to reach).
    An id :func:`~wschat.core.model.is_later` cannot order counts as not reached yet."""
    return entry_id is None or not is_later(entry_id, mark)


class RedisBus:
    """A node's bus on a :class:`~wschat.cluster.redis_store.RedisStore` (see the module doc).

    ``node_ttl`` (seconds) is how long after its last heartbeat a node counts as dead; the
    heartbeat and the sweep run every ``node_ttl / 3``.
    """

    def __init__(
        self, store: RedisStore, *, node_ttl: float = NODE_TTL, node: str | None = None
    ) -> None:
        if not node_ttl > 0:
            raise ValueError("node_ttl must be positive")
        self.store = store
        self.node = node or new_node_id()
        self.node_ttl = node_ttl
        self._sink: Sink | None = None
        self._supervisor: Supervisor | None = None
        self._streak: Streak | None = None
        self._tail_redis: Redis | None = None
        self._script: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        #: This node's sessions: sid -> (user key, display name).
        self._local: dict[str, tuple[str, str]] = {}
        #: True when Redis may disagree with ``_local`` (a call failed): the keeper re-syncs.
        self._dirty = False
        self._log_pos = "0-0"
        self._presence_pos = "0-0"
        self._progress = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self, sink: Sink, supervisor: Supervisor) -> None:
        """Read where the streams end, register the node, start the tail and the heartbeat
        (tasks of ``supervisor``: ``tail`` and ``heartbeat``)."""
        store = self.store
        redis = store.redis
        self._script = redis.register_script(PRESENCE)
        self._log_pos = await self._head(redis, "log")
        self._presence_pos = await self._head(redis, "presence")
        await self._run("registering the node", self._beat())
        self._sink = sink
        self._supervisor = supervisor
        self._streak = supervisor.streak("tail")
        self._stopping = False
        self._tail_redis = store.connect(socket_timeout=_BLOCK_MS / 1000 + 5)
        # Connect now: redis-py may swallow a cancellation that lands while it connects.
        await self._run("connecting the tail", self._tail_redis.ping())
        self._tasks = [
            supervisor.spawn("tail", self._tail()),
            supervisor.spawn("heartbeat", self._keeper()),
        ]
        log.info("node %s on %s (node ttl %g s)", self.node, store.shown_url, self.node_ttl)

    async def stop(self) -> None:
        """Stop the tasks and unregister the node (its sessions, if any, go offline)."""
        await self._halt()
        try:
            await self._call("bye")
        except (RedisError, OSError) as exc:
            log.warning("node %s could not unregister (others will sweep it): %s", self.node, exc)
        if self._tail_redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._tail_redis.aclose()
            self._tail_redis = None

    async def _halt(self) -> None:
        """Stop the tail and the heartbeat, without a goodbye (what a crash looks like)."""
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=0.25)
            if pending:
                # A cancellation that landed while redis-py (re)connected can be lost: close
                # the connections under the tasks, so their reads fail and the loops stop.
                if self._tail_redis is not None:
                    await self._tail_redis.connection_pool.disconnect()
                await self.store.redis.connection_pool.disconnect()
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=5.0)
        self._sink = None

    async def _head(self, redis: Redis, stream: str) -> str:
        last = await self._run(
            "reading the stream's end", redis.xrevrange(self.store.key(stream), count=1)
        )
        return str(last[0][0]) if last else "0-0"

    async def _run(self, action: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except (RedisError, OSError) as exc:
            raise StoreError(f"Redis error while {action}: {exc}") from exc

    def _call(self, op: str, *args: str | int) -> Awaitable[Any]:
        argv = [self.store.prefix, self.node, op, PRESENCE_MAXLEN, *args]
        result: Awaitable[Any] = self._script(keys=[], args=argv, client=self.store.redis)
        return result

    # ------------------------------------------------------------------ sessions

    async def join(self, user: str, key: str, sid: str, first_here: bool) -> Joined:
        self._local[sid] = (key, user)
        try:
            reply = await self._call("join", sid, key, user)
        except (RedisError, OSError) as exc:
            self._dirty = True
            raise StoreError(f"Redis error while registering a session: {exc}") from exc
        floor, flat = str(reply[0]), reply[1:]
        users = sorted(zip(flat[::2], flat[1::2], strict=True))
        return Joined([str(name) for _, name in users], floor)

    async def leave(self, user: str, key: str, sid: str, last_here: bool) -> None:
        self._local.pop(sid, None)
        try:
            await self._call("leave", sid, key)
        except (RedisError, OSError) as exc:
            self._dirty = True  # the keeper removes it once Redis answers again
            log.warning("could not unregister session %s now, will retry: %s", sid, exc)

    async def online(self) -> list[str]:
        users = await self._run(
            "reading who is online", self.store.redis.hgetall(self.store.key("online"))
        )
        return [str(users[key]) for key in sorted(users)]

    async def synced(self, last: str | None, floor: str | None) -> None:
        async def reached() -> None:
            while not (_reached(last, self._log_pos) and _reached(floor, self._presence_pos)):
                await self._progress.wait()

        try:
            await asyncio.wait_for(reached(), _SYNC_TIMEOUT)
        except TimeoutError:
            log.warning(
                "the tail did not reach %s / %s within %g s (at %s / %s)",
                last, floor, _SYNC_TIMEOUT, self._log_pos, self._presence_pos,
            )

    def committed(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        """Nothing to do: the tail reads this node's appends from the stream like any other's."""

    async def reconcile(self) -> None:
        """Nothing to do: whatever a failed append committed, the tail reads it anyway."""

    async def read_moved(self, user: str, key: str, entry_id: str) -> None:
        await self._run("announcing a read position", self._call("read", user, key, entry_id))

    async def typing(self, user: str, key: str, to: str | None) -> None:
        interval_ms = int(TYPING_INTERVAL * 1000)
        await self._run("announcing typing", self._call("typing", user, key, to or "", interval_ms))

    # ------------------------------------------------------------------ the tail

    async def _tail(self) -> None:
        """Deliver every new log entry and presence event, in id order, forever."""
        assert self._tail_redis is not None
        redis = self._tail_redis
        log_key, presence_key = self.store.key("log"), self.store.key("presence")

        async def read() -> Any:
            streams: dict[Any, Any] = {log_key: self._log_pos, presence_key: self._presence_pos}
            return await redis.xread(streams, count=_READ_COUNT, block=_BLOCK_MS)

        async for reply in _retrying("tail", read, self._is_stopping):
            items: list[tuple[tuple[int, int], bool, str, dict[str, str]]] = []
            for stream, entries in reply or ():
                is_log = stream == log_key
                for entry_id, fields in entries:
                    items.append((log_order(entry_id), is_log, entry_id, fields))
            items.sort(key=lambda item: item[0])
            self._hand_over(items)
            self._wake()

    def _hand_over(self, items: list[tuple[tuple[int, int], bool, str, dict[str, str]]]) -> None:
        """Hand ``items`` (in id order) to the sink: each run of log entries in one call, so
        that a read of many entries is one burst (one write per connection), and presence
        events in between, in their place."""
        sink = self._sink
        run: list[tuple[Entry, str | None]] = []
        for _, is_log, entry_id, fields in items:
            if is_log:
                self._log_pos = entry_id
                if sink is not None:
                    try:
                        run.append(entry_from_stream(entry_id, fields))
                    except Exception as error:  # not an entry: nobody can be given it
                        self._report(error, f"stream item {entry_id} is not a log entry")
                continue
            self._deliver(run)
            run = []
            self._presence_pos = entry_id
            if sink is not None:
                try:
                    _event(sink, entry_id, fields)
                except (KeyError, ValueError) as error:  # an item no wschat wrote
                    self._report(error, f"stream item {entry_id} is not an event")
                    continue
                except Exception as error:  # the sink settled it (its sessions resume)
                    self._failed(error)
        self._deliver(run)

    def _deliver(self, run: list[tuple[Entry, str | None]]) -> None:
        """Hand a run of log entries to the sink (which may keep the list)."""
        if run and self._sink is not None:
            try:
                self._sink.deliver(run)
            except Exception as error:  # the sink settled it (its sessions resume)
                self._failed(error)
                return
            if self._streak is not None:
                self._streak.ok()

    def _failed(self, error: Exception) -> None:
        """The sink failed a hand-over and settled it: one failure of the tail (TaskFailed,
        ending the tail, after too many in a row)."""
        if self._streak is not None:
            self._streak.failed(error)

    def _report(self, error: Exception, what: str) -> None:
        log.warning("%s: skipped", what)
        if self._supervisor is not None:
            self._supervisor.report(error, "tail")

    def _is_stopping(self) -> bool:
        return self._stopping

    def _wake(self) -> None:
        progress, self._progress = self._progress, asyncio.Event()
        progress.set()

    # ------------------------------------------------------------------ heartbeat and sweep

    async def _beat(self) -> None:
        """Renew the node's key; re-register its sessions if Redis lost or swept them."""
        existed = await self._call("beat", int(self.node_ttl * 1000))
        if not existed or self._dirty:
            if self._local and not existed:
                log.warning("node %s was unknown to Redis; re-registering its sessions", self.node)
            self._dirty = False
            args: list[str] = []
            for sid, (key, user) in self._local.items():
                args += [sid, key, user]
            try:
                await self._call("sync", *args)
            except BaseException:
                self._dirty = True
                raise

    async def _keeper(self) -> None:
        """Heartbeat and sweep every ``node_ttl / 3`` seconds, forever."""
        period = self.node_ttl / 3

        async def tick() -> int:
            await self._beat()
            dead: int = await self._call("sweep")
            return dead

        async for dead in _retrying("heartbeat", tick, self._is_stopping):
            if dead:
                log.warning("swept %d dead node(s): their users are offline", dead)
            await asyncio.sleep(period)


def _event(sink: Sink, entry_id: str, fields: dict[str, str]) -> None:
    """Hand one item of the presence stream to the sink: a presence change, a read position
    or a typing notice (field ``ev``)."""
    kind = fields.get("ev")
    if kind == "read":
        sink.read_changed(fields["u"], fields["id"])
    elif kind == "typing":
        sink.typing(fields["u"], fields.get("t"))
    else:
        sink.presence_changed(fields["u"], fields["on"] == "1", entry_id)


async def _retrying(
    what: str, step: Callable[[], Awaitable[T]], stopping: Callable[[], bool]
) -> Any:
    """Yield ``await step()`` until ``stopping()``; on a Redis failure, log it and retry
    with backoff."""
    failures = 0
    while not stopping():
        try:
            result = await step()
        except (RedisError, OSError) as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from exc  # redis-py turned our cancel into this
            if stopping():
                return
            failures += 1
            delay = min(_BACKOFF_FIRST * 2 ** (failures - 1), _BACKOFF_MAX)
            if failures == 1:
                log.error("Redis unreachable (%s): %s; retrying with backoff", what, exc)
            else:
                log.debug("Redis still unreachable (%s, try %d): %s", what, failures, exc)
            await asyncio.sleep(delay)
            continue
        if failures:
            log.warning("Redis reachable again (%s) after %d failed tries", what, failures)
            failures = 0
        yield result
