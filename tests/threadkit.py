"""Helpers for tests of chat servers run in this process (``ServerThread``, see the ``serve``
fixture of tests/conftest.py): the ``Serve`` type, /metrics read as numbers, faults injected
on a server's loop, resuming after a fault, and a sink that records what a bus hands over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from chatkit import Clients, Frame, http_get, read_backlog
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import ClientConnection

from wschat.core.model import Entry
from wschat.server.metrics import Metrics
from wschat.server.supervise import Supervisor
from wschat.server.thread import ServerThread

__all__ = ["PW", "Boom", "BusSink", "Serve", "failing_once", "on_loop", "resume", "scrape", "supervisor"]

#: The password of every test user (accounts are created at first login).
PW = "s3nha"

#: The ``serve`` fixture: start a server with any ServerConfig fields, stopped after the test.
Serve = Callable[..., ServerThread]


def scrape(server: ServerThread, headers: dict[str, str] | None = None) -> dict[str, float]:
    """GET /metrics, parsed by prometheus_client: sample name (with labels) -> value."""
    status, response_headers, body = http_get(server.http_url + "metrics", headers)
    assert status == 200, (status, body)
    assert response_headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            values[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return values


class Boom(RuntimeError):
    """The injected fault."""


async def on_loop(server: ServerThread, change: Callable[[], None]) -> None:
    """Run ``change()`` on the server's event loop (where its objects live)."""

    async def run() -> None:
        change()

    await asyncio.to_thread(server.call, run)


def failing_once(real: Callable[..., Any], *, after: bool = False) -> Callable[..., Any]:
    """``real`` that raises :class:`Boom` the first time (``after``: once it has done its work)."""
    calls = 0

    def fake(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1 and not after:
            raise Boom("injected")
        result = real(*args)
        if calls == 1:
            raise Boom("injected after the work was done")
        return result

    return fake


async def resume(
    clients: Clients, url: str, welcome: Frame, after: str
) -> tuple[ClientConnection, list[Frame]]:
    """Log in again with the token of ``welcome`` and resume after ``after``: the replay."""
    ws, again = await clients.login(
        url, welcome["user"], token=welcome["token"],
        resume={"epoch": welcome["epoch"], "after": after})
    assert again["recovered"] is True
    return ws, await read_backlog(ws, again, after)


class BusSink:
    """A sink that records what it is handed."""

    def __init__(self) -> None:
        self.entries: list[tuple[Entry, str | None]] = []
        self.presence: list[tuple[str, bool, str | None]] = []
        #: How many entries each ``deliver`` call handed over.
        self.runs: list[int] = []
        self.resyncs = 0
        self.reads: list[tuple[str, str]] = []
        self.typings: list[tuple[str, str | None]] = []

    def deliver(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        self.entries.extend(entries)
        self.runs.append(len(entries))

    def resync(self) -> None:
        self.resyncs += 1

    def presence_changed(self, user: str, online: bool, event_id: str | None) -> None:
        self.presence.append((user, online, event_id))

    def read_changed(self, user: str, entry_id: str) -> None:
        self.reads.append((user, entry_id))

    def typing(self, user: str, to: str | None) -> None:
        self.typings.append((user, to))


def supervisor() -> Supervisor:
    """A supervisor with its own metrics, for a bus started outside a server."""
    return Supervisor(Metrics())
