"""Several ``python -m wschat serve --redis`` processes on one real redis-server.

Every node here is a real process started by the test (``--port 0``), every client a raw
websockets connection (chatkit): nothing is faked and nothing de-duplicates. The scenarios of
issue 5: users on different nodes reach each other in one order; presence is counted across
nodes, once per transition; a node killed with SIGKILL has its users announced offline once by
the survivors, and its users resume on another node without a gap; Redis going away makes sends
fail with ``server_error`` and the nodes recover without a restart.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from chatkit import (
    Clients,
    Frame,
    expect_close,
    expect_silence,
    http_get,
    ids,
    publish,
    read_backlog,
    recv_json,
    recv_n,
    send_json,
)
from rediskit import NODE_TTL, START, Node, fresh_prefix, need_redis_server, start_node
from websockets.asyncio.client import ClientConnection

from wschat.teaching.redis_server import RedisServer

#: Stops its processes with POSIX signals (skipped on Windows, see tests/conftest.py).
pytestmark = pytest.mark.posix_signals

PW = "s3nha"
@pytest.fixture
def cluster_prefix() -> str:
    return fresh_prefix()


@pytest.fixture
async def nodes(
    redis_server: RedisServer, cluster_prefix: str, tmp_path: Path
) -> AsyncIterator[list[Node]]:
    """Three nodes, A, B and C, on the session's redis-server; stopped after the test."""
    started = [
        await start_node(redis_server.url, cluster_prefix, tmp_path / f"node-{name}.log")
        for name in "ABC"
    ]
    yield started
    for node in started:
        await node.stop()


async def presence(ws: ClientConnection, user: str, online: bool, timeout: float = 5.0) -> None:
    frame = await recv_json(ws, timeout)
    assert frame == {"type": "presence", "user": user, "online": online}


async def silent(*sockets: ClientConnection) -> None:
    await asyncio.gather(*(expect_silence(ws) for ws in sockets))


async def tab(clients: Clients, url: str, welcome: Frame) -> tuple[ClientConnection, Frame]:
    return await clients.login(url, welcome["user"], token=welcome["token"])


# --------------------------------------------------------------------------- messages


async def test_public_and_private_across_nodes(nodes: list[Node], clients: Clients) -> None:
    a, b, c = nodes
    ana, ana_w = await clients.login(a.url, "ana", PW)
    joao_b, joao_w = await clients.login(b.url, "joao", PW)
    carol, _ = await clients.login(c.url, "carol", PW)
    await presence(ana, "joao", True)
    await presence(ana, "carol", True)
    await presence(joao_b, "carol", True)
    joao_a, again = await tab(clients, a.url, joao_w)  # joao's second tab, on node A
    assert again["epoch"] == joao_w["epoch"] == ana_w["epoch"]  # one log, one epoch
    await silent(ana, joao_b, carol)  # a second tab is no presence change

    # Public from A: every session on every node, the sender's with its ref, once each.
    echo = await publish(ana, "oi a todos", ref="p-1")
    assert (echo["from"], echo["to"]) == ("ana", None)
    for sock in (joao_b, joao_a, carol):
        message = await recv_json(sock)
        assert (message["id"], message["text"], message.get("ref")) == (echo["id"], "oi a todos", None)

    # Private from B to ana: ana (A), joao's two tabs (A and B); carol (C) sees nothing.
    private = await publish(joao_b, "só para a ana", to="ANA", ref="d-1")
    assert (private["from"], private["to"]) == ("joao", "ana")
    for sock in (ana, joao_a):
        message = await recv_json(sock)
        assert (message["id"], message["to"], message.get("ref")) == (private["id"], "ana", None)

    # Replies from both tabs, interleaved: every session sees one order, the log's.
    sent = []
    for sock, text in ((joao_a, "de A"), (ana, "de ana"), (joao_b, "de B")):
        await send_json(sock, {"type": "send", "text": text})
        sent.append(text)
    seen = {}
    for name, sock in (("ana", ana), ("joao_a", joao_a), ("joao_b", joao_b), ("carol", carol)):
        seen[name] = [(m["id"], m["text"]) for m in await recv_n(sock, 3)]
    assert len({tuple(v) for v in seen.values()}) == 1, seen  # the same order everywhere
    assert sorted(t for _, t in seen["carol"]) == sorted(sent)
    await silent(ana, joao_a, joao_b, carol)


