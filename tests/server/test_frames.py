"""Acceptance tests of the transport and of frames that are not requests: HTTP paths, chat
lines, invalid objects, binary, bad UTF-8 and frame sizes (PROTOCOL.md).

Every test starts a real server (``ServerThread``, through the ``serve`` and ``server``
fixtures) on a free loopback port, once per store backend, and talks to it with the raw
``websockets`` client through ``chatkit``. Nothing here de-duplicates or filters what the
server sends: each assertion about "once" counts the frames exactly as they came.
"""

from __future__ import annotations

import pytest
from chatkit import (
    Clients,
    expect_close,
    expect_silence,
    http_get,
    presence,
    publish,
    recv_json,
    send_json,
    short,
    silent,
)
from frametables import CHAT_LINES, REJECTED
from threadkit import PW, Serve

from wschat.server.thread import ServerThread

#: Every test here runs once per store backend (memory, SQLite, Redis: tests/conftest.py).
pytestmark = pytest.mark.backends


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


async def test_text_that_is_not_a_json_object_is_a_chat_line(
    server: ServerThread, clients: Clients
) -> None:
    """Every row of frametables.CHAT_LINES, sent in turn: stored and delivered as it is."""
    ws, _ = await clients.login(server.url, "ana", PW)
    other, _ = await clients.login(server.url, "bob", PW)
    await presence(ws, "bob", True)
    for line in CHAT_LINES:
        await ws.send(line)
        for sock in (ws, other):
            message = await recv_json(sock)
            assert message["type"] == "message", (line, message)
            assert (message["from"], message["to"], message["text"]) == ("ana", None, line), line
            assert isinstance(message["id"], str)
    await silent(ws, other)


#: The rows of frametables.REJECTED a session can send: a frame over 64 KiB is closed with
#: 1009 before it is read (test_frame_over_64_kib_closes_with_1009).
SENDABLE = [row for row in REJECTED if len(row[0].encode()) <= 64 * 1024]


async def test_every_rejected_frame_gets_its_error_and_delivers_nothing(
    serve: Serve, clients: Clients
) -> None:
    """Every row of frametables.REJECTED, sent in turn on one session: its error code and
    ``ref``, the session stays open, and nobody else gets anything."""
    server = serve(rate_limit=0)
    ws, _ = await clients.login(server.url, "ana", PW)
    other, _ = await clients.login(server.url, "bob", PW)
    await presence(ws, "bob", True)
    for text, code, ref in SENDABLE:
        await ws.send(text)
        error = await recv_json(ws)
        assert (error["type"], error.get("code"), error.get("ref")) == ("error", code, ref), short(text)
        assert isinstance(error["detail"], str) and error["detail"]
    await send_json(ws, {"type": "who"})
    assert (await recv_json(ws))["type"] == "users"  # still open
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
