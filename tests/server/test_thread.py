"""wschat.server.thread: a server in a background thread never dies silently."""

from __future__ import annotations

import asyncio
import dataclasses
import typing
from collections.abc import Callable

import pytest

from wschat import ServerThread, WschatError
from wschat.core.defaults import BURST_PER_RATE, RATE_LIMIT
from wschat.server.config import ServerConfig, ServerOptions
from wschat.server.thread import BackgroundServer, ServerCrashed


def crashing_server(outcome: Callable[[], None]) -> BackgroundServer:
    """A server that starts, then ends on its own once told to (``outcome`` decides how)."""
    crash = asyncio.Event()

    async def serve(ready: Callable[[int], None], stop: asyncio.Event) -> None:
        ready(1234)
        await crash.wait()
        outcome()

    server = BackgroundServer(serve, host="127.0.0.1", name="crashing").start()

    async def trigger() -> None:
        crash.set()

    server.call(trigger)
    assert server._thread is not None
    server._thread.join(10)  # the thread ends by itself: that is the crash
    assert not server.running
    return server


def boom() -> None:
    raise RuntimeError("boom")


def test_a_crash_after_start_is_raised_at_the_next_call_and_at_stop() -> None:
    server = crashing_server(boom)
    assert server.crashed

    async def anything() -> None:
        pass

    with pytest.raises(ServerCrashed, match="boom") as raised:
        server.call(anything)
    assert isinstance(raised.value.__cause__, RuntimeError)
    assert isinstance(raised.value, WschatError)
    with pytest.raises(ServerCrashed, match="boom"):
        server.stop()
    server.stop()  # said once: a second stop is quiet


def test_a_server_that_returns_by_itself_has_crashed_too() -> None:
    server = crashing_server(lambda: None)
    with pytest.raises(ServerCrashed, match="returned by itself"):
        server.stop()


def test_a_server_stopped_on_purpose_has_not_crashed() -> None:
    with ServerThread() as server:
        assert server.running and not server.crashed
    assert not server.crashed and not server.running
    server.stop()


def test_server_options_are_the_config_fields_with_their_types() -> None:
    """ServerThread's typed keywords (ServerOptions) stay in step with ServerConfig."""
    fields = [field.name for field in dataclasses.fields(ServerConfig)]
    config_types = typing.get_type_hints(ServerConfig)
    assert typing.get_type_hints(ServerOptions) == {name: config_types[name] for name in fields}
    assert ServerOptions.__optional_keys__ == frozenset(fields)  # each may be left out


def test_keywords_win_over_a_given_config_and_the_port_is_free_by_default() -> None:
    base = ServerConfig(history=7, port=8765)
    assert ServerThread(base, rate_limit=0).config == dataclasses.replace(base, rate_limit=0)
    assert ServerThread(base).config is base
    assert ServerThread(history=3).config == ServerConfig(port=0, history=3)


def test_the_burst_follows_the_rate_unless_set() -> None:
    assert ServerConfig().send_burst == RATE_LIMIT * BURST_PER_RATE
    assert ServerThread(rate_limit=5).config.send_burst == 5 * BURST_PER_RATE
    assert ServerConfig(rate_limit=5, burst=3).send_burst == 3
    assert ServerConfig(rate_limit=0.1).send_burst == 1  # never below one send
    slower = dataclasses.replace(ServerConfig(rate_limit=50), rate_limit=5)
    assert slower.send_burst == 5 * BURST_PER_RATE  # follows a changed rate too
