"""Acceptance tests of the login: the table of login problems, failed logins and their rate
limits, names, the welcome, tokens, and a second login on a logged-in connection.

Every test starts a real server (``ServerThread``, through the ``serve`` and ``server``
fixtures) on a free loopback port, once per store backend, and talks to it with the raw
``websockets`` client through ``chatkit``. Nothing here de-duplicates or filters what the
server sends: each assertion about "once" counts the frames exactly as they came.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from chatkit import (
    Clients,
    Frame,
    expect_close,
    expect_silence,
    ids,
    login_error,
    presence,
    publish,
    read_backlog,
    recv_json,
    send_json,
    short,
    tab,
)
from frametables import LOGIN_REJECTED
from threadkit import PW, Serve

from wschat.server.thread import ServerThread

#: Every test here runs once per store backend (memory, SQLite, Redis: tests/conftest.py).
pytestmark = pytest.mark.backends



# --------------------------------------------------------------------------- login table

LOGIN_ERRORS: list[tuple[str, str | bytes, str]] = [
    # login_required: the first frame is not a login
    ("send first", json.dumps({"type": "send", "text": "oi"}), "login_required"),
    ("chat line first", "oi pessoal", "login_required"),
    ("who first", json.dumps({"type": "who"}), "login_required"),
    ("object without type", json.dumps({"user": "ana", "password": "x"}), "login_required"),
    ("json number", "42", "login_required"),
    ("binary first", b'{"type": "login", "user": "ana", "password": "x"}', "login_required"),
    # login objects that break a rule: frametables.LOGIN_REJECTED (test_rejected_login_object_gets_one_error_then_4001)
    ("/login bad name", "/login jo@o senha", "invalid_name"),
    ("/login without password", "/login ana", "invalid_message"),
]


@pytest.mark.parametrize(("first", "code"), [c[1:] for c in LOGIN_ERRORS], ids=[c[0] for c in LOGIN_ERRORS])
async def test_login_problem_gets_one_error_then_4001(
    server: ServerThread, clients: Clients, first: str | bytes, code: str
) -> None:
    await login_error(clients, server.url, first, code)


@pytest.mark.parametrize(("fields", "code"), LOGIN_REJECTED, ids=lambda v: short(v, 60))
async def test_rejected_login_object_gets_one_error_then_4001(
    server: ServerThread, clients: Clients, fields: dict[str, object], code: str
) -> None:
    await login_error(clients, server.url, json.dumps({"type": "login", **fields}), code)


async def test_no_login_within_login_timeout_is_login_required(serve: Serve, clients: Clients) -> None:
    server = serve(login_timeout=0.5)
    ws = await clients.connect(server.url)
    frames = await expect_close(ws, 4001, timeout=3.0)
    assert [(f["type"], f["code"]) for f in frames] == [("error", "login_required")]
    assert "em até 0,5 s" in frames[0]["detail"]  # the timeout in force, as a reader writes it


async def test_login_refused_leaves_nothing_behind(server: ServerThread, clients: Clients) -> None:
    """A refused first login registers nobody: the name is still free for its first password."""
    await login_error(clients, server.url, json.dumps({"type": "login", "user": "ana"}), "invalid_message")
    _, welcome = await clients.login(server.url, "ana", "outra")
    assert welcome["user"] == "ana"


AUTH_FAILURES = ["wrong password", "unknown token", "revoked token", "other user's token"]


@pytest.mark.parametrize("case", AUTH_FAILURES)
async def test_auth_failed(server: ServerThread, clients: Clients, case: str) -> None:
    ws, ana = await clients.login(server.url, "ana", PW)
    _, bob = await clients.login(server.url, "bob", PW)
    await presence(ws, "bob", True)
    if case == "revoked token":
        await send_json(ws, {"type": "logout"})
        await expect_close(ws, 1000)
    frame: Frame = {"type": "login", "user": "ana"}
    frame |= {
        "wrong password": {"password": PW + "x"},
        "unknown token": {"token": "nao-existe-" + "x" * 32},
        "revoked token": {"token": ana["token"]},
        "other user's token": {"token": bob["token"]},
    }[case]
    await login_error(clients, server.url, json.dumps(frame), "auth_failed")


async def test_failed_logins_per_name_are_rate_limited(serve: Serve, clients: Clients) -> None:
    server = serve(login_failures_per_name=3, login_failures_per_address=100)
    await clients.login(server.url, "ana", PW)
    bad = json.dumps({"type": "login", "user": "ana", "token": "errado"})
    for _ in range(3):
        await login_error(clients, server.url, bad, "auth_failed")
    await login_error(clients, server.url, bad, "rate_limited")
    # Another name from the same address is not limited.
    _, welcome = await clients.login(server.url, "bob", PW)
    assert welcome["user"] == "bob"


async def test_failed_logins_per_address_are_rate_limited(serve: Serve, clients: Clients) -> None:
    server = serve(login_failures_per_name=100, login_failures_per_address=3)
    for name in ("n1", "n2", "n3"):
        bad = json.dumps({"type": "login", "user": name, "token": "errado"})
        await login_error(clients, server.url, bad, "auth_failed")
    await login_error(
        clients, server.url, json.dumps({"type": "login", "user": "n4", "token": "errado"}), "rate_limited"
    )


async def test_successful_logins_are_never_limited(serve: Serve, clients: Clients) -> None:
    server = serve(login_failures_per_name=2, login_failures_per_address=2)
    _, first = await clients.login(server.url, "ana", PW)
    for _ in range(4):
        _, welcome = await clients.login(server.url, "ana", PW)
        assert welcome["user"] == "ana"
        _, welcome = await clients.login(server.url, "ana", token=first["token"])
        assert welcome["user"] == "ana"
    # The failures count from zero: two are refused as such, the third is limited.
    bad = json.dumps({"type": "login", "user": "ana", "token": "errado"})
    for _ in range(2):
        await login_error(clients, server.url, bad, "auth_failed")
    await login_error(clients, server.url, bad, "rate_limited")


async def test_slash_login_with_spaces_in_the_password(server: ServerThread, clients: Clients) -> None:
    ws = await clients.connect(server.url)
    await ws.send("/login Ana minha senha  secreta")
    welcome = await recv_json(ws)
    assert welcome["type"] == "welcome" and welcome["user"] == "Ana"
    assert welcome["recovered"] is False
    # The password is the whole rest of the line, inner spaces included.
    _, again = await clients.login(server.url, "ana", "minha senha  secreta")
    assert again["user"] == "Ana"
    await login_error(clients, server.url, "/login ana minha", "auth_failed")
    await login_error(clients, server.url, "/login ana minha senha secreta", "auth_failed")


async def test_names_are_case_insensitive_and_keep_the_first_spelling(
    server: ServerThread, clients: Clients
) -> None:
    ana1, welcome = await clients.login(server.url, "Ana", PW)
    assert welcome["user"] == "Ana"
    bob, bob_welcome = await clients.login(server.url, "BOB", PW)
    await presence(ana1, "BOB", True)
    ana2, again = await clients.login(server.url, "aNA", PW)  # same user, same password
    assert again["user"] == "Ana"
    assert sorted(again["online"]) == ["Ana", "BOB"]
    assert sorted(bob_welcome["online"]) == ["Ana", "BOB"]
    await expect_silence(bob)  # a second tab of Ana: no presence
    echo = await publish(ana2, "oi", to="bob")
    assert (echo["from"], echo["to"]) == ("Ana", "BOB")
    for sock in (ana1, bob):
        message = await recv_json(sock)
        assert (message["from"], message["to"]) == ("Ana", "BOB")
    await send_json(bob, {"type": "send", "text": "/msg ANA oi de volta"})
    for sock in (ana1, ana2, bob):
        message = await recv_json(sock)
        assert (message["from"], message["to"], message["text"]) == ("BOB", "Ana", "oi de volta")
    await send_json(bob, {"type": "who"})
    assert sorted((await recv_json(bob))["online"]) == ["Ana", "BOB"]
    await login_error(clients, server.url, json.dumps({"type": "login", "user": "bOb", "password": "x"}), "auth_failed")


# --------------------------------------------------------------------------- welcome


async def test_welcome_fields(server: ServerThread, clients: Clients) -> None:
    _, welcome = await clients.login(server.url, "ana", PW)
    assert welcome["type"] == "welcome"
    assert welcome["user"] == "ana"
    for key in ("session", "epoch", "token"):
        assert isinstance(welcome[key], str) and welcome[key], key
    assert welcome["last"] is None
    assert welcome["recovered"] is False
    assert welcome["online"] == ["ana"]
    _, bob = await clients.login(server.url, "bob", PW)
    assert bob["epoch"] == welcome["epoch"]
    assert bob["session"] != welcome["session"]
    assert sorted(bob["online"]) == ["ana", "bob"]
    assert bob["last"] is None


async def test_last_is_the_newest_visible_message_and_ends_the_backlog(
    server: ServerThread, clients: Clients
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await clients.login(server.url, "carol", PW)
    await presence(ana, "carol", True)
    sent = [await publish(ana, f"m{i}") for i in range(3)]
    await publish(ana, "só para carol", to="carol")  # newer, but not visible to bob
    bob, welcome = await clients.login(server.url, "bob", PW)
    assert welcome["last"] == sent[-1]["id"]
    backlog = await read_backlog(bob, welcome)
    assert ids(backlog) == ids(sent)
    assert [m["text"] for m in backlog] == ["m0", "m1", "m2"]
    await expect_silence(bob)


async def test_token_opens_a_second_tab(server: ServerThread, clients: Clients) -> None:
    ana1, welcome = await clients.login(server.url, "ana", PW)
    ana2, again = await tab(clients, server.url, welcome)
    assert again["user"] == "ana"
    assert again["token"] == welcome["token"]
    assert again["session"] != welcome["session"]
    echo = await publish(ana1, "nas duas abas")
    assert ids([await recv_json(ana2)]) == [echo["id"]]


@pytest.mark.backends("sqlite", "redis")  # a MemoryStore does not outlive its server
async def test_token_and_account_survive_a_restart(serve: Serve, clients: Clients, tmp_path: Path) -> None:
    db = str(tmp_path / "chat.db")
    first = serve(db=db)
    ws, welcome = await clients.login(first.url, "ana", PW)
    echo = await publish(ws, "antes do reinício")
    await clients.aclose()
    await asyncio.to_thread(first.stop)

    second = serve(db=db)
    ws, again = await clients.login(second.url, "ana", token=welcome["token"])
    assert again["epoch"] == welcome["epoch"]
    assert again["last"] == echo["id"]
    assert [(m["id"], m["text"]) for m in await read_backlog(ws, again)] == [(echo["id"], "antes do reinício")]
    _, by_password = await clients.login(second.url, "ana", PW)
    assert by_password["user"] == "ana"
    await login_error(
        clients, second.url, json.dumps({"type": "login", "user": "ana", "password": "outra"}), "auth_failed"
    )


async def test_second_login_after_welcome_is_invalid_message(server: ServerThread, clients: Clients) -> None:
    ana, welcome = await clients.login(server.url, "ana", PW)
    await send_json(ana, {"type": "login", "user": "ana", "token": welcome["token"]})
    error = await recv_json(ana)
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    assert "ref" not in error
    # The error a frame caused carries its ref (found by tests/server/test_fuzz_live.py: it was lost).
    await send_json(ana, {"type": "login", "user": "ana", "token": welcome["token"], "ref": "l-2"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "invalid_message", "l-2")
    await send_json(ana, {"type": "who"})
    assert (await recv_json(ana))["online"] == ["ana"]
