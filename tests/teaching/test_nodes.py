"""wschat.teaching.nodes: a real `wschat serve --redis` node, and next_of's named mismatch."""

from __future__ import annotations

import pytest

from wschat import Message, Presence, ServerThread
from wschat.client.chat import ChatClient
from wschat.teaching import nodes
from wschat.teaching.nodes import demo_redis, next_of, start_node
from wschat.teaching.redis_server import find_redis_server


async def test_next_of_returns_the_kind_asked_and_names_a_mismatch() -> None:
    server = ServerThread().start()
    try:
        ana = ChatClient(server.url, "ana", "senha-da-ana")
        await ana.connect()
        await ana.send("oi")
        assert (await next_of(ana, Message)).text == "oi"
        joao = ChatClient(server.url, "joao", "senha-do-joao")
        await joao.connect()
        with pytest.raises(AssertionError, match="esperava Message, veio Presence"):
            await next_of(ana, Message)
        with pytest.raises(TimeoutError):
            await next_of(ana, Presence, timeout=0.2)
        for client in (ana, joao):
            await client.close()
    finally:
        server.stop()


def test_demo_redis_without_a_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nodes, "find_redis_server", lambda: None)
    monkeypatch.setenv("CI", "false")
    assert demo_redis() is None
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="must run in CI"):
        demo_redis()


@pytest.mark.skipif(find_redis_server() is None, reason="no redis-server 6.2+ on this machine")
async def test_a_node_starts_serves_and_stops() -> None:
    redis = demo_redis()
    assert redis is not None
    try:
        process, url = start_node(redis.url, node_ttl=3.0)
        try:
            assert url.startswith("ws://127.0.0.1:") and process.poll() is None
            ana = ChatClient(url, "ana", "senha-da-ana")
            await ana.connect()
            await ana.send("oi, nó")
            assert (await next_of(ana, Message)).text == "oi, nó"
            await ana.close()
        finally:
            process.terminate()
            assert process.wait(20) == 0
    finally:
        redis.stop()


def test_a_node_that_cannot_start_is_named() -> None:
    with pytest.raises(RuntimeError, match="the node did not start"):
        start_node("redis://127.0.0.1:1/0 --bad", node_ttl=-1)  # argparse refuses it
