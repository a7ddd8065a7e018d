"""wschat.server.supervise: what a task's failure leads to, without a server around it."""

from __future__ import annotations

import asyncio

import pytest

from wschat.server.metrics import Metrics
from wschat.server.supervise import FAILURES_IN_A_ROW, Supervisor, TaskFailed


def count(metrics: Metrics, task: str) -> float:
    value = metrics.registry.get_sample_value("wschat_task_failures_total", {"task": task})
    assert value is not None
    return value


async def test_a_fatal_task_that_raises_is_reported_and_stops_the_server() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics)

    async def broken() -> None:
        raise ValueError("bug")

    task = supervisor.spawn("flusher", broken())
    failure = await asyncio.wait_for(supervisor.failed(), 5)
    assert failure is supervisor.failure and failure.task == "flusher"
    assert str(failure) == "the flusher task failed: ValueError: bug"
    assert isinstance(failure.__cause__, ValueError)
    assert task.done() and count(metrics, "flusher") == 1
    assert task not in supervisor.tasks


async def test_a_cancelled_or_finished_task_is_no_failure() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics)
    forever = supervisor.spawn("writer", asyncio.Event().wait())

    async def done() -> None:
        return None

    finished = supervisor.spawn("tail", done())
    assert set(supervisor.tasks) == {forever, finished}
    forever.cancel()
    await asyncio.wait([forever, finished])
    assert supervisor.failure is None and not supervisor.tasks
    assert count(metrics, "writer") == count(metrics, "tail") == 0


async def test_a_per_connection_task_takes_only_its_own_action() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics)
    seen: list[BaseException] = []

    async def broken() -> None:
        raise OSError("peer")

    task = supervisor.spawn("keepalive", broken(), fatal=False, on_failure=seen.append)
    await asyncio.wait([task])
    assert [type(e) for e in seen] == [OSError]
    assert supervisor.failure is None and count(metrics, "keepalive") == 1


async def test_a_streak_ends_the_task_at_the_limit_and_a_success_resets_it() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics)
    streak = supervisor.streak("writer")
    for _ in range(FAILURES_IN_A_ROW - 1):
        streak.failed(RuntimeError("one batch"))
    streak.ok()
    for _ in range(FAILURES_IN_A_ROW - 1):
        streak.failed(RuntimeError("one batch"))
    with pytest.raises(TaskFailed, match="the writer task failed: RuntimeError: again"):
        streak.failed(RuntimeError("again"))
    assert count(metrics, "writer") == 2 * FAILURES_IN_A_ROW - 1


async def test_a_streak_that_ends_its_task_is_counted_once() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics, limit=1)
    streak = supervisor.streak("writer")

    async def writer() -> None:
        streak.failed(RuntimeError("every time"))

    supervisor.spawn("writer", writer())
    failure = await asyncio.wait_for(supervisor.failed(), 5)
    assert failure.task == "writer" and count(metrics, "writer") == 1


async def test_a_report_counts_under_the_running_task() -> None:
    metrics = Metrics()
    supervisor = Supervisor(metrics)

    async def reporting() -> None:
        supervisor.report(RuntimeError("one write"))

    await supervisor.spawn("flusher", reporting())
    supervisor.report(RuntimeError("in a handler"))  # not a supervised task
    assert count(metrics, "flusher") == 1 and count(metrics, "connection") == 1
    assert supervisor.failure is None
