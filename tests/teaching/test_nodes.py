"""wschat.teaching.nodes: a real `wschat serve --redis` node and its log explained in Portuguese,
and next_of's named mismatch."""

from __future__ import annotations

import pytest

from wschat import ErrorEvent, Message, Presence, ServerThread
from wschat.client.chat_client import ChatClient
from wschat.teaching import nodes
from wschat.teaching.nodes import LOG_MEANINGS, demo_redis, explain_log, next_of, start_node
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
        node = start_node(redis.url, node_ttl=3.0)
        try:
            assert node.url.startswith("ws://127.0.0.1:") and node.process.poll() is None
            ana = ChatClient(node.url, "ana", "senha-da-ana")
            await ana.connect()
            await ana.send("oi, nó")
            assert (await next_of(ana, Message)).text == "oi, nó"
            await ana.close()
        finally:
            node.process.terminate()
            assert node.wait(20) == 0
        assert node.log == []  # it logs errors only, and there were none
    finally:
        redis.stop()


@pytest.mark.skipif(find_redis_server() is None, reason="no redis-server 6.2+ on this machine")
async def test_a_node_without_redis_logs_what_explain_log_translates() -> None:
    redis = demo_redis()
    assert redis is not None
    node = start_node(redis.url, node_ttl=3.0)
    try:
        ana = ChatClient(node.url, "ana", "senha-da-ana")
        await ana.connect()
        redis.stop()
        await ana.send("alguém aí?")
        refused = await next_of(ana, ErrorEvent)
        assert refused.code == "server_error"
        await ana.close()
    finally:
        redis.stop()
        node.process.terminate()
        assert node.wait(20) == 0
    assert any("append failed" in line for line in node.log), node.log
    explained = explain_log(node.log)
    assert explained and not any(e.startswith("(sem tradução)") for e in explained), node.log
    assert dict(LOG_MEANINGS)["append failed"] in explained


def test_explain_log_says_each_kind_once_and_keeps_an_unknown_line() -> None:
    lines = [
        "2026-12-06 06:17:46,942 ERROR wschat.cluster: Redis unreachable (tail): refused",
        "2026-12-06 06:17:46,958 ERROR wschat.server: append failed: Redis error",
        "2026-12-06 06:17:47,001 ERROR wschat.server: append failed: Redis error",
        "2026-12-06 06:17:48,000 ERROR wschat.other: something new",
    ]
    meanings = dict(LOG_MEANINGS)
    assert explain_log(lines) == [
        meanings["Redis unreachable (tail)"],
        meanings["append failed"],
        "(sem tradução) " + lines[-1],
    ]
    assert explain_log([]) == []


def test_a_node_that_cannot_start_is_named() -> None:
    with pytest.raises(RuntimeError, match="the node did not start"):
        start_node("redis://127.0.0.1:1/0 --bad", node_ttl=-1)  # argparse refuses it
