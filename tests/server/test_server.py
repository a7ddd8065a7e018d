"""Acceptance tests of the chat server, written from PROTOCOL.md and docs/decisions.md only.

Every test starts a real server (``ServerThread``) on a free loopback port and talks to it
with the raw ``websockets`` client through ``chatkit``. Nothing here de-duplicates or filters
what the server sends: each assertion about "once" counts the frames exactly as they came.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

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
    small_buffer_socket,
)
from threadkit import PW, Serve
from websockets.asyncio.client import ClientConnection

from wschat.server.thread import ServerThread

#: Every test here runs once per store backend (memory, SQLite, Redis: tests/conftest.py).
pytestmark = pytest.mark.backends


async def tab(clients: Clients, url: str, welcome: Frame) -> tuple[ClientConnection, Frame]:
    """Another session of the user of ``welcome``, opened with its token (no slow hash)."""
    return await clients.login(url, welcome["user"], token=welcome["token"])


async def presence(ws: ClientConnection, user: str, online: bool) -> None:
    """The next frame is the presence change of ``user``."""
    frame = await recv_json(ws)
    assert frame == {"type": "presence", "user": user, "online": online}


async def silent(*sockets: ClientConnection) -> None:
    """None of ``sockets`` gets a frame in the silence window (checked together)."""
    await asyncio.gather(*(expect_silence(ws) for ws in sockets))


async def login_error(clients: Clients, url: str, first: str | bytes, code: str) -> None:
    """Sending ``first`` as the first frame gets exactly one error ``code``, then close 4001."""
    ws = await clients.connect(url)
    await ws.send(first)
    frames = await expect_close(ws, 4001)
    assert len(frames) == 1, frames
    assert frames[0]["type"] == "error" and frames[0]["code"] == code, frames
    assert isinstance(frames[0]["detail"], str) and frames[0]["detail"]


# --------------------------------------------------------------------------- transport


def test_healthz_answers_200_ok(server: ServerThread) -> None:
    status, _, body = http_get(server.http_url + "healthz")
    assert status == 200
    assert body.strip() == b"ok"


def test_root_serves_a_page(server: ServerThread) -> None:
    status, headers, body = http_get(server.http_url)
    assert status == 200
    assert headers.get("Content-Type", "").startswith("text/html")
    assert b"<html" in body.lower()


def test_ws_without_upgrade_is_426(server: ServerThread) -> None:
    status, _, _ = http_get(server.http_url + "ws")
    assert status == 426


def test_unknown_path_is_404(server: ServerThread) -> None:
    status, _, _ = http_get(server.http_url + "nada-aqui")
    assert status == 404


CHAT_LINES = [
    "oi pessoal",
    '{"type": "send", "text": "quebrado"',
    "{not json at all}",
    "42",
    "[1, 2]",
    '"só um texto"',
    "null",
    "true",
    '{"type": "who", "x": NaN}',
    '{"type": "send", "text": "oi", "n": Infinity}',
    '{"type": "send", "text": "oi", "n": -Infinity}',
]


@pytest.mark.parametrize("line", CHAT_LINES)
async def test_text_that_is_not_a_json_object_is_a_chat_line(
    server: ServerThread, clients: Clients, line: str
) -> None:
    ws, _ = await clients.login(server.url, "ana", PW)
    other, _ = await clients.login(server.url, "bob", PW)
    await presence(ws, "bob", True)
    await ws.send(line)
    for sock in (ws, other):
        message = await recv_json(sock)
        assert message["type"] == "message"
        assert (message["from"], message["to"], message["text"]) == ("ana", None, line)
        assert isinstance(message["id"], str)
    await silent(ws, other)


INVALID_OBJECTS = [
    {"text": "sem tipo"},
    {"type": 5, "text": "oi"},
    {"type": None},
    {"type": ["send"], "text": "oi"},
    {"type": "bogus"},
    {"type": "SEND", "text": "oi"},
]


@pytest.mark.parametrize("frame", INVALID_OBJECTS, ids=json.dumps)
async def test_object_without_known_type_is_invalid_message(
    server: ServerThread, clients: Clients, frame: Frame
) -> None:
    ws, _ = await clients.login(server.url, "ana", PW)
    other, _ = await clients.login(server.url, "bob", PW)
    await presence(ws, "bob", True)
    await send_json(ws, frame)
    error = await recv_json(ws)
    assert error["type"] == "error" and error["code"] == "invalid_message"
    await send_json(ws, {"type": "who"})
    assert (await recv_json(ws))["type"] == "users"  # still open, nothing delivered before
    await expect_silence(other)


async def test_binary_frame_is_invalid_message_and_stays_open(
    server: ServerThread, clients: Clients
) -> None:
    ws, _ = await clients.login(server.url, "ana", PW)
    await ws.send(b'{"type": "send", "text": "em binario"}')
    error = await recv_json(ws)
    assert error["type"] == "error" and error["code"] == "invalid_message"
    echo = await publish(ws, "ainda aqui")
    assert echo["text"] == "ainda aqui"


async def test_invalid_utf8_closes_with_1007(server: ServerThread, clients: Clients) -> None:
    ws, _ = await clients.login(server.url, "ana", PW)
    other, _ = await clients.login(server.url, "bob", PW)
    await presence(ws, "bob", True)
    # A text frame whose payload is not UTF-8: the client sends the bytes as they are.
    await ws.send(b"oi \xff\xfe mundo", text=True)
    await expect_close(ws, 1007)
    await presence(other, "ana", False)
    await publish(other, "o servidor segue vivo")


async def test_frame_over_64_kib_closes_with_1009(server: ServerThread, clients: Clients) -> None:
    ws, _ = await clients.login(server.url, "ana", PW)
    await ws.send("a" * (64 * 1024 + 1))
    await expect_close(ws, 1009)


async def test_frame_of_exactly_64_kib_is_not_closed(server: ServerThread, clients: Clients) -> None:
    ws, _ = await clients.login(server.url, "ana", PW)
    await ws.send("a" * (64 * 1024))  # a chat line far over 4,000 characters
    error = await recv_json(ws)
    assert error["type"] == "error" and error["code"] == "too_long"
    await publish(ws, "ainda aberto")


# --------------------------------------------------------------------------- login table

LOGIN_ERRORS: list[tuple[str, str | bytes, str]] = [
    # login_required: the first frame is not a login
    ("send first", json.dumps({"type": "send", "text": "oi"}), "login_required"),
    ("chat line first", "oi pessoal", "login_required"),
    ("who first", json.dumps({"type": "who"}), "login_required"),
    ("object without type", json.dumps({"user": "ana", "password": "x"}), "login_required"),
    ("json number", "42", "login_required"),
    ("binary first", b'{"type": "login", "user": "ana", "password": "x"}', "login_required"),
    # invalid_name: every way to break the name rule
    ("empty name", json.dumps({"type": "login", "user": "", "password": "x"}), "invalid_name"),
    ("33 characters", json.dumps({"type": "login", "user": "a" * 33, "password": "x"}), "invalid_name"),
    ("space in name", json.dumps({"type": "login", "user": "jo ao", "password": "x"}), "invalid_name"),
    ("bad character", json.dumps({"type": "login", "user": "ana!", "password": "x"}), "invalid_name"),
    ("slash in name", json.dumps({"type": "login", "user": "a/b", "password": "x"}), "invalid_name"),
    ("non-ASCII name", json.dumps({"type": "login", "user": "joão", "password": "x"}), "invalid_name"),
    ("/login bad name", "/login jo@o senha", "invalid_name"),
    # invalid_message: wrong types, password/token, resume
    ("user not a string", json.dumps({"type": "login", "user": 5, "password": "x"}), "invalid_message"),
    ("user missing", json.dumps({"type": "login", "password": "x"}), "invalid_message"),
    ("password not a string", json.dumps({"type": "login", "user": "ana", "password": 5}), "invalid_message"),
    ("token not a string", json.dumps({"type": "login", "user": "ana", "token": 5}), "invalid_message"),
    ("password empty", json.dumps({"type": "login", "user": "ana", "password": ""}), "invalid_message"),
    (
        "password of 1025",
        json.dumps({"type": "login", "user": "ana", "password": "x" * 1025}),
        "invalid_message",
    ),
    (
        "both password and token",
        json.dumps({"type": "login", "user": "ana", "password": "x", "token": "t"}),
        "invalid_message",
    ),
    ("neither password nor token", json.dumps({"type": "login", "user": "ana"}), "invalid_message"),
    ("/login without password", "/login ana", "invalid_message"),
    (
        "resume not an object",
        json.dumps({"type": "login", "user": "ana", "password": "x", "resume": "e-1:3"}),
        "invalid_message",
    ),
    (
        "resume epoch not a string",
        json.dumps({"type": "login", "user": "ana", "password": "x", "resume": {"epoch": 1, "after": "3"}}),
        "invalid_message",
    ),
    (
        "resume after not a string",
        json.dumps({"type": "login", "user": "ana", "password": "x", "resume": {"epoch": "e", "after": 3}}),
        "invalid_message",
    ),
    (
        "resume without after",
        json.dumps({"type": "login", "user": "ana", "password": "x", "resume": {"epoch": "e"}}),
        "invalid_message",
    ),
    (
        "resume a list",
        json.dumps({"type": "login", "user": "ana", "password": "x", "resume": ["e", "3"]}),
        "invalid_message",
    ),
]


@pytest.mark.parametrize(("first", "code"), [c[1:] for c in LOGIN_ERRORS], ids=[c[0] for c in LOGIN_ERRORS])
async def test_login_problem_gets_one_error_then_4001(
    server: ServerThread, clients: Clients, first: str | bytes, code: str
) -> None:
    await login_error(clients, server.url, first, code)


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


@pytest.mark.parametrize("frame", [{"type": "logout"}, {"type": "send", "text": "/logout"}], ids=["object", "command"])
async def test_logout_revokes_the_token_and_closes_1000(
    server: ServerThread, clients: Clients, frame: Frame
) -> None:
    ws, welcome = await clients.login(server.url, "ana", PW)
    await send_json(ws, frame)
    assert await expect_close(ws, 1000) == []
    bad = json.dumps({"type": "login", "user": "ana", "token": welcome["token"]})
    await login_error(clients, server.url, bad, "auth_failed")


# --------------------------------------------------------------------------- resume and history


async def test_resume_replays_exactly_the_missed_visible_messages(
    server: ServerThread, clients: Clients
) -> None:
    ana, ana_welcome = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    carol, _ = await clients.login(server.url, "carol", PW)
    await presence(ana, "bob", True)
    await presence(ana, "carol", True)
    await presence(bob, "carol", True)
    seen = await publish(ana, "antes de cair")
    for sock in (bob, carol):
        assert ids([await recv_json(sock)]) == [seen["id"]]
    await ana.close()
    await presence(bob, "ana", False)
    await presence(carol, "ana", False)

    missed = [await publish(bob, "p1")]
    await recv_json(carol)
    missed.append(await publish(bob, "para ana", to="ana"))
    await publish(bob, "para carol", to="carol")  # not visible to ana
    await recv_json(carol)
    missed.append(await publish(carol, "p2"))
    await recv_json(bob)

    resume = {"epoch": ana_welcome["epoch"], "after": seen["id"]}
    ana, welcome = await clients.login(server.url, "ana", token=ana_welcome["token"], resume=resume)
    assert welcome["recovered"] is True
    assert welcome["last"] == missed[-1]["id"]
    replay = await read_backlog(ana, welcome, after=seen["id"])
    assert ids(replay) == ids(missed)
    assert [m["text"] for m in replay] == ["p1", "para ana", "p2"]
    await expect_silence(ana)


async def test_resume_from_the_newest_id_sends_nothing(server: ServerThread, clients: Clients) -> None:
    ana, welcome = await clients.login(server.url, "ana", PW)
    echo = await publish(ana, "última")
    await ana.close()
    resume = {"epoch": welcome["epoch"], "after": echo["id"]}
    again, resumed = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    assert resumed["recovered"] is True and resumed["last"] == echo["id"]
    await expect_silence(again)


@pytest.mark.parametrize("case", ["unknown after", "other epoch"])
async def test_unrecoverable_resume_sends_history(server: ServerThread, clients: Clients, case: str) -> None:
    ana, welcome = await clients.login(server.url, "ana", PW)
    sent = [await publish(ana, f"m{i}") for i in range(3)]
    await ana.close()
    resume = {
        "unknown after": {"epoch": welcome["epoch"], "after": sent[-1]["id"] + "999999"},
        "other epoch": {"epoch": welcome["epoch"] + "-outra", "after": sent[0]["id"]},
    }[case]
    again, resumed = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    assert resumed["recovered"] is False
    assert resumed["last"] == sent[-1]["id"]
    assert ids(await read_backlog(again, resumed)) == ids(sent)
    await expect_silence(again)


async def test_more_than_max_replay_missing_is_not_recovered(serve: Serve, clients: Clients) -> None:
    server = serve(max_replay=3)
    ana, welcome = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    seen = await publish(ana, "visto")
    await recv_json(bob)
    await ana.close()
    await presence(bob, "ana", False)

    three = [await publish(bob, f"m{i}") for i in range(3)]
    resume = {"epoch": welcome["epoch"], "after": seen["id"]}
    ana, resumed = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    await presence(bob, "ana", True)
    assert resumed["recovered"] is True  # exactly max_replay missing: still a replay
    assert ids(await read_backlog(ana, resumed, after=seen["id"])) == ids(three)
    await ana.close()
    await presence(bob, "ana", False)

    four = [await publish(bob, f"n{i}") for i in range(4)]
    resume = {"epoch": welcome["epoch"], "after": three[-1]["id"]}
    ana, resumed = await clients.login(server.url, "ana", token=welcome["token"], resume=resume)
    assert resumed["recovered"] is False
    everything = [seen, *three, *four]
    assert ids(await read_backlog(ana, resumed)) == ids(everything)


async def test_history_has_50_messages_by_default(server: ServerThread, clients: Clients) -> None:
    bob, _ = await clients.login(server.url, "bob", PW)
    sent = [await publish(bob, f"m{i}") for i in range(51)]
    carol, welcome = await clients.login(server.url, "carol", PW)
    assert welcome["recovered"] is False
    assert ids(await read_backlog(carol, welcome)) == ids(sent[1:])


async def test_history_window_plus_store_and_forward(serve: Serve, clients: Clients) -> None:
    server = serve(history=3)
    bob, bob_welcome = await clients.login(server.url, "bob", PW)
    ana, _ = await clients.login(server.url, "ana", PW)
    await clients.login(server.url, "carol", PW)
    await presence(bob, "ana", True)
    await presence(bob, "carol", True)
    await presence(ana, "carol", True)
    delivered_live = await publish(ana, "bob está online", to="bob")
    assert ids([await recv_json(bob)]) == [delivered_live["id"]]
    await bob.close()
    await presence(ana, "bob", False)

    stored = [await publish(ana, "guardada 1", to="bob")]
    await publish(ana, "para carol", to="carol")
    stored.append(await publish(ana, "guardada 2", to="bob"))
    public = [await publish(ana, f"q{i}") for i in range(4)]

    bob, welcome = await clients.login(server.url, "bob", token=bob_welcome["token"])
    assert welcome["recovered"] is False
    backlog = await read_backlog(bob, welcome)
    # The three newest visible messages, plus what arrived while bob had no session, in log order.
    assert ids(backlog) == ids([*stored, *public[-3:]])
    await expect_silence(bob)


# --------------------------------------------------------------------------- messages


async def test_public_message_reaches_every_session_once(server: ServerThread, clients: Clients) -> None:
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    echo = await publish(ana1, "oi a todos")
    assert (echo["from"], echo["to"], echo["text"]) == ("ana", None, "oi a todos")
    assert isinstance(echo["ts"], (int, float))
    for sock in (ana2, bob):
        message = await recv_json(sock)
        assert (message["id"], message["from"], message["to"], message["text"]) == (
            echo["id"], "ana", None, "oi a todos"
        )
    await silent(ana1, ana2, bob)


@pytest.mark.parametrize("form", ["to field", "/msg command"])
async def test_private_message_reaches_both_users_sessions_once(
    server: ServerThread, clients: Clients, form: str
) -> None:
    carol, _ = await clients.login(server.url, "carol", PW)
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob1, bob = await clients.login(server.url, "bob", PW)
    bob2, _ = await tab(clients, server.url, bob)
    await presence(carol, "ana", True)
    await presence(carol, "bob", True)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    if form == "to field":
        echo = await publish(ana1, "segredo", to="bob")
    else:
        await send_json(ana1, {"type": "send", "text": "/msg bob segredo", "ref": "k"})
        echo = await recv_json(ana1)
        assert echo["ref"] == "k"
    assert (echo["from"], echo["to"], echo["text"]) == ("ana", "bob", "segredo")
    for sock in (ana2, bob1, bob2):
        message = await recv_json(sock)
        assert (message["id"], message["from"], message["to"], message["text"]) == (
            echo["id"], "ana", "bob", "segredo"
        )
    await silent(carol, ana1, ana2, bob1, bob2)


async def test_private_message_to_oneself_arrives_once_per_session(
    server: ServerThread, clients: Clients
) -> None:
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    echo = await publish(ana1, "lembrete", to="ana")
    assert echo["to"] == "ana"
    assert ids([await recv_json(ana2)]) == [echo["id"]]
    await silent(ana1, ana2, bob)


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "send", "text": "oi", "to": "ninguem", "ref": "x"},
        {"type": "send", "text": "/msg ninguem oi", "ref": "x"},
        {"type": "send", "text": "oi", "to": "nome inválido", "ref": "x"},
    ],
    ids=["to field", "/msg", "invalid name"],
)
async def test_private_to_unknown_user_is_refused_and_not_stored(
    server: ServerThread, clients: Clients, frame: Frame
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await send_json(ana, frame)
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "unknown_user", "x")
    assert isinstance(error["detail"], str) and error["detail"]
    await send_json(ana, {"type": "history", "limit": 10})
    assert (await recv_json(ana))["messages"] == []
    _, welcome = await clients.login(server.url, "bob", PW)
    assert welcome["last"] is None


@pytest.mark.parametrize("text", ["/msg", "/msg bob", "/msg bob    ", "/msg    "])
async def test_msg_usage_errors(server: ServerThread, clients: Clients, text: str) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    await send_json(ana, {"type": "send", "text": text, "ref": "u"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "invalid_message", "u")
    assert "/msg" in error["detail"]  # the usage hint
    await silent(ana, bob)


@pytest.mark.parametrize("frame", [{"type": "who"}, {"type": "send", "text": "/who"}], ids=["object", "command"])
async def test_who_lists_online_users(server: ServerThread, clients: Clients, frame: Frame) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await clients.login(server.url, "bob", PW)
    await clients.login(server.url, "carol", "outra")  # registered ...
    await presence(ana, "bob", True)
    await presence(ana, "carol", True)
    await send_json(ana, frame)
    users = await recv_json(ana)
    assert users["type"] == "users"
    assert sorted(users["online"]) == ["ana", "bob", "carol"]


async def test_help_lists_the_commands_in_portuguese(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await send_json(ana, {"type": "send", "text": "/help"})
    help_ = await recv_json(ana)
    assert help_["type"] == "help"
    for command in ("/msg", "/who", "/help", "/logout"):
        assert command in help_["text"]
    words = {"mensagem", "usuários", "todos", "ajuda", "sair", "comandos"}
    assert words & set(help_["text"].lower().replace(":", " ").split())
    await expect_silence(ana)


async def test_a_json_help_frame_is_invalid_message(server: ServerThread, clients: Clients) -> None:
    """PROTOCOL.md's client frames are login, send, who, history and logout; any other type
    is ``invalid_message``. Help is the command ``/help``, which the error points to."""
    ana, _ = await clients.login(server.url, "ana", PW)
    await send_json(ana, {"type": "help", "ref": "h"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "invalid_message", "h")
    assert "/help" in error["detail"]
    await expect_silence(ana)
    await send_json(ana, {"type": "send", "text": "/help", "ref": "h2"})
    assert (await recv_json(ana))["type"] == "help"


async def test_unknown_command(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    await send_json(ana, {"type": "send", "text": "/dance agora", "ref": "c"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "unknown_command", "c")
    await expect_silence(bob)
    await publish(ana, "segue aberta")


LENGTHS = [
    ("public 4000", {"text": "é" * 4000}, None),
    ("public 4001", {"text": "é" * 4001}, "too_long"),
    ("to 4000", {"text": "ç" * 4000, "to": "ana"}, None),
    ("to 4001", {"text": "ç" * 4001, "to": "ana"}, "too_long"),
    ("/msg 4000", {"text": "/msg ana " + "ã" * 4000}, None),
    ("/msg 4001", {"text": "/msg ana " + "ã" * 4001}, "too_long"),
]


@pytest.mark.parametrize(("fields", "code"), [c[1:] for c in LENGTHS], ids=[c[0] for c in LENGTHS])
async def test_text_length_counts_code_points(
    server: ServerThread, clients: Clients, fields: Frame, code: str | None
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await send_json(ana, {"type": "send", "ref": "L", **fields})
    answer = await recv_json(ana)
    if code is None:
        assert answer["type"] == "message" and len(answer["text"]) == 4000
    else:
        assert (answer["type"], answer["code"], answer["ref"]) == ("error", code, "L")
        await send_json(ana, {"type": "history", "limit": 10})
        assert (await recv_json(ana))["messages"] == []


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "send", "text": "   "},
        {"type": "send", "text": "\t\n \u3000"},
        {"type": "send", "text": ""},
        {"type": "send", "text": 5},
        {"type": "send"},
        {"type": "send", "text": "oi", "to": 7},
        {"type": "send", "text": "oi", "ref": 7},
        {"type": "send", "text": "oi", "ref": "r" * 65},
    ],
    ids=json.dumps,
)
async def test_bad_send_is_invalid_message(server: ServerThread, clients: Clients, frame: Frame) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    await send_json(ana, frame)
    error = await recv_json(ana)
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    await expect_silence(bob)


async def test_whitespace_chat_line_is_invalid_message(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await ana.send("    ")
    error = await recv_json(ana)
    assert (error["type"], error["code"]) == ("error", "invalid_message")


async def test_ref_of_64_characters_is_accepted(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    echo = await publish(ana, "oi", ref="r" * 64)
    assert echo["ref"] == "r" * 64


async def test_ref_comes_back_only_to_the_sending_session(server: ServerThread, clients: Clients) -> None:
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    for to, ref in ((None, "ref-publica"), ("bob", "ref-privada")):
        echo = await publish(ana1, "com ref", to=to, ref=ref)
        assert echo["ref"] == ref
        for sock in (ana2, bob):
            message = await recv_json(sock)
            assert message["id"] == echo["id"]
            assert message.get("ref") is None, message
    await send_json(ana1, {"type": "send", "text": "/nada", "ref": "erro-ref"})
    assert (await recv_json(ana1))["ref"] == "erro-ref"
    await silent(ana1, ana2, bob)


async def stored(ws: ClientConnection) -> list[Frame]:
    """Every message the user of ``ws`` can see, from a ``history`` page (read after all
    other frames the test expects on ``ws``)."""
    await send_json(ws, {"type": "history", "limit": 200, "ref": "stored"})
    page = await recv_json(ws)
    assert (page["type"], page["ref"], page["more"]) == ("history", "stored", False), page
    messages: list[Frame] = page["messages"]
    return messages


async def test_same_tab_resend_is_answered_with_the_original(
    server: ServerThread, clients: Clients
) -> None:
    """The sending session already got the message with its ref; a resend from it (a client
    that is not sure) is still answered, or a client written to PROTOCOL.md waits forever."""
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    original = await publish(ana1, "uma vez", ref="c-1")
    for sock in (ana2, bob):
        assert ids([await recv_json(sock)]) == [original["id"]]

    await send_json(ana1, {"type": "send", "text": "uma vez", "ref": "c-1"})
    assert await recv_json(ana1) == original  # same id, text, ts, and the ref
    await silent(ana1, ana2, bob)
    assert ids(await stored(bob)) == [original["id"]]


async def test_every_resend_is_answered_whatever_its_text_or_to(
    server: ServerThread, clients: Clients
) -> None:
    """A second, third... resend gets the original again; what comes back is the original,
    not the resend's text or recipient; nothing is stored and nobody else hears of it."""
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    original = await publish(ana, "a original", ref="c-2")
    assert ids([await recv_json(bob)]) == [original["id"]]
    resends: list[Frame] = [
        {"text": "a original"},
        {"text": "a original"},
        {"text": "outro texto"},
        {"text": "agora privada", "to": "bob"},
        {"text": "/msg bob por comando"},
    ]
    for fields in resends:
        await send_json(ana, {"type": "send", "ref": "c-2", **fields})
        assert await recv_json(ana) == original, fields
    await silent(ana, bob)
    assert ids(await stored(ana)) == [original["id"]]


