"""HTTP on the chat server's port (wschat.server.http): the browser client's static files, their
content types and security headers, and nothing but the listed files.

The routing is pure and tested directly; a few tests also fetch over a real socket from a
server started here, so the headers that reach a browser are the ones checked.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from http import HTTPStatus
from importlib import resources

import pytest
from chatkit import TIMEOUT, http_get

from wschat.server.http import (
    CONTENT_SECURITY_POLICY,
    LOOPBACK_CONTENT_SECURITY_POLICY,
    STATIC_FILES,
    HttpReply,
    browser_url,
    is_loopback_host,
    origin_allowed,
    route,
    static_body,
)
from wschat.server.thread import ServerThread

STATIC_DIR = resources.files("wschat").joinpath("static")

EXPECTED_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


def get(path: str) -> HttpReply | None:
    return route(path, upgrade=False, origin=None, host="127.0.0.1:8765", secure=False, allowed=())


def shipped() -> set[str]:
    return {entry.name for entry in STATIC_DIR.iterdir() if entry.is_file()}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running


# --------------------------------------------------------------------------- routing


@pytest.mark.parametrize("path", sorted(STATIC_FILES))
def test_each_static_file_is_served_with_its_content_type(path: str) -> None:
    reply = get(path)
    assert reply is not None and reply.status == HTTPStatus.OK
    name, _ = STATIC_FILES[path]
    assert reply.body_bytes == STATIC_DIR.joinpath(name).read_bytes()
    suffix = name[name.rindex("."):]
    assert reply.content_type == EXPECTED_TYPES[suffix]
    headers = dict(reply.headers)
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_root_is_the_chat_page() -> None:
    reply = get("/")
    assert reply is not None and reply.body_bytes == static_body("index.html")


def test_a_query_string_does_not_change_the_file() -> None:
    reply = get("/app.js?v=2")
    assert reply is not None and reply.body_bytes == static_body("app.js")


def test_every_shipped_file_is_served_and_every_served_file_is_shipped() -> None:
    assert {name for name, _ in STATIC_FILES.values()} == shipped()


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/..%2fweb.py",
        "/%2e%2e/web.py",
        "/static/app.js",
        "/static/../web.py",
        "//etc/passwd",
        "/app.js/",
        "/app.js/..",
        "/APP.JS",
        "/web.py",
        "/__init__.py",
        "/index.html%00.js",
        "/./app.js",
        "/app.js%20",
    ],
)
def test_anything_but_a_listed_file_is_404(path: str) -> None:
    reply = get(path)
    assert reply is not None and reply.status == HTTPStatus.NOT_FOUND
    assert reply.body_bytes == b"not found\n"


def test_the_policy_allows_no_inline_script_and_no_other_host() -> None:
    directives = dict(
        (part.split()[0], part.split()[1:]) for part in CONTENT_SECURITY_POLICY.split("; ")
    )
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_only_a_loopback_server_may_be_framed_and_only_by_pages_of_this_machine() -> None:
    """JupyterLab on this machine shows the chat in notebook 03 (docs/decisions.md, "Framing")."""

    def policy(loopback_only: bool) -> dict[str, list[str]]:
        reply = route("/", upgrade=False, origin=None, host="127.0.0.1:8765", secure=False,
                      allowed=(), loopback_only=loopback_only)
        assert reply is not None and reply.status == HTTPStatus.OK
        text = dict(reply.headers)["Content-Security-Policy"]
        return {part.split()[0]: part.split()[1:] for part in text.split("; ")}

    assert policy(False)["frame-ancestors"] == ["'none'"]
    assert policy(True)["frame-ancestors"] == [
        "'self'", "http://localhost:*", "http://127.0.0.1:*", "https://localhost:*",
        "https://127.0.0.1:*",
    ]
    # Everything else is the same policy.
    assert {k: v for k, v in policy(True).items() if k != "frame-ancestors"} == {
        k: v for k, v in policy(False).items() if k != "frame-ancestors"}


@pytest.mark.parametrize(
    ("host", "secure", "url"),
    [
        ("127.0.0.1", False, "http://127.0.0.1:8765/"),
        ("0.0.0.0", False, "http://127.0.0.1:8765/"),
        ("", False, "http://127.0.0.1:8765/"),
        ("::", False, "http://[::1]:8765/"),
        ("::1", True, "https://[::1]:8765/"),
        ("chat.example", True, "https://chat.example:8765/"),
    ],
)
def test_browser_url_is_an_address_a_person_can_open(host: str, secure: bool, url: str) -> None:
    assert browser_url(host, 8765, secure=secure) == url


# --------------------------------------------------------------------------- the files


def test_the_page_has_the_test_hooks() -> None:
    html = static_body("index.html").decode()
    for hook in ("login-user", "login-password", "login-submit", "input", "send",
                 "messages", "online", "status"):
        assert f'data-testid="{hook}"' in html, hook
    # Each message is drawn by app.js with its id.
    app = static_body("app.js").decode()
    assert 'item.dataset.testid = "message"' in app
    assert "item.dataset.id = m.id" in app


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    html = static_body("index.html").decode()
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag, tag
    assert re.search(r"<script\b[^>]*>\s*[^<\s]", html) is None, "inline script"
    assert re.search(r"\son[a-z]+\s*=", html) is None, "inline event handler"
    assert re.search(r"\sstyle\s*=", html) is None, "inline style (blocked by the policy)"
    assert "<style" not in html


@pytest.mark.parametrize("name", sorted(name for name in shipped() if name.endswith(".js")))
def test_scripts_never_turn_text_into_markup(name: str) -> None:
    source = static_body(name).decode()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "setAttribute(\"on"):
        assert sink not in source, sink


@pytest.mark.parametrize("name", sorted(shipped()))
def test_nothing_is_loaded_from_another_host(name: str) -> None:
    text = static_body(name).decode()
    urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[a-z]{2,}[^\s\"')]*", text)
    # The SVG namespace is a name, not something the browser fetches.
    assert [u for u in urls if u != "http://www.w3.org/2000/svg"] == []
    assert "@import" not in text


def test_the_interface_speaks_portuguese() -> None:
    html = static_body("index.html").decode()
    assert '<html lang="pt-BR">' in html
    for text in ("Entrar no chat", "Nome", "Senha", "carregar anteriores", "enviar"):
        assert text in html, text


# --------------------------------------------------------------------------- over HTTP


def test_files_reach_the_browser_with_their_headers(server: ServerThread) -> None:
    for path, (name, content_type) in STATIC_FILES.items():
        status, headers, body = http_get(server.http_url.rstrip("/") + path)
        assert status == 200, path
        assert headers["Content-Type"] == content_type
        # The server binds 127.0.0.1: pages of this machine may frame it.
        assert headers["Content-Security-Policy"] == LOOPBACK_CONTENT_SECURITY_POLICY
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert int(headers["Content-Length"]) == len(body)
        assert body == STATIC_DIR.joinpath(name).read_bytes()


@pytest.mark.parametrize("path", ["/../pyproject.toml", "/../../etc/passwd", "/%2e%2e/web.py"])
def test_a_raw_traversal_request_is_404(server: ServerThread, path: str) -> None:
    # Sent byte for byte: an HTTP library might clean the path up before sending it.
    with socket.create_connection((server.host, server.port), timeout=TIMEOUT) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 404"), answer[:100]


# --------------------------------------------------------------------------- the Origin check


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True), ("LOCALHOST:8765", True), ("app.localhost:1", True),
        ("127.0.0.1", True), ("127.9.9.9:80", True), ("[::1]:8765", True), ("::1", True),
        ("evil.example", False), ("evil.example:8765", False), ("10.0.0.5:8765", False),
        ("[2001:db8::1]:8765", False), ("localhost.evil.example", False), ("", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


def test_no_origin_is_not_a_browser_and_is_accepted() -> None:
    assert origin_allowed(None, None, False, (), loopback_only=True)


def test_own_origin_is_scheme_and_host_without_case() -> None:
    assert origin_allowed("http://127.0.0.1:8765", "127.0.0.1:8765", False, ())
    assert origin_allowed("HTTP://LocalHost:8765", "localhost:8765", False, ())
    assert origin_allowed("https://chat.example", "chat.example", True, ())
    assert not origin_allowed("http://chat.example", "chat.example", True, ())  # not https
    assert not origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8765", False, ())
    assert not origin_allowed("http://localhost:8765", "127.0.0.1:8765", False, ())
    assert not origin_allowed("http://127.0.0.1:8765", None, False, ())


def test_allowed_origins_compare_without_case_or_trailing_slash() -> None:
    allowed = ("https://ok.example/",)
    for origin in ("https://ok.example", "HTTPS://OK.EXAMPLE", "https://ok.example/"):
        assert origin_allowed(origin, "127.0.0.1:8765", False, allowed, loopback_only=True)
    assert not origin_allowed("https://ok.example:444", "127.0.0.1:8765", False, allowed)


def test_dns_rebinding_is_refused_on_a_loopback_server() -> None:
    # A page at evil.example whose name now resolves to 127.0.0.1: Origin and Host agree, but a
    # server bound to loopback is never really reached as evil.example.
    origin, host = "http://evil.example:8765", "evil.example:8765"
    assert not origin_allowed(origin, host, False, (), loopback_only=True)
    assert origin_allowed(origin, host, False, (), loopback_only=False)  # public bind: its name
    assert origin_allowed(origin, host, False, ("http://evil.example:8765",), loopback_only=True)


def test_dns_rebinding_gets_403_from_a_real_server() -> None:
    with ServerThread() as server:
        port = server.port
        for host, status in ((f"evil.example:{port}", 403), (f"127.0.0.1:{port}", 101)):
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                sock.sendall(
                    f"GET /ws HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                head = sock.recv(4096).decode("latin-1")
            assert head.startswith(f"HTTP/1.1 {status} "), head
