"""Plain HTTP on the chat server's port: the browser client, ``/healthz``, ``/metrics`` and
the Origin check for ``/ws``.

Pure decisions live here (which response for which request); :mod:`wschat.server.app` wires
them into websockets' ``process_request`` hook. The browser client is a handful of static files shipped
inside the package (``wschat/static``). Only the paths listed in :data:`STATIC_FILES` are
served, looked up as whole strings, so no request can name any other file (``/../x``,
``/static/..%2f``, ``//etc/passwd`` are simply unknown paths: 404).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache
from http import HTTPStatus
from importlib import resources

from wschat.core.defaults import WS_PATH
from wschat.core.hosts import is_loopback_host  # re-exported: the server's check of Host

__all__ = [
    "CONTENT_SECURITY_POLICY",
    "LOOPBACK_CONTENT_SECURITY_POLICY",
    "STATIC_FILES",
    "HttpReply",
    "browser_url",
    "is_loopback_host",
    "metrics_allowed",
    "origin_allowed",
    "route",
    "static_body",
]

#: URL path -> (file in wschat/static, Content-Type). Nothing else is ever read from disk.
STATIC_FILES: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/chat.js": ("chat.js", "text/javascript; charset=utf-8"),
    "/chat_connection.js": ("chat_connection.js", "text/javascript; charset=utf-8"),
    "/chat_wire.js": ("chat_wire.js", "text/javascript; charset=utf-8"),
    "/client_machine.js": ("client_machine.js", "text/javascript; charset=utf-8"),
    "/inspector.js": ("inspector.js", "text/javascript; charset=utf-8"),
    "/panel.js": ("panel.js", "text/javascript; charset=utf-8"),
    "/screen_rules.js": ("screen_rules.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}

_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors "
)

#: Scripts, styles and images only from this server, no inline script or style, WebSocket
#: only back to this server ('self' covers ws:// and wss:// on the same host and port), and
#: the page may not be framed. User text never becomes markup anyway (app.js uses textContent);
#: this is the second wall.
CONTENT_SECURITY_POLICY = _POLICY + "'none'"

#: The same, on a server bound to a loopback address: the page may also be framed by a page
#: of this machine (http or https, localhost or 127.0.0.1, any port), such as JupyterLab
#: showing the chat inside notebook 03. Only this machine can reach such a server, and a
#: program on it could talk to the server directly anyway; no other site may frame it.
#: (CSP has no syntax for an IPv6 literal such as [::1].)
LOOPBACK_CONTENT_SECURITY_POLICY = _POLICY + (
    "'self' http://localhost:* http://127.0.0.1:* https://localhost:* https://127.0.0.1:*"
)


def _static_headers(policy: str) -> tuple[tuple[str, str], ...]:
    return (
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-cache"),
    )


#: Headers on every static file: of any server, and of one bound to a loopback address.
_STATIC_HEADERS = _static_headers(CONTENT_SECURITY_POLICY)
_LOOPBACK_STATIC_HEADERS = _static_headers(LOOPBACK_CONTENT_SECURITY_POLICY)


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A plain HTTP response to send instead of the WebSocket handshake."""

    status: HTTPStatus
    body: str | bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def body_bytes(self) -> bytes:
        """The body as bytes (text is UTF-8)."""
        return self.body if isinstance(self.body, bytes) else self.body.encode()


@cache
def static_body(name: str) -> bytes:
    """The bytes of one file of ``wschat/static`` (read once, then kept in memory)."""
    return resources.files("wschat").joinpath("static", name).read_bytes()


def browser_url(host: str, port: int, *, secure: bool = False) -> str:
    """The address a person opens in a browser to chat with a server bound to ``host``.

    A wildcard bind (``0.0.0.0``, ``::``, empty) is reached on this machine through loopback;
    an IPv6 address goes in brackets.
    """
    scheme = "https" if secure else "http"
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