async def test_resend_after_a_new_login_whose_history_showed_it_is_answered(
    server: ServerThread, clients: Clients
) -> None:
    ana, welcome = await clients.login(server.url, "ana", PW)
    original = await publish(ana, "foi aceita?", ref="c-3")
    await ana.close()
    for kind in ("token", "password"):
        credentials = {"token": welcome["token"]} if kind == "token" else {"password": PW}
        again, welcome2 = await clients.login(server.url, "ana", **credentials)
        history = await read_backlog(again, welcome2)
        assert history == [{k: v for k, v in original.items() if k != "ref"}], kind
        await send_json(again, {"type": "send", "text": "foi aceita?", "ref": "c-3"})
        assert await recv_json(again) == original, kind
        await send_json(again, {"type": "send", "text": "foi aceita?", "ref": "c-3"})
        assert await recv_json(again) == original, kind
        await expect_silence(again)
        assert ids(await stored(again)) == [original["id"]]
        await again.close()


async def test_history_replay_and_pages_never_carry_a_ref(
    server: ServerThread, clients: Clients
) -> None:
    """A ref comes back only to the session that sent it, on the message (live, or as the
    answer to a resend) or on the error: never in a login's history, a resume's replay or a
    history page, not even on the user's own messages in the session that sent them."""
    ana1, ana = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    first = await publish(ana1, "antes", ref="h-1")
    await recv_json(bob)
    mine = [
        await publish(ana1, "pública", ref="h-2"),
        await publish(ana1, "privada", to="bob", ref="h-3"),
        await publish(ana1, "para mim", to="ana", ref="h-4"),
    ]
    assert ids(await recv_n(bob, 2)) == ids(mine[:2])
    everything = [first, *mine]

    def without_ref(frames: list[Frame]) -> list[Frame]:
        return [{k: v for k, v in f.items() if k != "ref"} for f in frames]

    # The sending session's own history page.
    assert await stored(ana1) == without_ref(everything)
    # A new tab's history at login, and its history page.
    ana2, welcome = await tab(clients, server.url, ana)
    assert await read_backlog(ana2, welcome) == without_ref(everything)
    assert await stored(ana2) == without_ref(everything)
    # A resume's replay, after the sending session dropped.
    await ana1.close()
    resume = {"epoch": ana["epoch"], "after": first["id"]}
    ana3, resumed = await clients.login(server.url, "ana", token=ana["token"], resume=resume)
    assert resumed["recovered"] is True
    assert await read_backlog(ana3, resumed, after=first["id"]) == without_ref(mine)
    await silent(ana2, ana3)
    # The resends that the reconnecting client makes are each answered, to it alone.
    for echo in mine:
        await send_json(ana3, {"type": "send", "text": echo["text"], "ref": echo["ref"]})
        assert await recv_json(ana3) == echo
    await silent(ana2, ana3, bob)


