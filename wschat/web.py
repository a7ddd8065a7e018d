"""Plain HTTP on the chat server's port: ``/healthz``, ``/`` and the Origin check for ``/ws``.

Pure decisions live here (which response for which request); server.py wires them into
websockets' ``process_request`` hook.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from http import HTTPStatus

__all__ = ["WS_PATH", "HttpReply", "origin_allowed", "route"]

#: The WebSocket endpoint.
WS_PATH = "/ws"

_INDEX = """<!doctype html>
<html lang="pt-BR">
<head><meta charset="utf-8"><title>wschat</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: sans-serif; max-width: 40rem; margin: 2rem auto; line-height: 1.5">
<h1>wschat</h1>
<p>Este é um servidor de chat em tempo real. O endpoint WebSocket é <code>/ws</code>.</p>
<p>Para conversar pelo terminal:</p>
<pre>python -m wschat chat ws://HOST:PORT/ws --user ana</pre>
<p>Ou com qualquer cliente WebSocket: a primeira linha é <code>/login NOME SENHA</code>;
depois, cada linha é uma mensagem pública, <code>/msg NOME TEXTO</code> é privada,
<code>/who</code> lista quem está online e <code>/help</code> mostra os comandos.</p>
</body></html>
"""


@dataclass(frozen=True, slots=True)
class HttpReply:
    """A plain HTTP response to send instead of the WebSocket handshake."""

    status: HTTPStatus
    body: str
    content_type: str = "text/plain; charset=utf-8"


def origin_allowed(
    origin: str | None, host: str | None, secure: bool, allowed: Collection[str]
) -> bool:
    """Browser connections must come from the server's own origin or an allowed one.

    A client that sends no Origin (not a browser) is accepted. The server's own origin
    is the scheme (http, or https under TLS) plus the Host header the client used.
    """
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in allowed:
        return True
    if host is None:
        return False
    scheme = "https" if secure else "http"
    return origin.lower() == f"{scheme}://{host}".lower()


def route(
    path: str, *, upgrade: bool, origin: str | None, host: str | None, secure: bool,
    allowed: Collection[str],
) -> HttpReply | None:
    """Decide the answer to an HTTP request; None means: go on with the WebSocket handshake."""
    bare = path.split("?", 1)[0]
    if bare == WS_PATH:
        if upgrade and not origin_allowed(origin, host, secure, allowed):
            return HttpReply(HTTPStatus.FORBIDDEN, f"origin not allowed: {origin}\n")
        if upgrade:
            return None
        return HttpReply(
            HTTPStatus.UPGRADE_REQUIRED, "this is the WebSocket endpoint: connect with ws://\n"
        )
    if bare == "/healthz":
        return HttpReply(HTTPStatus.OK, "ok\n")
    if bare in ("/", "/index.html"):
        return HttpReply(HTTPStatus.OK, _INDEX, "text/html; charset=utf-8")
    return HttpReply(HTTPStatus.NOT_FOUND, "not found\n")
