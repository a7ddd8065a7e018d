"""The probe against real servers on 127.0.0.1: what it records, and how each failure is named.

Every server here is started by the test on a free port and stopped after it. No test resolves
or contacts a name outside this machine: name lookups that must fail are injected.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import hashlib
import importlib
import inspect
import math
import os
import queue
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from wschat import GREETING, Replica
from wschat.core.urls import InvalidURL
from wschat.core.wire import Opcode, accept_key, close_payload, encode_frame
from wschat.server.thread import BackgroundServer
from wschat.teaching.probe import (
    DEFAULT_TIMEOUT,
    MAX_REDIRECTS,
    PROGRESS_MESSAGE,
    ClosedBeforeMessage,
    ConnectionFailed,
    ConnectionRefused,
    HandshakeRejected,
    NameNotFound,
    OfflineBlocked,
    ProbeError,
    ProbeTimeout,
    ReceivedMessage,
    TLSFailure,
    format_message,
    parse_extensions,
    probe,
)

#: The probe's modules whose internals tests patch: the progress delay, the deadline socket.
probe_api = importlib.import_module("wschat.teaching.probe.api")
probe_attempt = importlib.import_module("wschat.teaching.probe.attempt")

Handler = Callable[[ServerConnection], Awaitable[None]]

#: The constant of RFC 6455 that turns Sec-WebSocket-Key into Sec-WebSocket-Accept.
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Slack allowed over a probe's timeout before a test calls the bound broken.
SLACK = 1.5


@contextmanager
def ws_server(handler: Handler, **options: Any) -> Iterator[BackgroundServer]:
    """A websockets server running ``handler`` on a free loopback port."""

    async def run(ready: Callable[[int], None], stop: asyncio.Event) -> None:
        async with serve(handler, "127.0.0.1", 0, **options) as server:
            ready(server.sockets[0].getsockname()[1])
            await stop.wait()

    with BackgroundServer(run, host="127.0.0.1", name="test-ws-server") as server:
        yield server


def url_of(server: BackgroundServer, scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{server.port}/"


@contextmanager
def http_server(status: int, location: str | None = None) -> Iterator[ThreadingHTTPServer]:
    """A plain HTTP server answering every GET with ``status`` (``{port}`` in ``location``
    becomes its own port). ``server.requests`` counts the requests it answered."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.server.requests += 1  # type: ignore[attr-defined]
            body = b"this is not a WebSocket endpoint\n"
            self.send_response(status)
            if location is not None:
                own_port = self.server.server_address[1]  # type: ignore[index]
                self.send_header("Location", location.format(port=own_port))
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    server.requests = 0  # type: ignore[attr-defined]
    # A short poll interval: shutdown() waits for serve_forever to notice it.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def one_connection_server(
    handle: Callable[[socket.socket, threading.Event], None],
) -> Iterator[int]:
    """A raw TCP server for the odd cases: accepts one connection and runs
    ``handle(connection, stop)`` on it; ``stop`` is set when the test is done."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    stop = threading.Event()

    def serve_one() -> None:
        try:
            connection, _ = listener.accept()
        except OSError:
            return
        with connection:
            try:
                handle(connection, stop)
            except OSError:
                pass  # the probe hung up: that is how these tests end

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(10)
        listener.close()


def read_request(connection: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def fake_resolver(port: int, calls: list[tuple[str, int]] | None = None) -> Any:
    """A resolver that maps every name to 127.0.0.1:port, recording what it was asked."""

    def resolve(host: str, asked_port: int, *_: Any) -> list[tuple[Any, ...]]:
        if calls is not None:
            calls.append((host, asked_port))
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    return resolve


# --- what the probe records --------------------------------------------------------------


def test_replica_greeting(replica: Replica) -> None:
    result = probe(replica.url, timeout=5)
    assert [m.data for m in result.messages] == [GREETING]
    assert result.url == replica.url
    assert result.status == 101
    assert result.headers["upgrade"].lower() == "websocket"
    assert result.subprotocol is None
    assert result.extensions == []
    assert 0 < result.connect_time < 5
    assert (result.close_code, result.close_reason, result.timed_out) == (None, None, False)


def test_text_and_binary_messages_with_elapsed_times() -> None:
    async def talk(connection: ServerConnection) -> None:
        await connection.send("um")
        await connection.send(b"\x00\x01\xff")
        await asyncio.sleep(0.2)  # the gap the elapsed times must show
        await connection.send("três")
        await connection.wait_closed()

    with ws_server(talk) as server:
        result = probe(url_of(server), timeout=5, count=3)
    first, second, third = result.messages
    assert (first.data, first.binary) == ("um", False)
    assert (second.data, second.binary) == (b"\x00\x01\xff", True)
    assert (third.data, third.binary) == ("três", False)
    assert 0 <= first.elapsed <= second.elapsed <= third.elapsed < 5
    assert third.elapsed - second.elapsed >= 0.15


def test_count_stops_reading_and_closes_with_1000() -> None:
    closes: queue.Queue[int | None] = queue.Queue()

    async def three(connection: ServerConnection) -> None:
        for text in ("a", "b", "c"):
            await connection.send(text)
        await connection.wait_closed()
        closes.put(connection.close_code)

    with ws_server(three) as server:
        result = probe(url_of(server), timeout=5, count=2)
        assert closes.get(timeout=5) == 1000
    assert [m.data for m in result.messages] == ["a", "b"]
    assert (result.close_code, result.timed_out) == (None, False)


def test_timeout_after_one_message_returns_what_arrived(replica: Replica) -> None:
    started = time.monotonic()
    result = probe(replica.url, timeout=0.5, count=2)
    assert [m.data for m in result.messages] == [GREETING]
    assert result.timed_out
    assert time.monotonic() - started < 0.5 + SLACK


def test_send_reaches_the_server() -> None:
    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(f"eco: {message!s}" if isinstance(message, str) else message)

    with ws_server(echo) as server:
        result = probe(url_of(server), timeout=5, send="Olá, servidor")
    assert [m.data for m in result.messages] == ["eco: Olá, servidor"]


def test_on_message_streams_each_message_as_it_arrives() -> None:
    seen_first = threading.Event()

    async def waits_for_client(connection: ServerConnection) -> None:
        await connection.send("first")
        # "second" is sent only once the client has reported "first": a probe that called
        # on_message only at the end would time out here with one message.
        if await asyncio.to_thread(seen_first.wait, 5):
            await connection.send("second")
        await connection.wait_closed()

    streamed: list[ReceivedMessage] = []

    def on_message(message: ReceivedMessage) -> None:
        streamed.append(message)
        seen_first.set()

    with ws_server(waits_for_client) as server:
        result = probe(url_of(server), timeout=3, count=2, on_message=on_message)
    assert streamed == result.messages
    assert [m.data for m in streamed] == ["first", "second"]


def test_status_headers_and_subprotocol_are_recorded() -> None:
    def tag(connection: ServerConnection, request: Request, response: Response) -> None:
        response.headers["X-Wschat-Test"] = "sim"

    async def greet(connection: ServerConnection) -> None:
        await connection.send(f"subprotocol={connection.subprotocol}")
        await connection.wait_closed()

    with ws_server(greet, subprotocols=["chat.v2"], process_response=tag) as server:
        result = probe(url_of(server), timeout=5, subprotocols=["chat.v1", "chat.v2"])
    assert result.status == 101
    assert result.subprotocol == "chat.v2"
    assert result.headers["x-wschat-test"] == "sim"
    assert result.headers["sec-websocket-protocol"] == "chat.v2"
    assert [m.data for m in result.messages] == ["subprotocol=chat.v2"]


def test_extensions_are_parsed_from_the_response() -> None:
    def announce(connection: ServerConnection, request: Request, response: Response) -> None:
        response.headers["Sec-WebSocket-Extensions"] = "permessage-deflate; server_no_context_takeover"

    async def greet(connection: ServerConnection) -> None:
        await connection.send("oi")
        await connection.wait_closed()

    with ws_server(greet, process_response=announce, compression=None) as server:
        result = probe(url_of(server), timeout=5)
    assert result.extensions == ["permessage-deflate"]


@pytest.mark.parametrize(
    ("header", "names"),
    [
        (None, []),
        ("", []),
        ("permessage-deflate", ["permessage-deflate"]),
        ("permessage-deflate; client_max_window_bits=10, x-webkit", ["permessage-deflate", "x-webkit"]),
        ("a;;b, c", ["a", "c"]),  # malformed: still report the names the server gave
    ],
)
def test_parse_extensions(header: str | None, names: list[str]) -> None:
    assert parse_extensions(header) == names


def test_messages_then_server_close_are_reported() -> None:
    async def bye(connection: ServerConnection) -> None:
        await connection.send("tchau")
        await connection.close(1001, "indo embora")

    with ws_server(bye) as server:
        result = probe(url_of(server), timeout=5, count=5)
    assert [m.data for m in result.messages] == ["tchau"]
    assert (result.close_code, result.close_reason, result.timed_out) == (1001, "indo embora", False)


def test_name_is_looked_up_with_the_given_resolver(replica: Replica) -> None:
    calls: list[tuple[str, int]] = []
    url = f"ws://replica.test:{replica.port}/"
    result = probe(url, timeout=5, resolve=fake_resolver(replica.port, calls))
    assert calls == [("replica.test", replica.port)]
    assert result.url == url
    assert [m.data for m in result.messages] == [GREETING]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_followed_and_reported(replica: Replica, status: int) -> None:
    # http:// in Location means ws://, as everywhere in the probe
    with http_server(status, location=f"http://127.0.0.1:{replica.port}/") as redirector:
        start = f"ws://127.0.0.1:{redirector.server_address[1]}/old"
        result = probe(start, timeout=5)
    assert result.url == replica.url
    assert [m.data for m in result.messages] == [GREETING]


def test_relative_redirect_is_resolved_against_the_current_url() -> None:
    async def greet_path(connection: ServerConnection) -> None:
        await connection.send(connection.request.path if connection.request else "?")
        await connection.wait_closed()

    def redirect_old(connection: ServerConnection, request: Request) -> Response | None:
        if request.path != "/old":
            return None
        return Response(301, "Moved Permanently", Headers([("Location", "/new?x=1")]))

    with ws_server(greet_path, process_request=redirect_old) as server:
        result = probe(url_of(server) + "old", timeout=5)
    assert result.url == url_of(server) + "new?x=1"
    assert [m.data for m in result.messages] == ["/new?x=1"]


def test_redirect_loop_stops_after_the_limit() -> None:
    with http_server(302, location="ws://127.0.0.1:{port}/again") as loop:
        url = f"ws://127.0.0.1:{loop.server_address[1]}/"
        with pytest.raises(HandshakeRejected) as caught:
            probe(url, timeout=5)
        assert loop.requests == MAX_REDIRECTS + 1  # type: ignore[attr-defined]
    assert caught.value.status == 302
    assert f"more than {MAX_REDIRECTS} redirects" in str(caught.value)


def test_redirect_without_location_is_rejected() -> None:
    with (
        http_server(301) as server,
        pytest.raises(HandshakeRejected, match="unusable URL") as caught,
    ):
        probe(f"ws://127.0.0.1:{server.server_address[1]}/", timeout=5)
    assert caught.value.status == 301


def test_wss_with_a_trusted_certificate(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls

    async def greet(connection: ServerConnection) -> None:
        await connection.send("seguro")
        await connection.wait_closed()

    with ws_server(greet, ssl=server_context) as server:
        result = probe(url_of(server, "wss"), timeout=5, ssl_context=client_context)
    assert [m.data for m in result.messages] == ["seguro"]
    assert result.url.startswith("wss://")


# --- every failure named ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for 127.0.0.1 from a throwaway CA, and a client
    context that trusts that CA (the default context does not)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    return server_context, client_context


def test_refused() -> None:
    port = closed_port()
    url = f"ws://127.0.0.1:{port}/"
    with pytest.raises(ConnectionRefused) as caught:
        probe(url, timeout=5)
    error = caught.value
    assert str(error) == f"connection refused by 127.0.0.1:{port} ({url})"
    assert (error.kind, error.url, error.exit_code) == ("connection_refused", url, 4)


@pytest.mark.parametrize("status", [200, 404, 426])
def test_http_endpoint_that_is_not_a_websocket(status: int) -> None:
    with http_server(status) as server:
        url = f"ws://127.0.0.1:{server.server_address[1]}/"
        with pytest.raises(HandshakeRejected) as caught:
            probe(url, timeout=5)
    error = caught.value
    assert error.status == status
    assert error.headers["content-type"] == "text/plain"
    assert f"HTTP {status} " in str(error)
    assert "instead of 101 Switching Protocols" in str(error)
    assert (error.kind, error.url) == ("handshake_rejected", url)


def test_http_404_message() -> None:
    with http_server(404) as server:
        url = f"ws://127.0.0.1:{server.server_address[1]}/"
        with pytest.raises(HandshakeRejected) as caught:
            probe(url, timeout=5)
    assert str(caught.value) == f"HTTP 404 Not Found instead of 101 Switching Protocols ({url})"


def test_server_that_never_sends_times_out_and_is_closed_cleanly() -> None:
    closes: queue.Queue[int | None] = queue.Queue()

    async def silent(connection: ServerConnection) -> None:
        await connection.wait_closed()
        closes.put(connection.close_code)

    with ws_server(silent) as server:
        started = time.monotonic()
        with pytest.raises(ProbeTimeout) as caught:
            probe(url_of(server), timeout=0.5)
        assert time.monotonic() - started < 0.5 + SLACK
        assert closes.get(timeout=5) == 1000
    error = caught.value
    assert error.stage == "wait for the first message"
    assert "timed out after 0.5 s during the wait for the first message" in str(error)
    assert error.partial is not None and error.partial.status == 101  # the handshake worked
    assert error.kind == "timeout"


def test_timeout_covers_a_slow_name_lookup() -> None:
    release = threading.Event()

    def stuck(host: str, port: int, *_: Any) -> list[tuple[Any, ...]]:
        release.wait(10)  # a resolver that hangs, as getaddrinfo can, ignoring timeouts
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    started = time.monotonic()
    try:
        with pytest.raises(ProbeTimeout) as caught:
            probe("ws://slow.invalid/", timeout=0.3, resolve=stuck)
        assert time.monotonic() - started < 0.3 + SLACK
    finally:
        release.set()
    assert caught.value.stage == "name lookup of slow.invalid"


def test_timeout_covers_a_server_that_trickles_its_handshake() -> None:
    def trickle(connection: socket.socket, stop: threading.Event) -> None:
        read_request(connection)
        # One byte every 50 ms, forever: each read is quick, the whole never ends.
        for byte in b"HTTP/1.1 101 Switching Protocols\r\n" + b"X-Slow: yes\r\n" * 1000:
            if stop.wait(0.05):
                return
            connection.sendall(bytes([byte]))

    with one_connection_server(trickle) as port:
        started = time.monotonic()
        with pytest.raises(ProbeTimeout) as caught:
            probe(f"ws://127.0.0.1:{port}/", timeout=0.5)
        assert time.monotonic() - started < 0.5 + SLACK
    assert caught.value.stage == "WebSocket handshake"


def test_timeout_during_tls_handshake() -> None:
    def mute(connection: socket.socket, stop: threading.Event) -> None:
        stop.wait(10)  # accepts TCP, never answers the TLS ClientHello

    with one_connection_server(mute) as port, pytest.raises(ProbeTimeout) as caught:
        probe(f"wss://127.0.0.1:{port}/", timeout=0.5)
    assert caught.value.stage == f"TLS handshake with 127.0.0.1:{port}"


def test_untrusted_certificate(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, _ = tls

    async def greet(connection: ServerConnection) -> None:
        await connection.send("nunca lido")

    with ws_server(greet, ssl=server_context) as server:
        url = url_of(server, "wss")
        with pytest.raises(TLSFailure) as caught:
            probe(url, timeout=5)
    error = caught.value
    assert "certificate" in str(error)
    assert (error.kind, error.url, error.exit_code) == ("tls_failure", url, 5)


def test_certificate_for_another_name(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_context, client_context = tls

    async def greet(connection: ServerConnection) -> None:
        await connection.send("nunca lido")

    # The certificate names 127.0.0.1; reached as "other.test" it must be refused.
    with ws_server(greet, ssl=server_context) as server:
        url = f"wss://other.test:{server.port}/"
        with pytest.raises(TLSFailure, match=r"other\.test"):
            probe(url, timeout=5, ssl_context=client_context, resolve=fake_resolver(server.port))


def test_wss_to_a_plain_tcp_server() -> None:
    def plain(connection: socket.socket, stop: threading.Event) -> None:
        connection.recv(4096)  # the TLS ClientHello, which it does not understand
        connection.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with one_connection_server(plain) as port, pytest.raises(TLSFailure) as caught:
        probe(f"wss://127.0.0.1:{port}/", timeout=5)
    assert f"TLS handshake with 127.0.0.1:{port} failed" in str(caught.value)


def test_wss_to_a_plain_websocket_server(replica: Replica) -> None:
    with pytest.raises(TLSFailure):
        probe(f"wss://127.0.0.1:{replica.port}/", timeout=5)


def test_server_closes_before_any_message() -> None:
    async def refuse(connection: ServerConnection) -> None:
        await connection.close(4000, "vá embora")

    with ws_server(refuse) as server:
        url = url_of(server)
        with pytest.raises(ClosedBeforeMessage) as caught:
            probe(url, timeout=5)
    error = caught.value
    assert (error.close_code, error.close_reason) == (4000, "vá embora")
    assert "4000" in str(error) and "vá embora" in str(error)
    assert error.partial is not None and error.partial.close_code == 4000
    assert (error.kind, error.url, error.exit_code) == ("closed_before_message", url, 8)


def test_close_without_code_is_1005() -> None:
    def close_bare(connection: socket.socket, stop: threading.Event) -> None:
        request = read_request(connection).decode("latin-1")
        key = next(
            line.split(":", 1)[1].strip()
            for line in request.split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        connection.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
            b"\x88\x00"  # a close frame with no payload: no code, no reason
        )
        stop.wait(5)  # let the probe read it and answer

    with (
        one_connection_server(close_bare) as port,
        pytest.raises(ClosedBeforeMessage) as caught,
    ):
        probe(f"ws://127.0.0.1:{port}/", timeout=5)
    assert (caught.value.close_code, caught.value.close_reason) == (1005, "")


def test_connection_dropped_before_any_message() -> None:
    async def drop(connection: ServerConnection) -> None:
        connection.transport.abort()  # TCP reset, no close frame

    with ws_server(drop) as server, pytest.raises(ClosedBeforeMessage) as caught:
        probe(url_of(server), timeout=5)
    assert caught.value.close_code == 1006
    assert "1006" in str(caught.value)


def test_error_messages_stay_on_one_line() -> None:
    async def multiline(connection: ServerConnection) -> None:
        await connection.close(4001, "linha 1\nlinha 2")

    with ws_server(multiline) as server, pytest.raises(ClosedBeforeMessage) as caught:
        probe(url_of(server), timeout=5)
    assert "\n" not in str(caught.value)
    assert caught.value.close_reason == "linha 1\nlinha 2"  # the data itself is kept as sent


def test_name_not_found() -> None:
    def nothing(host: str, port: int, *_: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    url = "wss://no-such-host.invalid/"
    with pytest.raises(NameNotFound) as caught:
        probe(url, timeout=5, resolve=nothing)
    error = caught.value
    assert error.host == "no-such-host.invalid"
    assert str(error) == f"could not resolve no-such-host.invalid: Name or service not known ({url})"
    assert (error.kind, error.url, error.exit_code) == ("name_not_found", url, 3)


def test_name_with_no_addresses_is_not_found() -> None:
    with pytest.raises(NameNotFound, match="no addresses"):
        probe("ws://empty.invalid/", timeout=5, resolve=lambda *_: [])


@pytest.mark.parametrize(
    ("reply", "cause"),
    [
        (b"", "closed the connection during the WebSocket handshake"),
        (b"hello, I am not HTTP\r\n\r\n", "invalid WebSocket handshake response"),
        (
            (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n"
            ),
            "invalid WebSocket handshake response",
        ),
    ],
)
def test_peers_that_do_not_speak_websocket(reply: bytes, cause: str) -> None:
    def answer(connection: socket.socket, stop: threading.Event) -> None:
        read_request(connection)
        connection.sendall(reply)

    with one_connection_server(answer) as port, pytest.raises(ConnectionFailed) as caught:
        probe(f"ws://127.0.0.1:{port}/", timeout=5)
    assert cause in str(caught.value)
    assert (caught.value.kind, caught.value.exit_code) == ("connection_failed", 1)


def test_offline_mode_refuses_outside_names_without_looking_them_up() -> None:
    # conftest sets WSCHAT_OFFLINE=1; the default resolver must not even be asked.
    with pytest.raises(OfflineBlocked) as caught:
        probe("websocket-fh6l.onrender.com", timeout=5)
    assert "WSCHAT_OFFLINE=1" in str(caught.value)
    assert caught.value.url == "wss://websocket-fh6l.onrender.com/"


def test_offline_mode_refuses_outside_addresses() -> None:
    def outside(host: str, port: int, *_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("192.0.2.1", port))]

    with pytest.raises(OfflineBlocked, match="outside this machine"):
        probe("ws://example.test/", timeout=5, resolve=outside)


ERROR_CLASSES = (
    NameNotFound, ConnectionRefused, TLSFailure, ProbeTimeout, HandshakeRejected,
    ClosedBeforeMessage, ConnectionFailed, OfflineBlocked,
)


def test_error_kinds_and_exit_statuses_are_distinct() -> None:
    assert all(issubclass(cls, ProbeError) for cls in ERROR_CLASSES)
    assert len({cls.kind for cls in ERROR_CLASSES}) == len(ERROR_CLASSES)
    statuses = {cls.exit_code for cls in ERROR_CLASSES}
    assert len(statuses) == len(ERROR_CLASSES)
    assert not statuses & {0, 2, 130}  # success, usage errors, Ctrl+C


@pytest.mark.parametrize(
    "options",
    [{"timeout": 0}, {"timeout": -1}, {"timeout": math.nan}, {"timeout": math.inf}, {"count": 0}],
)
def test_bad_arguments_are_value_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        probe("ws://127.0.0.1:1/", **options)


def test_invalid_url_is_raised_before_any_connection() -> None:
    with pytest.raises(InvalidURL, match="unsupported scheme"):
        probe("ftp://127.0.0.1/")


@pytest.mark.parametrize(
    ("message", "text", "json_line"),
    [
        (ReceivedMessage("Olá mundo!", 0.25, False), "Olá mundo!",
         '{"type": "text", "data": "Olá mundo!", "elapsed": 0.25}'),
        (ReceivedMessage(b"\x0a\x0b", 1.0, True), "<binary 2 bytes: 0a0b>",
         '{"type": "binary", "data": "Cgs=", "elapsed": 1.0}'),
        (ReceivedMessage(b"", 0.0, True), "<binary 0 bytes>",
         '{"type": "binary", "data": "", "elapsed": 0.0}'),
        (ReceivedMessage(bytes(33), 0.0, True), f"<binary 33 bytes: {'00' * 32}...>",
         '{"type": "binary", "data": "' + "A" * 44 + '", "elapsed": 0.0}'),
    ],
)
def test_format_message(message: ReceivedMessage, text: str, json_line: str) -> None:
    assert format_message(message) == text
    assert format_message(message, as_json=True) == json_line


# --- a host that sleeps: the 60 s default, the progress line, one retry ----------------------

#: What a scripted server does with one connection's handshake: wait ``delay`` seconds after
#: reading the request, then answer ``reply``: 101 (the real handshake, then the greeting in
#: one text frame), another HTTP status, or "reset" (a TCP reset instead of any answer).
Step = tuple[float, int | str]


@dataclass
class ScriptedServer:
    port: int
    requests: list[bytes] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"


@contextmanager
def scripted_server(*plan: Step) -> Iterator[ScriptedServer]:
    """A raw server on a free loopback port whose n-th connection follows the n-th step of
    ``plan`` (later connections follow the last step); ``requests`` holds each request read.
    The waits end early when the test is done, so a failing test does not hang."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()
    server = ScriptedServer(port=listener.getsockname()[1])
    handlers: list[threading.Thread] = []

    def answer(connection: socket.socket, step: Step) -> None:
        delay, reply = step
        with connection:
            try:
                connection.settimeout(5)
                request = read_request(connection)
                server.requests.append(request)
                if stop.wait(delay):  # the wait IS the behaviour under test: a host waking up
                    return
                if reply == "reset":
                    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closing with a zero linger sends RST
                if reply != 101:
                    status = HTTPStatus(int(reply))
                    connection.sendall(
                        f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Length: 0\r\n"
                        "Connection: close\r\n\r\n".encode()
                    )
                    return
                accept = accept_key(header_value(request, "sec-websocket-key"))
                connection.sendall(
                    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept.encode() + b"\r\n\r\n"
                    + encode_frame(Opcode.TEXT, GREETING)
                )
                answer_close(connection, stop)
            except OSError:
                pass  # the probe hung up

    def accept_all() -> None:
        accepted = 0
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            step = plan[min(accepted, len(plan) - 1)]
            accepted += 1
            handler = threading.Thread(target=answer, args=(connection, step), daemon=True)
            handlers.append(handler)
            handler.start()

    acceptor = threading.Thread(target=accept_all, daemon=True)
    acceptor.start()
    try:
        yield server
    finally:
        stop.set()
        acceptor.join(5)
        for handler in handlers:
            handler.join(10)
        listener.close()


