"""Fixtures of the server tests (with those of tests/conftest.py: ``serve``, ``clients``,
``backend``, ``redis_server``): ``server``, and ``fuzz_ctx`` for the fuzz tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fuzzkit.oracle import CANARIES, SECRET
from fuzzkit.session import Context
from threadkit import Serve

from wschat.server.thread import ServerThread


@pytest.fixture
def server(serve: Serve) -> ServerThread:
    """A server with the default configuration on the test's backend."""
    return serve()


@pytest.fixture(scope="module")
def fuzz_ctx() -> Iterator[Context]:
    """One live server per test module for the fuzz tests (tests/fuzzkit): the canaries and
    the fuzzer logged in; the server has no rate limit and very high failed-login limits."""
    server = ServerThread(
        rate_limit=0, login_failures_per_name=10**9, login_failures_per_address=10**9
    )
    server.start()
    loop = asyncio.new_event_loop()
    context = Context(server, loop)

    async def setup() -> None:
        for name in CANARIES:
            context.canaries.append(await context.login(name, password=SECRET))
        await (await context.login("Ana", password="pw-1")).close()
        await context.fuzzer_session()

    try:
        context.run(setup())
        yield context
    finally:
        async def teardown() -> None:
            for recorder in [*context.canaries, context.fuzzer]:
                if recorder is not None:
                    recorder.ws.transport.abort()
                    await recorder.ended()

        context.run(teardown())
        loop.close()
        server.stop()
