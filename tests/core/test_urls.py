"""The URL table of PROTOCOL.md: what people type, and the WebSocket URL it means."""

from __future__ import annotations

import pytest

from wschat.core.urls import (
    Endpoint,
    InvalidURL,
    chat_endpoint,
    chat_url,
    is_chat_server,
    normalize_url,
    resolve_redirect,
    split_url,
)

ACCEPTED = [
    # a bare host on the internet means wss://HOST/ (the test's server, typed as people type it)
    ("websocket-fh6l.onrender.com", "wss://websocket-fh6l.onrender.com/"),
    ("example.com/chat", "wss://example.com/chat"),
    ("example.com/chat?room=1", "wss://example.com/chat?room=1"),
    ("example.com?room=1", "wss://example.com/?room=1"),
    ("8.8.8.8:8765", "wss://8.8.8.8:8765/"),
    ("intranet:8765", "wss://intranet:8765/"),  # a single-label name is not known to be local
    # a bare host on this machine or the local network means ws://HOST/ (serve has no TLS)
    ("localhost:8766", "ws://localhost:8766/"),
    ("LocalHost", "ws://localhost/"),
    ("127.0.0.1:8766/ws", "ws://127.0.0.1:8766/ws"),
    ("[::1]:8766", "ws://[::1]:8766/"),
    ("0.0.0.0:8765", "ws://0.0.0.0:8765/"),
    ("192.168.0.10:8765", "ws://192.168.0.10:8765/"),
    ("10.1.2.3", "ws://10.1.2.3/"),
    ("[fe80::1]:8765", "ws://[fe80::1]:8765/"),
    ("raspberrypi.local:8765/ws", "ws://raspberrypi.local:8765/ws"),
    # ... but a scheme typed is a scheme kept
    ("wss://127.0.0.1:8765/", "wss://127.0.0.1:8765/"),
    ("https://localhost:8443", "wss://localhost:8443/"),
    # http(s) means ws(s)
    ("http://127.0.0.1:8766", "ws://127.0.0.1:8766/"),
    ("https://websocket-fh6l.onrender.com", "wss://websocket-fh6l.onrender.com/"),
    ("https://example.com:8443/a/b?c=d", "wss://example.com:8443/a/b?c=d"),
    # ws(s) kept; an empty path becomes /
    ("ws://127.0.0.1:8766", "ws://127.0.0.1:8766/"),
    ("ws://127.0.0.1:8766/", "ws://127.0.0.1:8766/"),
    ("wss://websocket-fh6l.onrender.com/", "wss://websocket-fh6l.onrender.com/"),
    ("ws://[::1]/ws", "ws://[::1]/ws"),
    ("wss://example.com:443/", "wss://example.com:443/"),
    # the scheme is case-insensitive, the host too; the path keeps its case
    ("WSS://Example.COM/Path", "wss://example.com/Path"),
    ("HTTP://LOCALHOST:80", "ws://localhost:80/"),
    ("Ws://h", "ws://h/"),
    # surrounding white space is stripped
    ("  ws://127.0.0.1:8766/  ", "ws://127.0.0.1:8766/"),
    ("\twebsocket-fh6l.onrender.com\n", "wss://websocket-fh6l.onrender.com/"),
]

REJECTED = [
    ("ftp://example.com/", "unsupported scheme 'ftp'"),
    ("file:///etc/passwd", "unsupported scheme 'file'"),
    ("mailto://a@b", "unsupported scheme 'mailto'"),
    ("", "empty"),
    ("   ", "empty"),
    ("ws://", "no host"),
    ("https://", "no host"),
    ("ws:///path", "no host"),
    ("wss://:8766/", "no host"),
    ("ws:example.com", "missing '//'"),
    ("https:/example.com", "missing '//'"),
    ("example.com:abc", "invalid port 'abc'"),
    ("ws://example.com:0/", "invalid port '0'"),
    ("ws://example.com:65536/", "invalid port '65536'"),
    ("ws://example.com:-1/", "invalid port '-1'"),
    ("ws://example.com:+80/", "invalid port '+80'"),
    ("ws://example.com:/", "empty port"),
    ("ws://a:1:2/", "more than one ':'"),
    ("ws://exa mple.com/", "spaces"),
    ("ws://example.com/a b", "spaces"),
    ("ws://example.com/\x00", "control characters"),
    ("ws://<script>/", "invalid characters in host"),
    ("ws://user:secret@example.com/", "passwords"),
    ("ws://example.com/#top", "#fragment"),
    ("ws://[::1/", "Invalid IPv6 URL"),
    ("ws://[example.com]/", "IPv6"),
    ("ws://[::1]x/", "after the IPv6 address"),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_normalize_url(text: str, expected: str) -> None:
    assert normalize_url(text) == expected


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_normalize_url_is_idempotent(text: str, expected: str) -> None:
    assert normalize_url(normalize_url(text)) == normalize_url(text)


@pytest.mark.parametrize(("text", "fragment"), REJECTED)
def test_invalid_urls_raise_one_line_errors(text: str, fragment: str) -> None:
    with pytest.raises(InvalidURL) as caught:
        normalize_url(text)
    message = str(caught.value)
    assert fragment in message
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)


