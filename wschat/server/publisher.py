"""The publisher: append-then-publish has one owner.

A ``send`` that passed its checks (:mod:`~wschat.server.live`) is :meth:`Publisher.submit`\\ ted
and waits in the queue. One task, the *writer* (:meth:`Publisher.run`), takes every send
waiting there as one burst and

1. appends it to the store in ONE commit, *before* anything is delivered, so that nothing a
   client got back with an id can be lost by a crash of the process;
2. answers each resend (a ``ref`` the store had already accepted) with the original, to the
   session that resent it alone;
3. tells the bus what was committed (:meth:`~wschat.server.bus.Bus.committed`): the bus sees
   that every process' router gets it (at once here, or through the Redis stream).

What can go wrong, and what each sender gets (docs/decisions.md, "Task failures"):

- the store is down (:class:`~wschat.store.StoreError`): nothing was stored; every sender of
  the burst gets ``server_error`` with its ``ref``, and resends it later;
- anything else raised by the append: whether it committed is unknown, so every sender gets
  ``server_error`` with its ``ref`` (a resend with the same ``ref`` is stored at most once)
  and the bus makes sure no session misses what it may have committed
  (:meth:`~wschat.server.bus.Bus.reconcile`);
- delivery failed: the router has settled it (see :mod:`wschat.server.router`).

Each such failure is logged with its traceback and counted; the writer goes on, unless it
failed that way :data:`~wschat.server.supervise.FAILURES_IN_A_ROW` times in a row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from wschat.core.errors import ErrorCode
from wschat.core.frames import error_frame, message_frame
from wschat.core.model import Draft, Entry
from wschat.server.bus import Bus
from wschat.server.config import MAX_BATCH, MAX_DEFERRED
from wschat.server.metrics import Metrics
from wschat.server.session import Session
from wschat.server.supervise import Supervisor
from wschat.server.writer import Outbox
from wschat.store import Appended, Store, StoreError

__all__ = ["Publisher"]

log = logging.getLogger("wschat.server")

_NOT_STORED = "não foi possível guardar a mensagem; tente de novo"

Batch = Sequence[tuple[Draft, Session]]


class Publisher:
    """The queue of sends and the writer task that commits and publishes them."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        outbox: Outbox,
        metrics: Metrics,
        supervisor: Supervisor,
    ) -> None:
        self._store = store
        self._bus = bus
        self._outbox = outbox
        self._metrics = metrics
        self._streak = supervisor.streak("writer")
        self._queue: asyncio.Queue[tuple[Draft, Session]] = asyncio.Queue()

    def submit(self, draft: Draft, session: Session) -> None:
        """Queue ``draft``, sent by ``session``, for the next commit; never waits."""
        self._queue.put_nowait((draft, session))

    def queued(self) -> int:
        """How many sends wait for a commit."""
        return self._queue.qsize()

    async def run(self) -> None:
        """The writer: commit and publish each burst of sends, forever (the server runs it
        as its ``writer`` task). Raises TaskFailed after too many failures in a row."""
        queue = self._queue
        while True:
            while self._outbox.pending_bytes() > MAX_DEFERRED:
                await asyncio.sleep(0)  # the flusher runs meanwhile: senders slow down instead
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: Batch) -> None:
        started = time.perf_counter()
        try:
            results = await self._store.append([draft for draft, _ in batch])
        except StoreError as error:
            self._metrics.commit_seconds.observe(time.perf_counter() - started)
            log.error("append failed: %s", error)
            self._refuse(batch)
            return
        except Exception as error:
            self._refuse(batch)
            await self._bus.reconcile()
            self._streak.failed(error)
            return
        seconds = time.perf_counter() - started
        try:
            self._publish(batch, results)
            self._metrics.committed(results, seconds)
        except Exception as error:
            self._streak.failed(error)
            return
        self._streak.ok()

    def _publish(self, batch: Batch, results: Sequence[Appended]) -> None:
        """Answer the resends, then hand the new entries to the bus."""
        created: list[tuple[Entry, str | None]] = []
        for (_, session), result in zip(batch, results, strict=True):
            entry = result.entry
            if result.created:
                created.append((entry, session.sid))
            else:
                # The original goes back to the session that resent it, with that ref, every
                # time (it may have seen it without its ref in a replay, or not at all).
                self._outbox.write(session, message_frame(entry, entry.ref))
        self._bus.committed(created)

    def _refuse(self, batch: Batch) -> None:
        for draft, session in batch:
            self._outbox.write(session, error_frame(ErrorCode.SERVER_ERROR, _NOT_STORED, draft.ref))
