"""ChatClient with a list of URLs (the processes of one cluster): the first that answers, and
after a 1012 (a draining server) the next one. Real servers on 127.0.0.1, free ports."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from wschat.client.chat_client import ChatClient
from wschat.client.events import Disconnected, Reconnected
from wschat.server.thread import ServerThread

PW = "s3nha"

Serve = Callable[..., ServerThread]


def dead_url() -> str:
    """A loopback URL where nothing listens (a port that was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ws"


def test_a_client_needs_a_url() -> None:
    with pytest.raises(ValueError, match="URL"):
        ChatClient([], "ana", PW)


async def test_connect_takes_the_first_url_that_answers(serve: Serve) -> None:
    server = serve()
    client = ChatClient([dead_url(), server.url], "ana", PW)
    welcome = await client.connect()
    try:
        assert welcome.user == "ana"
        assert client.url == server.url
    finally:
        await client.close()


async def test_connect_fails_when_no_url_answers() -> None:
    client = ChatClient([dead_url(), dead_url()], "ana", PW)
    with pytest.raises(OSError):
        await client.connect()


async def test_after_1012_the_client_goes_to_the_next_url(serve: Serve) -> None:
    draining = serve(drain=0.5)
    other = serve()
    client = ChatClient([draining.url, other.url], "ana", PW, backoff=(0.05, 0.5))
    await client.connect()
    try:
        assert client.url == draining.url
        stopping = asyncio.create_task(asyncio.to_thread(draining.stop))
        async with asyncio.timeout(20):
            gone = await client.recv()
            back = await client.recv()
        assert isinstance(gone, Disconnected) and gone.code == 1012
        assert isinstance(back, Reconnected) and client.url == other.url
        await stopping
    finally:
        await client.close()
