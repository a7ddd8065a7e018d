"""A Redis node's tail is supervised too (see tests/server/test_task_failures.py).

On Redis the tail, not the writer, hands every entry to the node's router: a burst the router
cannot deliver is settled (its sender gets ``server_error``, the node's sessions resume) and
the tail goes on; a tail that raises anywhere else cannot go on, and the node stops loudly
while the other nodes serve everyone.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from chatkit import (
    Clients,
    expect_close,
    expect_silence,
    http_get,
    ids,
    publish,
    recv_json,
    send_json,
)
from threadkit import PW, Boom, Serve, failing_once, on_loop, resume, scrape

from wschat.server.thread import ServerCrashed

#: Every ``serve`` server here is a node of the Redis store and bus (tests/conftest.py).
pytestmark = pytest.mark.backends("redis")


async def test_a_burst_the_router_cannot_deliver_is_settled_and_the_tail_goes_on(
    serve: Serve, clients: Clients
) -> None:
    node = serve(rate_limit=0)
    ana, ana_w = await clients.login(node.url, "ana", PW)
    before = await publish(ana, "antes")
    router = node.chat.router
    await on_loop(node, lambda: setattr(router, "_route", failing_once(router._route)))

    await send_json(ana, {"type": "send", "text": "perdida?", "ref": "r-1"})
    frames = await expect_close(ana, 1011, timeout=10)
    assert [(f["code"], f["ref"]) for f in frames] == [("server_error", "r-1")]
    values = await asyncio.to_thread(scrape, node)
    assert values["wschat_task_failures_total{task=tail}"] == 1
    status, _, _ = await asyncio.to_thread(http_get, node.http_url + "healthz")
    assert status == 200

    ana, replay = await resume(clients, node.url, ana_w, before["id"])
    assert [m["text"] for m in replay] == ["perdida?"]
    echo = await publish(ana, "perdida?", ref="r-1")  # the resend: the original, not a copy
    assert echo["id"] == replay[0]["id"]
    await expect_silence(ana)


async def test_a_tail_that_raises_stops_its_node_and_the_others_lose_nothing(
    serve: Serve, clients: Clients
) -> None:
    broken, healthy = serve(db="shared", rate_limit=0), serve(db="shared", rate_limit=0)
    ana, ana_w = await clients.login(broken.url, "ana", PW)
    bob, _ = await clients.login(healthy.url, "bob", PW)
    assert await recv_json(ana) == {"type": "presence", "user": "bob", "online": True}
    before = await publish(ana, "antes")
    assert ids([await recv_json(bob)]) == [before["id"]]
    bus: Any = broken.chat.bus

    def hand_over(*args: Any) -> None:
        raise Boom("injected into the tail")

    await on_loop(broken, lambda: setattr(bus, "_hand_over", hand_over))
    await send_json(ana, {"type": "send", "text": "no meio", "ref": "r-2"})
    assert await expect_close(ana, 1011, timeout=10) == []  # the node's tail never brought it
    with pytest.raises(ServerCrashed, match="the tail task failed: Boom"):
        await asyncio.to_thread(broken.join, 30)

    # It was committed: bob's node delivered it, and ana resumes there without a gap.
    message = await recv_json(bob, timeout=10)
    assert message["text"] == "no meio"
    assert await recv_json(bob) == {"type": "presence", "user": "ana", "online": False}
    ana, replay = await resume(clients, healthy.url, ana_w, before["id"])
    assert ids(replay) == [message["id"]]
