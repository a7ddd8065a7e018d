"""A small raw client kit for the chat server's acceptance tests.

Everything here talks to the server over real sockets with the plain ``websockets`` asyncio
client and knows only the wire protocol (PROTOCOL.md and docs/decisions.md). It never filters,
reorders or de-duplicates what the server sends: exactly-once delivery is the server's job, and a
test client that dropped repeated ids would hide exactly the bugs these tests look for.

Waiting is always for an event (a frame, a close) with a timeout that only bounds a failure.
The one place a fixed short window is legitimate is :func:`expect_silence`: proving that
something does *not* arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

__all__ = [
    "SILENCE",
    "TIMEOUT",
    "Clients",
    "Frame",
    "Recorder",
    "expect_close",
    "expect_silence",
    "http_get",
    "ids",
    "login",
    "login_error",
    "open_ws",
    "presence",
    "publish",
    "read_backlog",
    "recv_json",
    "recv_n",
    "recv_until",
    "send_json",
    "short",
    "silent",
    "tab",
]

#: Upper bound for anything the server should do promptly; only reached when a test fails.
TIMEOUT = 5.0
#: The window in which a frame that must not come would have come.
SILENCE = 0.3

Frame = dict[str, Any]

def short(value: object, limit: int = 600) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a failure report stays readable."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


async def open_ws(url: str, **kwargs: Any) -> ClientConnection:
    """Open a raw WebSocket connection (no login).

    Keepalive pings are off so that a test controls every frame, and the receive queue is
    unbounded so that a test may read a session's frames late without the client itself
    pausing the socket (tests that want a slow reader pause it on purpose).
    """
    kwargs.setdefault("open_timeout", TIMEOUT)
    kwargs.setdefault("close_timeout", 2.0)
    kwargs.setdefault("ping_interval", None)
    kwargs.setdefault("max_queue", None)
    kwargs.setdefault("max_size", None)
    return await connect(url, **kwargs)


async def send_json(ws: ClientConnection, frame: Frame) -> None:
    """Send one protocol frame as a JSON text frame."""
    await ws.send(json.dumps(frame))


async def recv_json(ws: ClientConnection, timeout: float = TIMEOUT) -> Frame:
    """The next frame, which must be a text frame holding a JSON object."""
    try:
        raw = await asyncio.wait_for(ws.recv(), timeout)
    except TimeoutError:
        raise AssertionError(f"no frame within {timeout} s") from None
    assert isinstance(raw, str), f"expected a text frame, got binary {short(raw)}"
    frame = json.loads(raw)
    assert isinstance(frame, dict), f"expected a JSON object, got {short(raw)}"
    return frame


async def recv_n(ws: ClientConnection, n: int, timeout: float = TIMEOUT) -> list[Frame]:
    """Exactly the next ``n`` frames (the timeout bounds them all)."""
    async def collect() -> list[Frame]:
        return [await recv_json(ws, timeout) for _ in range(n)]

    try:
        return await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        raise AssertionError(f"fewer than {n} frames within {timeout} s") from None


async def recv_until(
    ws: ClientConnection, match: Callable[[Frame], bool], timeout: float = TIMEOUT
) -> list[Frame]:
    """Every frame up to and including the first one that ``match`` accepts."""
    frames: list[Frame] = []

    async def collect() -> None:
        while True:
            frame = await recv_json(ws, timeout)
            frames.append(frame)
            if match(frame):
                return

    try:
        await asyncio.wait_for(collect(), timeout)
    except TimeoutError:
        raise AssertionError(f"no matching frame within {timeout} s; got {short(frames)}") from None
    return frames


async def expect_silence(ws: ClientConnection, within: float = SILENCE) -> None:
    """Assert that no frame arrives in the next ``within`` seconds (and the socket stays open)."""
    try:
        raw = await asyncio.wait_for(ws.recv(), within)
    except TimeoutError:
        return
    except ConnectionClosed as exc:
        raise AssertionError(f"connection closed instead of staying silent: {exc}") from None
    raise AssertionError(f"expected silence, got {short(raw)}")


async def expect_close(
    ws: ClientConnection, code: int | None, timeout: float = TIMEOUT
) -> list[Frame]:
    """Read until the server closes; assert the close code it sent; return the frames before.

    ``code`` None accepts any code (the caller inspects ``ws.close_code`` itself).
    """
    frames: list[Frame] = []

    async def drain() -> None:
        while True:
            try:
                raw = await ws.recv()
            except ConnectionClosed:
                return
            frames.append(json.loads(raw) if isinstance(raw, str) else {"binary": raw})

    try:
        await asyncio.wait_for(drain(), timeout)
    except TimeoutError:
        raise AssertionError(f"not closed within {timeout} s; got {short(frames)}") from None
    if code is not None:
        assert ws.close_code == code, f"close code {ws.close_code}, expected {code}; frames {short(frames)}"
    return frames


async def login(
    url: str,
    user: Any,
    password: Any = None,
    *,
    token: Any = None,
    resume: Any = None,
    **connect_kwargs: Any,
) -> tuple[ClientConnection, Frame]:
    """Connect, send a login object, and return the connection and its ``welcome``.

    Fields left as None are not sent. Fails (closing the socket) unless a welcome comes first.
    """
    ws = await open_ws(url, **connect_kwargs)
    frame: Frame = {"type": "login", "user": user}
    if password is not None:
        frame["password"] = password
    if token is not None:
        frame["token"] = token
    if resume is not None:
        frame["resume"] = resume
    try:
        await send_json(ws, frame)
        welcome = await recv_json(ws)
        assert welcome.get("type") == "welcome", f"expected welcome, got {short(welcome)}"
    except BaseException:
        await ws.close()
        raise
    return ws, welcome


async def read_backlog(
    ws: ClientConnection, welcome: Frame, after: str | None = None, timeout: float = TIMEOUT
) -> list[Frame]:
    """The history or replay that follows ``welcome``: messages up to the one with id ``last``.

    ``after`` is the id given in ``resume``: when the replay is recovered and ``after`` already
    is ``last``, nothing is sent. Every frame read must be a message.
    """
    last = welcome["last"]
    if last is None or (welcome["recovered"] and after == last):
        return []
    frames = await recv_until(ws, lambda f: f.get("id") == last, timeout)
    assert all(f["type"] == "message" for f in frames), f"non-message in the backlog: {short(frames)}"
    return frames


_refs = itertools.count(1)


async def publish(
    ws: ClientConnection, text: str, *, to: str | None = None, ref: str | None = None
) -> Frame:
    """Send a message and return the server's echo to this session (it carries ``ref``).

    The echo must be the very next frame: callers read anything else they expect first.
    """
    ref = ref if ref is not None else f"r{next(_refs)}"
    frame: Frame = {"type": "send", "text": text, "ref": ref}
    if to is not None:
        frame["to"] = to
    await send_json(ws, frame)
    echo = await recv_json(ws)
    assert echo.get("type") == "message" and echo.get("ref") == ref, f"expected the echo, got {short(echo)}"
    return echo


async def presence(ws: ClientConnection, user: str, online: bool) -> None:
    """The next frame is the presence change of ``user``."""
    frame = await recv_json(ws)
    assert frame == {"type": "presence", "user": user, "online": online}


async def silent(*sockets: ClientConnection) -> None:
    """None of ``sockets`` gets a frame in the silence window (checked together)."""
    await asyncio.gather(*(expect_silence(ws) for ws in sockets))


async def tab(clients: Clients, url: str, welcome: Frame) -> tuple[ClientConnection, Frame]:
    """Another session of the user of ``welcome``, opened with its token (no slow hash)."""
    return await clients.login(url, welcome["user"], token=welcome["token"])


async def login_error(clients: Clients, url: str, first: str | bytes, code: str) -> None:
    """Sending ``first`` as the first frame gets exactly one error ``code``, then close 4001."""
    ws = await clients.connect(url)
    await ws.send(first)
    frames = await expect_close(ws, 4001)
    assert len(frames) == 1, frames
    assert frames[0]["type"] == "error" and frames[0]["code"] == code, frames
    assert isinstance(frames[0]["detail"], str) and frames[0]["detail"]


def ids(frames: Iterable[Frame]) -> list[str]:
    """The ids of the message frames among ``frames``, in order (others are left out)."""
    return [f["id"] for f in frames if f.get("type") == "message"]


class Clients:
    """Tracks every connection a test opens and closes them all at the end.

    A server that is stopped while its clients' event loop is gone would wait for close
    handshakes that never come; closing the clients first keeps teardown fast.
    """

    def __init__(self) -> None:
        self.open: list[ClientConnection] = []

    async def connect(self, url: str, **kwargs: Any) -> ClientConnection:
        ws = await open_ws(url, **kwargs)
        self.open.append(ws)
        return ws

    async def login(
        self, url: str, user: Any, password: Any = None, **kwargs: Any
    ) -> tuple[ClientConnection, Frame]:
        ws, welcome = await login(url, user, password, **kwargs)
        self.open.append(ws)
        return ws, welcome

    async def aclose(self) -> None:
        async def close_one(ws: ClientConnection) -> None:
            try:
                await asyncio.wait_for(ws.close(), 2.0)
            except (TimeoutError, OSError):
                pass
            if ws.transport is not None:
                ws.transport.abort()

        await asyncio.gather(*(close_one(ws) for ws in self.open))
        self.open.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def http_get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP GET: (status, headers, body), for error statuses too."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with contextlib.closing(exc):
            return exc.code, dict(exc.headers), exc.read()


def small_buffer_socket(port: int) -> socket.socket:
    """A connected TCP socket with a small receive buffer, so a paused reader fills up fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


