"""``GET /metrics`` (PROTOCOL.md, "Metrics"): who may read it, and what it counts.

The access rule and the route are pure (wschat.server.http) and tested with a non-loopback
peer address directly; the numbers are checked over real sockets after a known scenario,
parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus

import pytest
from chatkit import (
    Clients,
    expect_close,
    http_get,
    publish,
    read_backlog,
    recv_json,
    recv_n,
    small_buffer_socket,
)
from threadkit import scrape

from wschat.server.http import metrics_allowed, route
from wschat.server.thread import ServerThread

PW = "s3nha"
TOKEN = "t0k3n-de-teste"
REMOTE = "203.0.113.7"  # TEST-NET-3: never this machine

Serve = Callable[..., ServerThread]


# --------------------------------------------------------------------------- the pure rule


@pytest.mark.parametrize(
    ("peer", "authorization", "token", "forwarded", "allowed"),
    [
        ("127.0.0.1", None, None, False, True),
        ("127.5.6.7", None, TOKEN, False, True),
        ("::1", None, None, False, True),
        (REMOTE, None, None, False, False),
        (REMOTE, None, TOKEN, False, False),
        (REMOTE, f"Bearer {TOKEN}", TOKEN, False, True),
        (REMOTE, f"bearer {TOKEN}", TOKEN, False, True),
        (REMOTE, "Bearer errado", TOKEN, False, False),
        (REMOTE, f"Basic {TOKEN}", TOKEN, False, False),
        (REMOTE, f"Bearer {TOKEN}", None, False, False),  # no token configured: none opens it
        (REMOTE, "Bearer ", "", False, False),  # an empty token never matches
        ("127.0.0.1", None, TOKEN, True, False),  # through a proxy: loopback means nothing
        ("127.0.0.1", f"Bearer {TOKEN}", TOKEN, True, True),
        (None, None, None, False, False),
        ("not-an-address", None, None, False, False),
    ],
)
def test_metrics_allowed_from_loopback_or_with_the_token(
    peer: str | None, authorization: str | None, token: str | None, forwarded: bool, allowed: bool
) -> None:
    assert metrics_allowed(peer, authorization, token, forwarded=forwarded) is allowed


def _route(path: str, **kwargs: object) -> object:
    base: dict[str, object] = {
        "upgrade": False, "origin": None, "host": "127.0.0.1:1", "secure": False, "allowed": ()
    }
    base.update(kwargs)
    return route(path, **base)  # type: ignore[arg-type]


def test_route_metrics_refused_answered_or_absent() -> None:
    body = b"# metrics\n"
    refused = _route("/metrics", metrics=lambda: body, metrics_ok=False)
    answered = _route("/metrics", metrics=lambda: body, metrics_ok=True, metrics_type="x/y")
    assert getattr(refused, "status", None) == HTTPStatus.FORBIDDEN
    assert getattr(answered, "status", None) == HTTPStatus.OK
    assert getattr(answered, "body", None) == body
    assert getattr(answered, "content_type", None) == "x/y"
    assert getattr(_route("/metrics"), "status", None) == HTTPStatus.NOT_FOUND


def test_route_while_draining_healthz_and_new_websockets_get_503() -> None:
    health = _route("/healthz", draining=True)
    upgrade = _route("/ws", upgrade=True, draining=True)
    assert getattr(health, "status", None) == HTTPStatus.SERVICE_UNAVAILABLE
    assert getattr(health, "body", None) == "draining\n"
    assert getattr(upgrade, "status", None) == HTTPStatus.SERVICE_UNAVAILABLE
    assert getattr(_route("/healthz"), "status", None) == HTTPStatus.OK
    assert _route("/ws", upgrade=True) is None


# --------------------------------------------------------------------------- over sockets


async def test_metrics_after_a_known_scenario(serve: Serve, clients: Clients) -> None:
    server = serve(rate_limit=0)
    n_public, m_private = 3, 2
    ana, ana_w = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    assert (await recv_json(ana))["type"] == "presence"
    refused = await clients.connect(server.url)
    await refused.send('{"type": "login", "user": "bob", "password": "errada"}')
    assert (await recv_json(refused))["code"] == "auth_failed"

    first = await publish(ana, "p0")
    for i in range(1, n_public):
        await publish(ana, f"p{i}")
    for i in range(m_private):
        await publish(ana, f"x{i}", to="bob")
    await recv_n(bob, n_public + m_private)

    # A resume from the first message: the other n + m - 1 are replayed.
    tab, tab_w = await clients.login(
        server.url, "ana", token=ana_w["token"],
        resume={"epoch": ana_w["epoch"], "after": first["id"]},
    )
    assert tab_w["recovered"] is True
    assert len(await read_backlog(tab, tab_w, first["id"])) == n_public + m_private - 1

    values = await asyncio.to_thread(scrape, server)
    assert values["wschat_messages_total{kind=public}"] == n_public
    assert values["wschat_messages_total{kind=private}"] == m_private
    # Every message went to ana's one session (with its ref) and bob's: two deliveries each.
    assert values["wschat_deliveries_total"] == 2 * (n_public + m_private)
    assert values["wschat_login_failures_total"] == 1
    assert values["wschat_replayed_total"] == n_public + m_private - 1
    assert values["wschat_connections"] == 3  # ana's two tabs and bob (the refused one is gone)
    assert values["wschat_users_online"] == 2
    assert values["wschat_slow_closes_total"] == 0
    assert values["wschat_bytes_sent_total"] > 0
    commits = values["wschat_commit_seconds_count"]
    assert 1 <= commits <= n_public + m_private
    assert values["wschat_commit_seconds_bucket{le=+Inf}"] == commits
    assert values["wschat_commit_seconds_sum"] > 0


async def test_fan_out_counts_once_per_burst(serve: Serve, clients: Clients) -> None:
    server = serve(rate_limit=0)
    metrics = server.chat.metrics
    calls: list[tuple[int, int]] = []
    counted = metrics.burst

    def spy(deliveries: int, nbytes: int) -> None:
        calls.append((deliveries, nbytes))
        counted(deliveries, nbytes)

    ana, _ = await clients.login(server.url, "ana", PW)
    others = [(await clients.login(server.url, f"u{i}", PW))[0] for i in range(4)]
    assert [(await recv_json(ana))["type"] for _ in others] == ["presence"] * len(others)
    metrics.burst = spy  # type: ignore[method-assign]
    await publish(ana, "para todos")
    for ws in others:
        frames: list[dict[str, object]] = []
        while not frames or frames[-1]["type"] != "message":
            frames.append(await recv_json(ws))
    assert len(calls) == 1
    deliveries, nbytes = calls[0]
    assert deliveries == 5  # one broadcast, five sessions: one update with the burst's total
    assert nbytes > 5 * len("para todos")


async def test_metrics_from_elsewhere_need_the_token(serve: Serve, clients: Clients) -> None:
    """A request that came through a proxy does not count as loopback: only the token opens it."""
    server = serve(metrics_token=TOKEN)
    proxied = {"X-Forwarded-For": REMOTE}
    status, _, _ = await asyncio.to_thread(http_get, server.http_url + "metrics", proxied)
    assert status == 403
    wrong = {**proxied, "Authorization": "Bearer errado"}
    status, _, _ = await asyncio.to_thread(http_get, server.http_url + "metrics", wrong)
    assert status == 403
    values = await asyncio.to_thread(
        scrape, server, {**proxied, "Authorization": f"Bearer {TOKEN}"})
    assert values["wschat_connections"] == 0


async def test_a_reader_closed_with_4008_is_counted(serve: Serve, clients: Clients) -> None:
    # A long close wait: the slow session stays registered (no presence notice to the sender)
    # until the test lets it read again.
    server = serve(max_pending=64 * 1024, rate_limit=0, slow_close_timeout=60)
    slow, _ = await clients.login(server.url, "slow", PW, sock=small_buffer_socket(server.port))
    sender, _ = await clients.login(server.url, "sender", PW)
    assert (await recv_json(slow))["type"] == "presence"
    assert slow.transport is not None
    slow.transport.pause_reading()
    text = "x" * 4000
    for sent in range(1, 3001):
        await publish(sender, text)
        if sent % 50 == 0 and (await asyncio.to_thread(scrape, server))[
            "wschat_slow_closes_total"
        ] == 1:
            break
    else:
        raise AssertionError("the paused reader was never closed")
    slow.transport.resume_reading()
    await expect_close(slow, 4008, timeout=20)
    values = await asyncio.to_thread(scrape, server)
    assert values["wschat_slow_closes_total"] == 1
    assert values["wschat_messages_total{kind=public}"] == sent