async def test_the_same_ref_from_another_user_is_another_message(
    server: ServerThread, clients: Clients
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    original = await publish(ana, "uma vez", ref="c-1")
    await recv_json(bob)
    other = await publish(bob, "a minha", ref="c-1")
    assert other["id"] != original["id"]
    assert ids([await recv_json(ana)]) == [other["id"]]
    assert ids(await stored(bob)) == [original["id"], other["id"]]


async def test_resend_after_reconnect_outside_the_history_gets_the_original(
    serve: Serve, clients: Clients
) -> None:
    server = serve(history=1)
    ana, welcome = await clients.login(server.url, "ana", PW)
    original = await publish(ana, "foi aceita?", ref="c-9")
    await publish(ana, "depois")
    await ana.close()
    ana, again = await clients.login(server.url, "ana", token=welcome["token"])
    assert len(await read_backlog(ana, again)) == 1  # the original is out of the window
    await send_json(ana, {"type": "send", "text": "foi aceita?", "ref": "c-9"})
    back = await recv_json(ana)
    assert (back["type"], back["id"], back["ref"]) == ("message", original["id"], "c-9")
    await expect_silence(ana)
    await send_json(ana, {"type": "history", "limit": 10})
    assert len((await recv_json(ana))["messages"]) == 2


async def test_history_paging(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    _carol, _ = await clients.login(server.url, "carol", PW)
    await presence(ana, "bob", True)
    await presence(ana, "carol", True)
    await presence(bob, "carol", True)
    visible: list[Frame] = []
    for i in range(3):
        visible.append(await publish(ana, f"m{i}"))
    await recv_n(bob, 3)
    await publish(bob, "entre bob e carol", to="carol")
    visible.append(await publish(ana, "m3"))
    visible.append(await publish(ana, "para bob", to="bob"))
    for i in range(4, 7):
        visible.append(await publish(ana, f"m{i}"))
    # visible to ana: m0 m1 m2 m3 (para bob) m4 m5 m6
    pages = []
    before = visible[-1]["id"]
    while True:
        await send_json(ana, {"type": "history", "before": before, "limit": 3})
        page = await recv_json(ana)
        assert page["type"] == "history"
        pages.append((ids(page["messages"]), page["more"]))
        if not page["more"]:
            break
        before = page["messages"][0]["id"]
    v = ids(visible)
    assert pages == [(v[4:7], True), (v[1:4], True), (v[0:1], False)]
    await send_json(ana, {"type": "history", "before": visible[0]["id"], "limit": 3})
    assert await recv_json(ana) == {"type": "history", "messages": [], "more": False}
    await send_json(ana, {"type": "history", "before": visible[-1]["id"], "limit": 200})
    assert ids((await recv_json(ana))["messages"]) == v[:-1]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "history", "limit": 0},
        {"type": "history", "limit": 201},
        {"type": "history", "limit": "3"},
        {"type": "history", "before": "isto não é um id", "limit": 3},
        {"type": "history", "before": 3, "limit": 3},
    ],
    ids=json.dumps,
)
async def test_bad_history_request_is_invalid_message(
    server: ServerThread, clients: Clients, frame: Frame
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    await publish(ana, "algo")
    await send_json(ana, frame)
    error = await recv_json(ana)
    assert (error["type"], error["code"]) == ("error", "invalid_message")


async def test_second_login_after_welcome_is_invalid_message(server: ServerThread, clients: Clients) -> None:
    ana, welcome = await clients.login(server.url, "ana", PW)
    await send_json(ana, {"type": "login", "user": "ana", "token": welcome["token"]})
    error = await recv_json(ana)
    assert (error["type"], error["code"]) == ("error", "invalid_message")
    assert "ref" not in error
    # The error a frame caused carries its ref (found by tests/server/test_fuzz.py: it was lost).
    await send_json(ana, {"type": "login", "user": "ana", "token": welcome["token"], "ref": "l-2"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "invalid_message", "l-2")
    await send_json(ana, {"type": "who"})
    assert (await recv_json(ana))["online"] == ["ana"]


# --------------------------------------------------------------------------- presence


@pytest.mark.parametrize("last_close", ["close", "abort"])
async def test_presence_only_for_first_and_last_session(
    server: ServerThread, clients: Clients, last_close: str
) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob1, bob = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    bob2, _ = await tab(clients, server.url, bob)
    await silent(ana, bob1)
    await bob2.close()
    await silent(ana, bob1)
    if last_close == "close":
        await bob1.close()
    else:
        assert bob1.transport is not None
        bob1.transport.abort()  # the connection drops without a close handshake
    await presence(ana, "bob", False)
    await send_json(ana, {"type": "who"})
    assert (await recv_json(ana))["online"] == ["ana"]


# --------------------------------------------------------------------------- rate limit


async def test_sends_are_rate_limited_across_sessions(serve: Serve, clients: Clients) -> None:
    server = serve(rate_limit=1, burst=3)
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await tab(clients, server.url, ana)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana1, "bob", True)
    await presence(ana2, "bob", True)
    accepted = []
    for sender, receiver in ((ana1, ana2), (ana2, ana1), (ana1, ana2)):
        accepted.append(await publish(sender, "dentro do limite"))
        await recv_json(receiver)
    for sender, ref in ((ana2, "fora-1"), (ana1, "fora-2")):
        await send_json(sender, {"type": "send", "text": "demais", "ref": ref})
        error = await recv_json(sender)
        assert (error["type"], error["code"], error["ref"]) == ("error", "rate_limited", ref)
    assert ids(await recv_n(bob, 3)) == ids(accepted)
    await silent(ana1, ana2, bob)
    await send_json(ana1, {"type": "who"})  # only sends are counted, and the socket stays open
    assert (await recv_json(ana1))["type"] == "users"
    # Another user has a bucket of their own.
    await publish(bob, "eu posso")


async def test_default_rate_limit_allows_a_burst_of_100(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    for i in range(130):
        await send_json(ana, {"type": "send", "text": f"m{i}", "ref": str(i)})
    frames = await recv_n(ana, 130)
    kinds = [f["type"] for f in frames]
    assert 100 <= kinds.count("message") < 130
    assert all(f["code"] == "rate_limited" for f in frames if f["type"] == "error")


async def test_a_lower_rate_limit_lowers_the_burst_too(serve: Serve, clients: Clients) -> None:
    """PROTOCOL.md: bursts of twice the rate, for any rate (not only on the command line)."""
    server = serve(rate_limit=2)
    ana, _ = await clients.login(server.url, "ana", PW)
    for i in range(8):
        await send_json(ana, {"type": "send", "text": f"m{i}", "ref": str(i)})
    kinds = [f["type"] for f in await recv_n(ana, 8)]
    # A burst of 4, plus at most one token refilled if sending took more than half a second.
    assert kinds.count("message") in (4, 5), kinds


async def test_rate_limit_zero_turns_it_off(serve: Serve, clients: Clients) -> None:
    server = serve(rate_limit=0)
    ana, _ = await clients.login(server.url, "ana", PW)
    for i in range(300):
        await send_json(ana, {"type": "send", "text": f"m{i}", "ref": str(i)})
    frames = await recv_n(ana, 300)
    assert [(f["type"], f["ref"]) for f in frames] == [("message", str(i)) for i in range(300)]


# --------------------------------------------------------------------------- slow readers


async def test_reader_that_stops_reading_is_closed_4008(serve: Serve, clients: Clients) -> None:
    server = serve(max_pending=64 * 1024, rate_limit=0)
    slow, _ = await clients.login(server.url, "slow", PW, sock=small_buffer_socket(server.port))
    fast, _ = await clients.login(server.url, "fast", PW)
    sender, _ = await clients.login(server.url, "sender", PW)
    await presence(slow, "fast", True)
    await presence(slow, "sender", True)
    await presence(fast, "sender", True)
    assert slow.transport is not None
    slow.transport.pause_reading()  # the application stops reading: bytes pile up in the server

    # More than the kernel buffers on both ends hold (a few MiB), so the excess piles up
    # in the server's own write buffer and passes max_pending.
    count = 2000
    text = "x" * 4000

    async def send_all() -> list[Frame]:
        # One at a time (each waits for its echo), so the sender itself never lags behind.
        return [await publish(sender, text) for _ in range(count)]

    echoes, received = await asyncio.gather(send_all(), recv_n(fast, count, timeout=20))
    assert ids(received) == ids(echoes)  # the fast reader is not held back and gets everything

    slow.transport.resume_reading()
    frames = await expect_close(slow, 4008, timeout=10)
    got = ids(f for f in frames if f.get("type") == "message")
    assert got == ids(echoes)[: len(got)] and len(got) < count  # a prefix, no gaps or doubles
    await presence(fast, "slow", False)
    await publish(fast, "o servidor segue servindo")


# --------------------------------------------------------------------------- seam


@pytest.mark.parametrize("resume", [False, True], ids=["history", "replay"])
async def test_no_loss_or_double_at_the_seam(serve: Serve, clients: Clients, resume: bool) -> None:
    """Messages appended while a session joins (after it is registered for live traffic, and
    after its log read) reach it exactly once, in the order an always-connected observer saw."""
    loop = asyncio.get_running_loop()
    armed: set[str] = set()
    injected: dict[str, list[str]] = {}
    sender_ws: list[ClientConnection] = []

    async def inject(point: str) -> None:
        ws = sender_ws[0]
        injected[point] = [(await publish(ws, f"{point}-{i}"))["id"] for i in range(3)]

    async def seam_hook(point: str, session: object) -> None:
        if point in armed:
            armed.discard(point)
            # Run the sender on the test's loop and wait until the server took its messages.
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(inject(point), loop))

    server = serve(seam_hook=seam_hook)
    # The observer is an always-open session of the joining user: it sees exactly what the
    # joiner may see, in log order, and keeps the user online so no presence frames interfere.
    observer, joiner_welcome = await clients.login(server.url, "joiner", PW)
    sender, _ = await clients.login(server.url, "sender", PW)
    sender_ws.append(sender)
    await presence(observer, "sender", True)
    first, _ = await tab(clients, server.url, joiner_welcome)

    before = [await publish(sender, f"antes-{i}") for i in range(3)]
    seen = before[-1]
    assert ids(await recv_n(first, 3)) == ids(before)
    await first.close()
    while_away = [await publish(sender, f"fora-{i}") for i in range(2)]

    armed.update({"registered", "log_read"})
    kwargs: dict[str, Any] = {"token": joiner_welcome["token"]}
    if resume:
        kwargs["resume"] = {"epoch": joiner_welcome["epoch"], "after": seen["id"]}
    joiner, welcome = await clients.login(server.url, "joiner", **kwargs)
    assert not armed, "the seam hook was not called at both points"
    assert welcome["recovered"] is resume
    assert len(injected["registered"]) == len(injected["log_read"]) == 3

    everything = ids(before) + ids(while_away) + injected["registered"] + injected["log_read"]
    observed = ids(await recv_n(observer, len(everything)))
    assert observed == everything  # the log order, as the sender's echoes gave it
    expected = observed[3:] if resume else observed
    got = ids(await recv_n(joiner, len(expected)))
    await expect_silence(joiner)
    assert got == expected
    # `last` closes the backlog: what comes after it is exactly what came live.
    assert welcome["last"] in got
    backlog_end = got.index(welcome["last"]) + 1
    assert set(got[backlog_end:]) <= set(injected["log_read"])
    assert set(injected["registered"]) <= set(got[:backlog_end])


# --------------------------------------------------------------------------- shutdown


async def test_stop_closes_clients_with_1001(server: ServerThread, clients: Clients) -> None:
    ana, _ = await clients.login(server.url, "ana", PW)
    bob, _ = await clients.login(server.url, "bob", PW)
    await presence(ana, "bob", True)
    stopping = asyncio.create_task(asyncio.to_thread(server.stop))
    await asyncio.gather(expect_close(ana, 1001), expect_close(bob, 1001))
    await stopping