def header_value(request: bytes, name: str) -> str:
    for line in request.decode("latin-1").split("\r\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    raise AssertionError(f"no {name} header in {request!r}")


def answer_close(connection: socket.socket, stop: threading.Event) -> None:
    """Read until the client's close frame and answer it (or until the client is gone)."""
    connection.settimeout(0.2)
    while not stop.is_set():
        try:
            data = connection.recv(4096)
        except TimeoutError:
            continue
        if not data:
            return
        if data[0] & 0x0F == Opcode.CLOSE:
            connection.sendall(encode_frame(Opcode.CLOSE, close_payload(1000)))
            return


def run_probe_command(*args: str, wait: float) -> subprocess.CompletedProcess[str]:
    """``python -m wschat probe ARGS`` in a child process (offline, as the suite is)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "WSCHAT_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "wschat", "probe", *args],
        capture_output=True, text=True, encoding="utf-8", timeout=wait, env=env, check=False,
    )


WAITING_LINE = (
    "wschat probe: waiting for the server to answer "
    "(free hosts sleep when idle and can take up to a minute to wake)...\n"
)


def test_the_default_budget_is_60_s_whatever_the_url() -> None:
    assert DEFAULT_TIMEOUT == 60
    assert inspect.signature(probe).parameters["timeout"].default == DEFAULT_TIMEOUT


@pytest.mark.timeout(90)
def test_command_with_default_options_waits_for_a_host_that_wakes_in_20_s() -> None:
    # TCP is accepted at once; the handshake is answered 20 s later, as a sleeping free host does.
    with scripted_server((20.0, 101)) as server:
        started = time.monotonic()
        done = run_probe_command(server.url, wait=75)
        took = time.monotonic() - started
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{GREETING}\n", WAITING_LINE)
    assert 20 <= took < 60
    assert len(server.requests) == 1


def test_progress_is_called_once_while_the_handshake_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_api, "PROGRESS_AFTER", 0.2)
    calls: list[tuple[str, float]] = []
    with scripted_server((1.0, 101)) as server:
        started = time.monotonic()
        result = probe(server.url, on_progress=lambda text: calls.append((text, time.monotonic())))
    assert [m.data for m in result.messages] == [GREETING]
    assert [text for text, _ in calls] == [PROGRESS_MESSAGE]
    assert 0.2 <= calls[0][1] - started < 1.0  # during the wait, not after it
    assert "\n" not in PROGRESS_MESSAGE


def test_progress_is_not_called_once_the_connection_is_open(monkeypatch: pytest.MonkeyPatch) -> None:
    # The handshake is quick; the first message comes later than PROGRESS_AFTER: that wait is
    # the server's to explain, not a host waking up.
    monkeypatch.setattr(probe_api, "PROGRESS_AFTER", 0.2)

    async def late(connection: ServerConnection) -> None:
        await asyncio.sleep(0.6)
        await connection.send(GREETING)
        await connection.wait_closed()

    calls: list[str] = []
    with ws_server(late) as server:
        result = probe(url_of(server), on_progress=calls.append)
    assert [m.data for m in result.messages] == [GREETING]
    assert calls == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_while_waking_is_retried_once(status: int) -> None:
    with scripted_server((0.0, status), (0.0, 101)) as server:
        result = probe(server.url)
    assert [m.data for m in result.messages] == [GREETING]
    assert len(server.requests) == 2


def test_a_reset_during_the_handshake_is_retried_once() -> None:
    with scripted_server((0.0, "reset"), (0.0, 101)) as server:
        result = probe(server.url, timeout=10)
    assert [m.data for m in result.messages] == [GREETING]
    assert len(server.requests) == 2


def test_a_network_timeout_during_the_handshake_is_retried_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The network, not the probe's deadline, gives up (ETIMEDOUT): a real timeout of that kind
    # takes the kernel minutes, so the socket's first read raises it here.
    original = probe_attempt.DeadlineSocket.recv
    failures = [TimeoutError(errno.ETIMEDOUT, "Connection timed out")]

    def recv(self: Any, bufsize: int) -> bytes:
        if failures:
            raise failures.pop()
        data: bytes = original(self, bufsize)
        return data

    monkeypatch.setattr(probe_attempt.DeadlineSocket, "recv", recv)
    with scripted_server((0.0, 101)) as server:
        result = probe(server.url, timeout=10)
    assert [m.data for m in result.messages] == [GREETING]
    assert len(server.requests) == 2


def test_a_second_5xx_fails_and_says_it_was_retried() -> None:
    with scripted_server((0.0, 503)) as server:
        with pytest.raises(HandshakeRejected) as caught:
            probe(server.url, timeout=10)
        assert len(server.requests) == 2
    error = caught.value
    assert (error.status, error.exit_code) == (503, 7)
    assert str(error) == (
        "HTTP 503 Service Unavailable instead of 101 Switching Protocols, "
        f"again on the one retry ({server.url})"
    )


def test_a_retry_that_fails_otherwise_names_the_first_try() -> None:
    with scripted_server((0.0, 503), (0.0, 404)) as server:
        with pytest.raises(HandshakeRejected) as caught:
            probe(server.url, timeout=10)
    assert caught.value.status == 404
    assert str(caught.value) == (
        "HTTP 404 Not Found instead of 101 Switching Protocols on the one retry "
        "(the first try: HTTP 503 Service Unavailable instead of 101 Switching Protocols) "
        f"({server.url})"
    )


def test_command_exits_7_when_the_retry_gets_5xx_too() -> None:
    with scripted_server((0.0, 503)) as server:
        done = run_probe_command(server.url, wait=30)
        assert len(server.requests) == 2
    assert (done.returncode, done.stdout) == (7, "")
    assert done.stderr == (
        "wschat probe: HTTP 503 Service Unavailable instead of 101 Switching Protocols, "
        f"again on the one retry ({server.url})\n"
    )


def test_the_retry_stays_within_the_deadline() -> None:
    with scripted_server((0.0, 503), (30.0, 101)) as server:
        started = time.monotonic()
        with pytest.raises(ProbeTimeout) as caught:
            probe(server.url, timeout=2.5)
        assert time.monotonic() - started < 2.5 + SLACK
        assert len(server.requests) == 2
    assert "timed out after 2.5 s during the WebSocket handshake on the one retry" in str(caught.value)
    assert "the first try: HTTP 503 Service Unavailable" in str(caught.value)


def test_no_retry_when_the_deadline_leaves_no_time_for_one() -> None:
    with scripted_server((0.0, 503), (0.0, 101)) as server:
        with pytest.raises(HandshakeRejected):
            probe(server.url, timeout=1.5)
        assert len(server.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 426, 429])
def test_a_4xx_is_not_retried(status: int) -> None:
    with scripted_server((0.0, status), (0.0, 101)) as server:
        with pytest.raises(HandshakeRejected) as caught:
            probe(server.url)
        assert len(server.requests) == 1
    assert caught.value.status == status and not caught.value.retryable


def test_dns_tls_and_refusal_are_not_retried() -> None:
    looked_up: list[str] = []

    def nothing(host: str, port: int, *_: Any) -> list[tuple[Any, ...]]:
        looked_up.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(NameNotFound):
        probe("wss://no-such-host.invalid/", resolve=nothing)
    assert looked_up == ["no-such-host.invalid"]

    refused: list[tuple[str, int]] = []
    with pytest.raises(ConnectionRefused):
        probe("ws://refusing.test/", resolve=fake_resolver(closed_port(), refused))
    assert len(refused) == 1

    with http_server(200) as server:  # plain HTTP where TLS is expected
        tls: list[tuple[str, int]] = []
        with pytest.raises(TLSFailure):
            probe("wss://plain.test/", resolve=fake_resolver(server.server_address[1], tls))
    assert len(tls) == 1