def origin_allowed(
    origin: str | None,
    host: str | None,
    secure: bool,
    allowed: Collection[str],
    *,
    loopback_only: bool = False,
) -> bool:
    """Browser connections must come from the server's own origin or an allowed one.

    A client that sends no Origin (not a browser) is accepted. ``allowed`` origins are
    compared without case and without a trailing slash, as browsers send them. The server's
    own origin is the scheme (http, or https under TLS) plus the Host header the client used;
    with ``loopback_only`` (a server bound to a loopback address) that Host must also name
    this machine, so that a page whose DNS name was re-pointed at 127.0.0.1 (DNS rebinding)
    does not count as the server's own.
    """
    if origin is None:
        return True
    origin = origin.rstrip("/").lower()
    if origin in {entry.rstrip("/").lower() for entry in allowed}:
        return True
    if host is None or (loopback_only and not is_loopback_host(host)):
        return False
    scheme = "https" if secure else "http"
    return origin == f"{scheme}://{host}".lower()


def metrics_allowed(
    peer: str | None, authorization: str | None, token: str | None, *, forwarded: bool = False
) -> bool:
    """May this request read ``/metrics``? From the loopback address, or with the token.

    ``peer`` is the client's IP address; ``authorization`` its Authorization header, which
    opens the metrics from anywhere when it is ``Bearer <token>`` (compared in constant
    time). ``forwarded`` says the request carries Forwarded or X-Forwarded-For: it came
    through a proxy, and a proxy on this machine makes every client look like loopback, so
    then only the token counts.
    """
    if token and authorization is not None:
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return True
    if forwarded or peer is None:
        return False
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


def route(
    path: str, *, upgrade: bool, origin: str | None, host: str | None, secure: bool,
    allowed: Collection[str], loopback_only: bool = False, draining: bool = False,
    failed: bool = False, metrics: Callable[[], bytes] | None = None,
    metrics_type: str = "text/plain", metrics_ok: bool = False,
) -> HttpReply | None:
    """Decide the answer to an HTTP request; None means: go on with the WebSocket handshake.

    While ``draining`` (a deploy: PROTOCOL.md, "Drain") ``/healthz`` answers 503 ``draining``,
    so that a load balancer sends nobody new here, and a new WebSocket is refused with 503.
    Once ``failed`` (a task of the server failed: it is stopping), both answer 503 ``failed``.
    ``/metrics`` answers ``metrics()`` (of type ``metrics_type``) when ``metrics_ok`` (see
    :func:`metrics_allowed`), else 403; 404 when the server has no ``metrics``. The static
    files of a ``loopback_only`` server may be framed by pages of this machine
    (:data:`LOOPBACK_CONTENT_SECURITY_POLICY`), those of any other by no page.
    """
    bare = path.split("?", 1)[0]
    unavailable = "failed\n" if failed else "draining\n" if draining else None
    if bare == WS_PATH:
        if upgrade and unavailable:
            return HttpReply(HTTPStatus.SERVICE_UNAVAILABLE, unavailable)
        if upgrade and not origin_allowed(origin, host, secure, allowed, loopback_only=loopback_only):
            return HttpReply(HTTPStatus.FORBIDDEN, f"origin not allowed: {origin}\n")
        if upgrade:
            return None
        return HttpReply(
            HTTPStatus.UPGRADE_REQUIRED, "this is the WebSocket endpoint: connect with ws://\n"
        )
    if bare == "/healthz":
        if unavailable:
            return HttpReply(HTTPStatus.SERVICE_UNAVAILABLE, unavailable)
        return HttpReply(HTTPStatus.OK, "ok\n")
    if bare == "/metrics" and metrics is not None:
        if not metrics_ok:
            return HttpReply(HTTPStatus.FORBIDDEN,
                             "metrics: from the loopback address or with the bearer token\n")
        return HttpReply(HTTPStatus.OK, metrics(), metrics_type, (("Cache-Control", "no-store"),))
    static = STATIC_FILES.get(bare)
    if static is not None:
        name, content_type = static
        headers = _LOOPBACK_STATIC_HEADERS if loopback_only else _STATIC_HEADERS
        return HttpReply(HTTPStatus.OK, static_body(name), content_type, headers)
    return HttpReply(HTTPStatus.NOT_FOUND, "not found\n")