async def test_unknown_user_and_history_across_nodes(nodes: list[Node], clients: Clients) -> None:
    a, b, _ = nodes
    ana, _ = await clients.login(a.url, "ana", PW)
    await send_json(ana, {"type": "send", "text": "oi", "to": "bob", "ref": "x"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "unknown_user", "x")
    sent = [await publish(ana, f"m{i}") for i in range(3)]
    bob, welcome = await clients.login(b.url, "bob", PW)  # registered on B, known on A
    assert welcome["last"] == sent[-1]["id"]
    assert ids(await read_backlog(bob, welcome)) == ids(sent)
    await presence(ana, "bob", True)
    echo = await publish(ana, "agora existe", to="bob")
    assert ids([await recv_json(bob)]) == [echo["id"]]
    await send_json(bob, {"type": "history", "before": sent[-1]["id"], "limit": 10})
    assert ids((await recv_json(bob))["messages"]) == ids(sent[:2])


async def test_resent_ref_on_another_node_is_not_stored_again(
    nodes: list[Node], clients: Clients
) -> None:
    a, b, c = nodes
    ana_a, ana_w = await clients.login(a.url, "ana", PW)
    ana_b, _ = await tab(clients, b.url, ana_w)
    original = await publish(ana_a, "uma vez", ref="c-1")
    assert ids([await recv_json(ana_b)]) == [original["id"]]
    # The tab on B resends the same ref: it gets the original back (with its ref), nothing new;
    # so does the tab on A that sent it, every time it resends.
    for sender in (ana_b, ana_a, ana_a):
        await send_json(sender, {"type": "send", "text": "uma vez", "ref": "c-1"})
        assert await recv_json(sender) == original
    await silent(ana_a, ana_b)
    # A tab opening on C gets the message in its history without the ref, and its resend
    # answered with the original.
    ana_c, welcome = await tab(clients, c.url, ana_w)
    history = await read_backlog(ana_c, welcome)
    assert history == [{k: v for k, v in original.items() if k != "ref"}]
    await send_json(ana_c, {"type": "send", "text": "uma vez", "ref": "c-1"})
    assert await recv_json(ana_c) == original
    await silent(ana_a, ana_b, ana_c)


# --------------------------------------------------------------------------- presence


async def test_presence_is_counted_across_nodes(nodes: list[Node], clients: Clients) -> None:
    a, b, c = nodes
    ana, _ = await clients.login(a.url, "ana", PW)
    carol, _ = await clients.login(c.url, "carol", PW)
    await presence(ana, "carol", True)
    joao_b, joao_w = await clients.login(b.url, "joao", PW)
    assert joao_w["online"] == ["ana", "carol", "joao"]
    await presence(ana, "joao", True)
    await presence(carol, "joao", True)

    joao_a, tab_w = await tab(clients, a.url, joao_w)  # second session, another node
    assert tab_w["online"] == ["ana", "carol", "joao"]
    for frame in ({"type": "who"}, {"type": "send", "text": "/who"}):
        await send_json(carol, frame)
        assert (await recv_json(carol))["online"] == ["ana", "carol", "joao"]
    await silent(ana, carol, joao_b)

    await joao_b.close()  # not the last session anywhere: no notice
    await silent(ana, carol, joao_a)
    await joao_a.close()  # the last one: offline, once, on every node
    await presence(ana, "joao", False)
    await presence(carol, "joao", False)
    await silent(ana, carol)
    await send_json(ana, {"type": "who"})
    assert (await recv_json(ana))["online"] == ["ana", "carol"]


async def test_store_and_forward_across_nodes(nodes: list[Node], clients: Clients) -> None:
    a, b, _ = nodes
    ana, _ = await clients.login(a.url, "ana", PW)
    bob, bob_w = await clients.login(b.url, "bob", PW)
    await presence(ana, "bob", True)
    await bob.close()
    await presence(ana, "bob", False)
    kept = [await publish(ana, f"guardada {i}", to="bob") for i in range(2)]
    bob, welcome = await clients.login(a.url, "bob", token=bob_w["token"])  # now on node A
    await presence(ana, "bob", True)
    assert welcome["recovered"] is False
    assert ids(await read_backlog(bob, welcome)) == ids(kept)


# --------------------------------------------------------------------------- read position, typing


async def test_read_position_is_synced_across_nodes_and_counted_on_another(
    nodes: list[Node], clients: Clients
) -> None:
    a, b, c = nodes
    bob, _ = await clients.login(c.url, "bob", PW)
    ana_a, ana_w = await clients.login(a.url, "ana", PW)
    await presence(bob, "ana", True)
    ana_b, _ = await tab(clients, b.url, ana_w)  # the same user on another process
    sent = [await publish(bob, f"m{i}") for i in range(3)]
    for ws in (ana_a, ana_b):
        assert ids(await recv_n(ws, 3)) == ids(sent)

    await send_json(ana_b, {"type": "read", "id": sent[1]["id"]})
    for ws in (ana_a, ana_b):  # both processes, the sending session included
        assert await recv_json(ws) == {"type": "read", "id": sent[1]["id"]}
    await silent(ana_a, ana_b, bob)  # once each, and never to another user
    await send_json(ana_a, {"type": "read", "id": sent[0]["id"]})  # older: nothing anywhere
    await silent(ana_a, ana_b, bob)

    _, on_c = await clients.login(c.url, "ana", PW)  # a third process
    assert (on_c["read"], on_c["unread"]) == (sent[1]["id"], 1)


async def test_typing_travels_across_nodes(nodes: list[Node], clients: Clients) -> None:
    a, b, c = nodes
    ana, _ = await clients.login(a.url, "ana", PW)
    bob, _ = await clients.login(b.url, "bob", PW)
    await presence(ana, "bob", True)
    cid, _ = await clients.login(c.url, "cid", PW)
    await presence(ana, "cid", True)
    await presence(bob, "cid", True)
    await send_json(ana, {"type": "typing", "to": "bob"})
    assert await recv_json(bob) == {"type": "typing", "user": "ana", "to": "bob"}
    await silent(ana, bob, cid)  # private: the recipient alone
    await asyncio.sleep(1.0)  # the one-per-second bound is about time passing
    await send_json(bob, {"type": "typing"})
    for ws in (ana, cid):
        assert await recv_json(ws) == {"type": "typing", "user": "bob"}
    await silent(ana, bob, cid)

    # One per user per second for the whole cluster: two tabs on two processes at once.
    bob_c, _ = await clients.login(c.url, "bob", PW)
    await asyncio.sleep(1.0)
    await asyncio.gather(*(send_json(ws, {"type": "typing"}) for ws in (bob, bob_c)))
    for ws in (ana, cid):
        assert await recv_json(ws) == {"type": "typing", "user": "bob"}
    await silent(ana, bob, bob_c, cid)


# --------------------------------------------------------------------------- node failure


async def test_killed_node_users_go_offline_once_and_resume_elsewhere(
    nodes: list[Node], clients: Clients
) -> None:
    a, b, c = nodes
    ana, ana_w = await clients.login(a.url, "ana", PW)
    bob, _ = await clients.login(b.url, "bob", PW)
    carol, _ = await clients.login(c.url, "carol", PW)
    await presence(ana, "bob", True)
    await presence(ana, "carol", True)
    await presence(bob, "carol", True)
    seen = await publish(ana, "antes de cair")
    for sock in (bob, carol):
        assert ids([await recv_json(sock)]) == [seen["id"]]

    killed_at = time.monotonic()
    a.kill()
    await a.process.wait()
    # The kernel closes ana's socket (no close frame): her client sees 1006.
    await expect_close(ana, None)
    # The survivors B and C both sweep; the script makes it one notice per session, not two.
    await asyncio.gather(
        *(presence(sock, "ana", False, timeout=3 * NODE_TTL) for sock in (bob, carol)),
    )
    waited = time.monotonic() - killed_at
    assert waited < NODE_TTL + NODE_TTL / 3 + 3.0, waited  # ttl + one sweep (+ slack)
    await asyncio.gather(expect_silence(bob, 2 * NODE_TTL), expect_silence(carol, 2 * NODE_TTL))

    missed = [await publish(bob, "enquanto ana estava fora")]
    await recv_json(carol)
    missed.append(await publish(carol, "para ana", to="ana"))
    missed.append(await publish(bob, "mais uma"))
    await recv_json(carol)

    # ana's client reconnects to another node and resumes: recovered, no gap, no double.
    resume = {"epoch": ana_w["epoch"], "after": seen["id"]}
    ana, welcome = await clients.login(b.url, "ana", token=ana_w["token"], resume=resume)
    assert welcome["recovered"] is True
    assert welcome["last"] == missed[-1]["id"]
    assert ids(await read_backlog(ana, welcome, after=seen["id"])) == ids(missed)
    await presence(bob, "ana", True)
    await presence(carol, "ana", True)
    await silent(ana, bob, carol)
    live = await publish(ana, "voltei")
    assert ids([await recv_json(bob)]) == [live["id"]]


async def test_sigterm_closes_with_1001_and_announces_offline(
    nodes: list[Node], clients: Clients
) -> None:
    a, b, _ = nodes
    ana, _ = await clients.login(a.url, "ana", PW)
    bob, _ = await clients.login(b.url, "bob", PW)
    await presence(ana, "bob", True)
    stopping = asyncio.create_task(a.stop())
    await expect_close(ana, 1001)
    assert await stopping == 0
    await presence(bob, "ana", False)
    await expect_silence(bob, 2 * NODE_TTL)  # the sweep finds nothing left to announce


async def test_frozen_node_is_swept_then_comes_back(nodes: list[Node], clients: Clients) -> None:
    """A node that stops answering (SIGSTOP) past its TTL is swept like a dead one; when it
    runs again (SIGCONT) it re-registers its sessions, and its users are online again."""
    a, b, _ = nodes
    ana, _ = await clients.login(a.url, "ana", PW)
    bob, _ = await clients.login(b.url, "bob", PW)
    await presence(ana, "bob", True)
    a.process.send_signal(signal.SIGSTOP)
    try:
        await presence(bob, "ana", False, timeout=3 * NODE_TTL)
    finally:
        a.process.send_signal(signal.SIGCONT)
    await presence(bob, "ana", True, timeout=3 * NODE_TTL)  # A's next heartbeat finds itself unknown: re-registers
    await expect_silence(bob, 2 * NODE_TTL)
    await send_json(bob, {"type": "who"})
    assert (await recv_json(bob))["online"] == ["ana", "bob"]
    # ana's connection lived through it: she gets what was said, and can talk.
    echo = await publish(bob, "ainda aí?")
    assert ids([await recv_json(ana)]) == [echo["id"]]
    await publish(ana, "sim")
    assert (await recv_json(bob))["text"] == "sim"


# --------------------------------------------------------------------------- Redis failure


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test alone, so that it can stop and restart it."""
    with RedisServer(need_redis_server()) as server:
        yield server


async def test_redis_restart_gives_server_error_then_recovers(
    own_redis: RedisServer, clients: Clients, tmp_path: Path
) -> None:
    a = await start_node(own_redis.url, "w:", tmp_path / "a.log")
    b = await start_node(own_redis.url, "w:", tmp_path / "b.log")
    try:
        ana, ana_w = await clients.login(a.url, "ana", PW)
        bob, _ = await clients.login(b.url, "bob", PW)
        await presence(ana, "bob", True)
        before = await publish(ana, "antes")
        assert ids([await recv_json(bob)]) == [before["id"]]

        await asyncio.to_thread(own_redis.terminate)  # Redis goes away
        await send_json(ana, {"type": "send", "text": "durante", "ref": "r-down"})
        error = await recv_json(ana, timeout=15)
        assert (error["type"], error["code"], error["ref"]) == ("error", "server_error", "r-down")
        status, _, body = http_get(a.http_url + "healthz")  # the node itself is fine
        assert (status, body.strip()) == (200, b"ok")

        await asyncio.to_thread(own_redis.start)  # back, same port, same data (AOF)
        # The client resends with the same ref: stored once, delivered through the tail.
        await send_json(ana, {"type": "send", "text": "durante", "ref": "r-down"})
        echo = await recv_json(ana, timeout=15)
        assert (echo["type"], echo["ref"], echo["text"]) == ("message", "r-down", "durante")
        assert ids([await recv_json(bob, timeout=15)]) == [echo["id"]]
        await silent(ana, bob)

        # Nothing acknowledged was lost, the epoch is the same, and new logins work.
        carol, welcome = await clients.login(b.url, "carol", PW)
        assert welcome["epoch"] == ana_w["epoch"]
        assert ids(await read_backlog(carol, welcome)) == [before["id"], echo["id"]]
        await presence(ana, "carol", True)
        await presence(bob, "carol", True)
        for node in (a, b):
            assert "Redis unreachable" in node.log_text()
            assert "Traceback" not in node.log_text()
    finally:
        await clients.aclose()
        assert await a.stop() == 0
        assert await b.stop() == 0


# --------------------------------------------------------------------------- command line


async def run_serve(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "wschat", "serve", "--port", "0", *args,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), START)
    assert process.returncode is not None
    return process.returncode, err.decode()


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["--redis", "http://x"], 2, "not a Redis URL"),
        (["--redis", "redis://127.0.0.1:1/0", "--db", "x.db"], 2, "exclude each other"),
        (["--redis", "redis://127.0.0.1:1/0"], 1, "cannot use Redis at redis://127.0.0.1:1/0"),
    ],
    ids=["bad url", "with --db", "unreachable"],
)
async def test_serve_redis_errors_are_one_line(args: list[str], status: int, says: str) -> None:
    code, err = await run_serve(*args)
    assert code == status
    assert says in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
