"""Supervision of the server's tasks: a bug is loud, never a silent stop.

Every long-lived task of the server runs under one :class:`Supervisor`: the writer
(:mod:`~wschat.server.publisher`), the flusher (:mod:`~wschat.server.writer`), the Redis
bus's tail and heartbeat (:mod:`wschat.cluster.redis_bus`), each connection's keepalive and the
drain. Whatever escapes a task is logged with its traceback and counted in ``/metrics``
(``wschat_task_failures_total{task=...}``); what happens next depends on its scope
(docs/decisions.md, "Task failures"):

- **A server-wide task that ends with an exception cannot go on** (``fatal``): the supervisor
  records a :class:`TaskFailed` and wakes the server, which refuses everyone new (``/healthz``
  503), closes its connections with 1011 (clients resume elsewhere) and ends with that error:
  ``serve`` exits 1, ``ServerThread`` raises ``ServerCrashed``.
- **A per-connection task** (keepalive) takes only its connection down: its ``on_failure``
  closes it with 1011.
- **A task that survives a failed unit of work** (the writer's batch, the tail's burst: their
  senders were answered and no session was left with a gap) reports it through its
  :class:`Streak`; the :data:`FAILURES_IN_A_ROW`-th failure in a row raises
  :class:`TaskFailed`, which ends the task and so the server: a step that fails every time
  is a bug to fix, not a state to live in.

Cancelling a task (the server stopping) is never a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from wschat.core.errors import WschatError
from wschat.server.metrics import Metrics

__all__ = ["FAILURES_IN_A_ROW", "Streak", "Supervisor", "TaskFailed"]

log = logging.getLogger("wschat.server")

#: Failed units of work in a row after which a surviving task gives up (and the server stops).
FAILURES_IN_A_ROW = 3


class TaskFailed(WschatError):
    """A task of the server failed and cannot go on, so the server stops.

    ``task`` names it (``writer``, ``flusher``, ``tail``...); ``__cause__`` is its exception.
    """

    def __init__(self, task: str, error: BaseException) -> None:
        super().__init__(f"the {task} task failed: {type(error).__name__}: {error}")
        self.task = task
        self.__cause__ = error


class Streak:
    """The failures in a row of a task that survives a failed unit of work.

    Call :meth:`failed` after settling a unit that raised (log, count; raises
    :class:`TaskFailed` at the limit) and :meth:`ok` after one that went through.
    """

    __slots__ = ("_count", "_limit", "_supervisor", "task")

    def __init__(self, supervisor: Supervisor, task: str, limit: int) -> None:
        self._supervisor = supervisor
        self.task = task
        self._limit = limit
        self._count = 0

    def failed(self, error: BaseException) -> None:
        """One unit of work failed and was settled: report it; raise TaskFailed if that makes
        :data:`FAILURES_IN_A_ROW` in a row (the task must then end)."""
        self._supervisor.report(error, self.task)
        self._count += 1
        if self._count >= self._limit:
            raise TaskFailed(self.task, error)

    def ok(self) -> None:
        """One unit of work went through: the streak starts again."""
        self._count = 0


class Supervisor:
    """Runs and watches the tasks of one server (see the module doc)."""

    def __init__(self, metrics: Metrics, *, limit: int = FAILURES_IN_A_ROW) -> None:
        self._metrics = metrics
        self._limit = limit
        #: Every task still running, and the name its failures are counted under.
        self._names: dict[asyncio.Task[Any], str] = {}
        #: The failure that stops the server, once there is one.
        self.failure: TaskFailed | None = None
        self._failed = asyncio.Event()

    @property
    def tasks(self) -> Collection[asyncio.Task[Any]]:
        """The supervised tasks still running (a live view)."""
        return self._names.keys()

    def spawn(
        self,
        task: str,
        coro: Coroutine[Any, Any, Any],
        *,
        fatal: bool = True,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> asyncio.Task[Any]:
        """Run ``coro`` as the task ``task``; an exception that ends it is reported, then
        ``on_failure(error)`` runs (it must not block), and a ``fatal`` one stops the server."""
        running = asyncio.get_running_loop().create_task(coro, name=f"wschat-{task}")
        self._names[running] = task
        running.add_done_callback(lambda done: self._ended(done, task, fatal, on_failure))
        return running

    def streak(self, task: str) -> Streak:
        """A new :class:`Streak` for ``task``, with this supervisor's limit."""
        return Streak(self, task, self._limit)

    def report(self, error: BaseException, task: str | None = None) -> None:
        """Log ``error`` with its traceback and count it under ``task`` (default: the running
        task's name, or ``connection`` for a connection's own handler)."""
        name = task if task is not None else self.current()
        log.error("%s task: unexpected %s: %s", name, type(error).__name__, error, exc_info=error)
        self._metrics.task_failures.labels(task=name).inc()

    def fail(self, task: str, error: BaseException) -> TaskFailed:
        """``task`` cannot go on: report ``error`` (unless it is a TaskFailed, reported by its
        streak already), record the failure (the first one wins) and wake :meth:`failed`."""
        if isinstance(error, TaskFailed):
            failure = error
        else:
            self.report(error, task)
            failure = TaskFailed(task, error)
        if self.failure is None:
            self.failure = failure
            log.critical("%s: the server stops (clients resume elsewhere)", failure)
            self._failed.set()
        return failure

    async def failed(self) -> TaskFailed:
        """Return the failure that stops the server, once there is one."""
        await self._failed.wait()
        assert self.failure is not None
        return self.failure

    def current(self) -> str:
        """The name of the running task if this supervisor runs it, else ``connection``."""
        running = asyncio.current_task()
        return self._names.get(running, "connection") if running is not None else "connection"

    def _ended(
        self,
        done: asyncio.Task[Any],
        task: str,
        fatal: bool,
        on_failure: Callable[[BaseException], None] | None,
    ) -> None:
        self._names.pop(done, None)
        if done.cancelled():
            return
        error = done.exception()  # retrieved here: asyncio never logs it as "never retrieved"
        if error is None:
            return
        if fatal:
            self.fail(task, error)
        elif not isinstance(error, TaskFailed):
            self.report(error, task)
        if on_failure is not None:
            on_failure(error)
