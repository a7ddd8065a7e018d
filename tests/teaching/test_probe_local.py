"""The probe as a new user points it at servers on this machine: a bare ``HOST:PORT``, the
browser's address of the chat server, the chat server's endpoint, the wrong scheme.

Every server is real and local (the replica, a ``ServerThread``, a plain HTTP server), on a
free port, stopped after the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from chatkit import http_get

from wschat import GREETING, Replica
from wschat.core.urls import SERVER_NAME
from wschat.server.thread import ServerThread
from wschat.teaching.probe import (
    ConnectionFailed,
    HandshakeRejected,
    LoginRequired,
    TLSFailure,
    probe,
)

Serve = Callable[..., ServerThread]

#: Bound on a probe here. A chat server's login timeout (10 s) is longer: a probe that waited
#: for the server to speak would time out instead of naming the login at once.
TIMEOUT = 5.0


def run_probe(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "wschat", "probe", *args],
        capture_output=True, text=True, encoding="utf-8", timeout=30, env=env, check=False,
    )


@contextmanager
def plain_http_server() -> Iterator[int]:
    """An HTTP server that is not a WebSocket server (it answers 200 to everything)."""

    class Answer(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# --------------------------------------------------------------------------- a bare local host


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_bare_local_host_is_plain_ws(replica: Replica, host: str) -> None:
    result = probe(f"{host}:{replica.port}", timeout=TIMEOUT)
    assert result.url == f"ws://{host}:{replica.port}/"
    assert [m.data for m in result.messages] == [GREETING]


def test_the_command_reads_a_bare_local_host(replica: Replica) -> None:
    done = run_probe(f"127.0.0.1:{replica.port}", "--timeout", str(TIMEOUT))
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{GREETING}\n", "")


# --------------------------------------------------------------------------- a wschat chat server


def test_the_chat_server_says_who_it_is_on_its_page_and_its_handshake(serve: Serve) -> None:
    server = serve()
    assert http_get(server.http_url)[1]["Server"] == SERVER_NAME
    with pytest.raises(LoginRequired) as caught:
        probe(server.url, timeout=TIMEOUT)
    assert caught.value.partial is not None
    assert caught.value.partial.status == 101
    assert caught.value.partial.headers["server"] == SERVER_NAME


@pytest.mark.parametrize("typed", ["http_url", "bare", "ws_root", "url"])
def test_the_browser_address_and_the_endpoint_both_say_at_once_that_a_login_is_wanted(
    serve: Serve, typed: str
) -> None:
    server = serve()
    url = {
        "http_url": server.http_url,  # http://127.0.0.1:PORT/, what the browser shows
        "bare": f"127.0.0.1:{server.port}",
        "ws_root": f"ws://127.0.0.1:{server.port}",
        "url": server.url,  # ws://127.0.0.1:PORT/ws
    }[typed]
    with pytest.raises(LoginRequired) as caught:
        probe(url, timeout=TIMEOUT)
    error = caught.value
    assert (error.kind, error.exit_code, error.url) == ("login_required", 10, server.url)
    assert f"python -m wschat chat {server.url} --user NAME" in str(error)
    assert "/login NAME PASSWORD" in str(error)


def test_the_command_names_the_login_in_one_line(serve: Serve) -> None:
    server = serve()
    done = run_probe(server.http_url, "--timeout", str(TIMEOUT))
    assert (done.returncode, done.stdout) == (10, "")
    assert done.stderr == (
        "wschat probe: a wschat chat server, which sends nothing before a login: send "
        f"'/login NAME PASSWORD' first (--send), or chat with: python -m wschat chat "
        f"{server.url} --user NAME ({server.url})\n"
    )


def test_a_login_sent_from_the_browser_address_is_answered(serve: Serve) -> None:
    server = serve()
    result = probe(server.http_url, timeout=TIMEOUT, send="/login ana s3nha")
    assert result.url == server.url
    first = result.messages[0].data
    assert isinstance(first, str) and json.loads(first)["type"] == "welcome"


@pytest.mark.parametrize(("path", "status"), [("index.html", 200), ("healthz", 200), ("nada", 404)])
def test_another_path_on_the_chat_server_names_its_endpoint(
    serve: Serve, path: str, status: int
) -> None:
    server = serve()
    url = f"ws://127.0.0.1:{server.port}/{path}"
    with pytest.raises(HandshakeRejected) as caught:
        probe(url, timeout=TIMEOUT)
    assert caught.value.status == status
    assert str(caught.value).endswith(
        f"instead of 101 Switching Protocols: a wschat chat server, whose WebSocket endpoint is "
        f"{server.url} ({url})"
    )


def test_a_page_that_is_not_wschat_s_is_not_followed() -> None:
    with plain_http_server() as port:
        with pytest.raises(HandshakeRejected) as caught:
            probe(f"http://127.0.0.1:{port}/", timeout=TIMEOUT)
    assert caught.value.url == f"ws://127.0.0.1:{port}/"
    assert str(caught.value) == (
        f"HTTP 200 OK instead of 101 Switching Protocols (ws://127.0.0.1:{port}/)"
    )


# --------------------------------------------------------------------------- the wrong scheme


def test_wss_to_the_plain_chat_server_suggests_ws(serve: Serve) -> None:
    server = serve()
    url = f"wss://127.0.0.1:{server.port}/ws"
    with pytest.raises(TLSFailure) as caught:
        probe(url, timeout=TIMEOUT)
    assert str(caught.value).endswith(
        f"; the server does not seem to speak TLS on this port: try {server.url} ({url})"
    )


def test_wss_to_a_plain_http_server_suggests_ws() -> None:
    with plain_http_server() as port:
        with pytest.raises(TLSFailure) as caught:
            probe(f"wss://127.0.0.1:{port}/", timeout=TIMEOUT)
    assert f"try ws://127.0.0.1:{port}/ (wss://" in str(caught.value)


def test_ws_to_a_tls_chat_server_suggests_wss(serve: Serve, tls_files: tuple[str, str]) -> None:
    certfile, keyfile = tls_files
    server = serve(certfile=certfile, keyfile=keyfile)
    url = f"ws://127.0.0.1:{server.port}/ws"
    with pytest.raises(ConnectionFailed) as caught:
        probe(url, timeout=TIMEOUT)
    assert str(caught.value).endswith(
        f"; if the server speaks TLS on this port, try {server.url} ({url})"
    )
    assert server.url.startswith("wss://")


def test_a_refused_certificate_does_not_suggest_ws(serve: Serve, tls_files: tuple[str, str]) -> None:
    certfile, keyfile = tls_files
    server = serve(certfile=certfile, keyfile=keyfile)
    with pytest.raises(TLSFailure) as caught:
        probe(server.url, timeout=TIMEOUT)  # the throwaway CA is not trusted
    assert "not accepted" in str(caught.value) and "ws://" not in caught.value.cause