class Recorder:
    """Every frame one connection receives, recorded in the background in arrival order.

    ``raw`` keeps the text of each frame as it came and ``frames`` its parsed form; ``closed``
    turns true when the connection ends. :meth:`wait` re-checks a condition on every frame,
    so a test waits for what it needs instead of sleeping. Subclasses may override
    :meth:`received` to keep more state per frame.
    """

    def __init__(self, ws: ClientConnection, user: str = "") -> None:
        self.ws = ws
        self.user = user
        self.raw: list[str] = []
        self.frames: list[Frame] = []
        self.changed = asyncio.Event()
        self.closed = False
        self.reader: asyncio.Task[None] | None = None

    def start(self) -> Self:
        """Start recording (in a task of the running loop)."""
        self.reader = asyncio.get_running_loop().create_task(self._read())
        return self

    def received(self, frame: Frame) -> None:
        """Called for each frame once it is recorded; nothing by default."""

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                assert isinstance(raw, str), f"binary frame from the server: {short(raw)}"
                self.raw.append(raw)
                frame = json.loads(raw)
                self.frames.append(frame)
                self.received(frame)
                self.changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.changed.set()

    async def wait(self, done: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
        """Wait until ``done()`` holds, re-checking on every frame; fail after ``timeout`` s."""

        async def loop() -> None:
            while not done():
                self.changed.clear()
                if not done():
                    await self.changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            who = f"{self.user}: " if self.user else ""
            raise AssertionError(
                f"{who}{what} not within {timeout} s; last frames {short(self.frames[-10:])}"
            ) from None

    async def ended(self) -> None:
        """Wait for the recording task to finish (the connection closed)."""
        if self.reader is not None:
            await self.reader

    async def close(self) -> None:
        """Close the connection and wait until everything it sent is recorded."""
        await self.ws.close()
        await self.ended()