def test_non_text_is_an_invalid_url() -> None:
    with pytest.raises(InvalidURL, match="must be text"):
        normalize_url(b"ws://example.com/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("websocket-fh6l.onrender.com", Endpoint(
            "wss://websocket-fh6l.onrender.com/", True, "websocket-fh6l.onrender.com", 443, "/"
        )),
        ("http://127.0.0.1:8766/ws?x=1", Endpoint(
            "ws://127.0.0.1:8766/ws?x=1", False, "127.0.0.1", 8766, "/ws?x=1"
        )),
        ("ws://example.com", Endpoint("ws://example.com/", False, "example.com", 80, "/")),
        ("ws://[::1]:9/", Endpoint("ws://[::1]:9/", False, "::1", 9, "/")),
    ],
)
def test_split_url(text: str, expected: Endpoint) -> None:
    assert split_url(text) == expected


@pytest.mark.parametrize(
    ("endpoint", "authority"),
    [("ws://127.0.0.1:9/", "127.0.0.1:9"), ("wss://h/", "h:443"), ("ws://[::1]/", "[::1]:80")],
)
def test_endpoint_authority(endpoint: str, authority: str) -> None:
    assert split_url(endpoint).authority == authority


@pytest.mark.parametrize(
    ("base", "location", "expected"),
    [
        ("ws://127.0.0.1:1/", "ws://127.0.0.1:2/", "ws://127.0.0.1:2/"),
        ("ws://127.0.0.1:1/", "https://example.com", "wss://example.com/"),
        ("wss://example.com/a/b", "/c", "wss://example.com/c"),
        ("wss://example.com/a/b", "c?d=1", "wss://example.com/a/c?d=1"),
        ("ws://127.0.0.1:1/", "  http://127.0.0.1:3/ws  ", "ws://127.0.0.1:3/ws"),
    ],
)
def test_resolve_redirect(base: str, location: str, expected: str) -> None:
    assert resolve_redirect(base, location) == expected


@pytest.mark.parametrize("location", ["", "   ", "ftp://example.com/"])
def test_unusable_redirects_are_invalid(location: str) -> None:
    with pytest.raises(InvalidURL):
        resolve_redirect("ws://127.0.0.1:1/", location)


@pytest.mark.parametrize(
    ("typed", "endpoint"),
    [
        ("http://127.0.0.1:8765/", "ws://127.0.0.1:8765/ws"),  # the browser's address
        ("http://127.0.0.1:8765", "ws://127.0.0.1:8765/ws"),
        ("ws://127.0.0.1:8765/ws", "ws://127.0.0.1:8765/ws"),
        ("https://chat.example", "wss://chat.example/ws"),
        ("chat.example", "wss://chat.example/ws"),
        ("127.0.0.1:8765", "ws://127.0.0.1:8765/ws"),  # the bare local address of serve
        ("localhost", "ws://localhost/ws"),
        ("ws://[::1]:8765", "ws://[::1]:8765/ws"),
        ("ws://127.0.0.1:8765/outro", "ws://127.0.0.1:8765/outro"),  # a path is kept
        ("ws://127.0.0.1:8765/?x=1", "ws://127.0.0.1:8765/?x=1"),  # so is a query
    ],
)
def test_chat_url_means_the_ws_endpoint_when_no_path_is_given(typed: str, endpoint: str) -> None:
    assert chat_url(typed) == endpoint


def test_chat_url_refuses_what_normalize_url_refuses() -> None:
    with pytest.raises(InvalidURL):
        chat_url("ftp://127.0.0.1/")


@pytest.mark.parametrize(
    ("url", "endpoint"),
    [
        ("ws://127.0.0.1:8765/", "ws://127.0.0.1:8765/ws"),
        ("ws://127.0.0.1:8765/index.html?x=1", "ws://127.0.0.1:8765/ws"),
        ("wss://chat.example/healthz", "wss://chat.example/ws"),
        ("ws://[::1]:8765/ws", "ws://[::1]:8765/ws"),
    ],
)
def test_chat_endpoint_is_ws_on_the_same_server(url: str, endpoint: str) -> None:
    assert chat_endpoint(url) == endpoint


@pytest.mark.parametrize(
    ("server", "chat"),
    [
        ("wschat", True), ("WSChat", True), ("wschat/1.2", True), (" wschat/1.2 (linux) ", True),
        (None, False), ("", False), ("  ", False), ("Python/3.11 websockets/17.4", False),
        ("nginx", False), ("wschatty", False), ("cloudflare wschat", False),
    ],
)
def test_is_chat_server_reads_the_first_product_of_the_server_header(
    server: str | None, chat: bool
) -> None:
    assert is_chat_server(server) is chat
