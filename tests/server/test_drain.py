"""Drain for deploys (PROTOCOL.md, "Drain"): over real sockets, in-process and as ``serve``.

On stop with a drain window the server admits nobody new (``/healthz`` and new WebSockets get
503), closes its connections with 1012 spread over the window, then ends; ``serve --drain``
exits 0. Timing bounds are generous: they tell "spread over the window" from "all at once",
nothing finer.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from chatkit import Clients, expect_close, http_get, open_ws
from servekit import ServeProcess, wschat_command
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import InvalidStatus

from wschat.cli import build_parser
from wschat.server.thread import ServerThread

PW = "s3nha"
WINDOW = 2.0
N = 6

Serve = Callable[..., ServerThread]


async def closed_at(ws: ClientConnection) -> tuple[float, int | None]:
    """When (loop time) the server's close reached this client, and its code."""
    await ws.wait_closed()
    return asyncio.get_running_loop().time(), ws.close_code


async def test_drain_spreads_1012_closes_over_the_window_and_admits_nobody(
    serve: Serve, clients: Clients
) -> None:
    server = serve(drain=WINDOW)
    sockets = [(await clients.login(server.url, f"u{i}", PW))[0] for i in range(N)]
    watchers = [asyncio.create_task(closed_at(ws)) for ws in sockets]
    started = asyncio.get_running_loop().time()
    stopping = asyncio.create_task(asyncio.to_thread(server.stop, WINDOW + 20))

    # The first close comes at once; from then on the server is draining for a while yet.
    done, _ = await asyncio.wait(watchers, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    assert done, "no connection closed after the stop"
    status, _, body = await asyncio.to_thread(http_get, server.http_url + "healthz")
    assert (status, body) == (503, b"draining\n")
    with pytest.raises(InvalidStatus) as refused:
        await open_ws(server.url)
    assert refused.value.response.status_code == 503

    results = await asyncio.wait_for(asyncio.gather(*watchers), WINDOW + 20)
    await asyncio.wait_for(stopping, WINDOW + 20)
    assert [code for _, code in results] == [1012] * N
    times = sorted(t for t, _ in results)
    # Planned at 0, W/N, ..., W - W/N: a span of 1.67 s here, not all at once...
    assert times[-1] - times[0] >= WINDOW / 2, times
    gaps = sorted(b - a for a, b in itertools.pairwise(times))
    assert gaps[len(gaps) // 2] >= WINDOW / N / 3, gaps
    # ... and within the window (plus slack for a busy machine).
    assert times[-1] - started <= WINDOW + 5, times


async def test_without_drain_everything_closes_at_once_with_1001(
    serve: Serve, clients: Clients
) -> None:
    server = serve()
    sockets = [(await clients.login(server.url, f"u{i}", PW))[0] for i in range(3)]
    stopping = asyncio.create_task(asyncio.to_thread(server.stop))
    for ws in sockets:
        await expect_close(ws, 1001)
    await stopping


@pytest.mark.posix_signals
async def test_serve_drain_exits_0_after_sigterm(tmp_path: Path, clients: Clients) -> None:
    with ServeProcess("--db", ":memory:", "--drain", "2", cwd=tmp_path) as server:
        server.ready()
        ana, _ = await clients.login(server.url, "ana", PW)
        bob, _ = await clients.login(server.url, "bob", PW)
        server.signal(signal.SIGTERM)
        for ws in (ana, bob):
            await expect_close(ws, 1012, timeout=10)
        assert await asyncio.to_thread(server.wait) == 0
        assert server.stdout.all() == [server.line]
        assert not any("Traceback" in line for line in server.stderr.all())


def test_serve_help_shows_drain_and_metrics_token() -> None:
    result = subprocess.run(
        wschat_command("serve", "--help"), capture_output=True, text=True, timeout=60, check=True
    )
    assert "--drain SECONDS" in result.stdout
    assert "--metrics-token TOKEN" in result.stdout


def test_drain_and_metrics_token_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WSCHAT_METRICS_TOKEN", raising=False)
    args = build_parser().parse_args(["serve"])
    assert (args.drain, args.metrics_token) == (0.0, None)
    args = build_parser().parse_args(["serve", "--drain", "2.5", "--metrics-token", "abc"])
    assert (args.drain, args.metrics_token) == (2.5, "abc")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--drain", "-1"])
