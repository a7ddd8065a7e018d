"""WebSocket URLs as people type them, turned into the one form a client can use.

Pure functions, no I/O. The rules (PROTOCOL.md, ``probe``; decisions.md, "Command line"):

- a bare host (no scheme) on the public internet, such as ``websocket-fh6l.onrender.com``,
  means ``wss://HOST/``; so do ``host:port`` and ``host/path`` (TLS is the safe default
  there). A bare host that is this machine or the local network (``localhost``,
  ``127.0.0.1``, ``192.168.0.10``, ``raspberrypi.local``...: :func:`~wschat.core.hosts.is_local_host`)
  means ``ws://``: a server there has no public certificate, and ``serve`` listens without TLS
  unless given one;
- ``http://`` means ``ws://`` and ``https://`` means ``wss://`` (a WebSocket starts as an
  HTTP request, so people often paste the HTTP form); ``ws://`` and ``wss://`` are kept;
- the scheme is case-insensitive, the host is lowercased, an empty path becomes ``/``,
  surrounding white space is stripped.

Anything else raises :class:`InvalidURL` (a ``ValueError``) whose message is one line
saying what is wrong: another scheme, nothing at all, no host, a bad port, spaces or control
characters inside, credentials (``user:pass@``) or a ``#fragment`` (RFC 6455 forbids it).

The chat rule, for ``chat`` and ``probe`` alike: a wschat server serves its browser page at
``/`` and its WebSocket at ``/ws`` (:data:`CHAT_PATH`), and says who it is in every HTTP
answer (``Server: wschat``, :func:`is_chat_server`). So an address without a path (the
browser's ``http://127.0.0.1:8765/``) means, on a wschat server, its endpoint ``/ws``
(:func:`chat_url`). ``chat`` applies it at once, since it only talks to wschat servers;
``probe``, which reads any server, applies it when the server's answer says it is wschat.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

from wschat.core.defaults import WS_PATH

from .errors import WschatError
from .hosts import is_local_host

__all__ = [
    "CHAT_PATH",
    "SERVER_NAME",
    "Endpoint",
    "InvalidURL",
    "chat_endpoint",
    "chat_url",
    "is_chat_server",
    "normalize_url",
    "resolve_redirect",
    "split_url",
    "swap_tls",
]

#: The chat server's WebSocket endpoint (PROTOCOL.md: ``GET /ws``), where its router serves it.
CHAT_PATH = WS_PATH

#: The product a wschat server names in the ``Server`` header of every HTTP answer, the
#: handshake's ``101`` included (websockets' ``server_header``).
SERVER_NAME = "wschat"

#: The schemes a user may type, and the WebSocket scheme each one means.
_SCHEMES = {"ws": "ws", "wss": "wss", "http": "ws", "https": "wss"}

#: The ASCII characters RFC 3986 allows in a host name (``reg-name``); other ASCII
#: characters such as ``<`` or ``"`` cannot be part of a host. Non-ASCII letters are left
#: to the resolver (internationalised names).
_REG_NAME_ASCII = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=%]*")

#: ``ws:host`` or ``https:example.com``: a known scheme whose ``//`` is missing.
_SCHEME_WITHOUT_SLASHES = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*):(?!//)(?!\d+(?:[/?#]|$))")

_DEFAULT_PORTS = {"ws": 80, "wss": 443}


class InvalidURL(WschatError, ValueError):
    """The text is not a URL the probe can connect to; ``str()`` says why, in one line."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A normalised WebSocket URL taken apart: what a client needs to open the connection.

    ``host`` has no brackets (an IPv6 address is ``::1``), ready for name lookup and for TLS
    ``server_hostname``; ``resource`` is the path and query sent in the ``GET`` line.
    """

    url: str
    secure: bool
    host: str
    port: int
    resource: str

    @property
    def authority(self) -> str:
        """``host:port`` as written in messages (IPv6 addresses in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def normalize_url(text: str) -> str:
    """Return the ``ws://`` or ``wss://`` URL that ``text`` means; raise InvalidURL otherwise.

    >>> normalize_url("websocket-fh6l.onrender.com")
    'wss://websocket-fh6l.onrender.com/'
    >>> normalize_url("HTTP://127.0.0.1:8766")
    'ws://127.0.0.1:8766/'
    """
    scheme, parts = _split(text)
    host = _host(parts)
    port = _port(parts)
    shown_host = f"[{host}]" if ":" in host else host
    shown_port = "" if port is None else f":{port}"
    query = f"?{parts.query}" if parts.query else ""
    return f"{scheme}://{shown_host}{shown_port}{parts.path or '/'}{query}"


def chat_url(text: str) -> str:
    """The chat endpoint that ``text`` means: :func:`normalize_url`, with ``/ws`` for no path.

    The chat server serves its browser page at ``/`` and WebSockets at ``/ws`` only, so the
    address a person copies from the browser (``http://127.0.0.1:8765/``) means its endpoint.

    >>> chat_url("http://127.0.0.1:8765/")
    'ws://127.0.0.1:8765/ws'
    >>> chat_url("127.0.0.1:8765")
    'ws://127.0.0.1:8765/ws'
    >>> chat_url("ws://127.0.0.1:8765/ws")
    'ws://127.0.0.1:8765/ws'
    """
    url = normalize_url(text)
    parts = urlsplit(url)
    if parts.path != "/" or parts.query:
        return url
    return chat_endpoint(url)


def chat_endpoint(url: str) -> str:
    """The WebSocket endpoint of the wschat server that ``url`` (any of its addresses, a
    normalised ``ws://`` or ``wss://`` URL) points at: the same scheme, host and port, the
    path ``/ws``.

    >>> chat_endpoint("ws://127.0.0.1:8765/index.html?x=1")
    'ws://127.0.0.1:8765/ws'
    """
    return urlsplit(url)._replace(path=CHAT_PATH, query="").geturl()


def is_chat_server(server: str | None) -> bool:
    """True when an HTTP answer's ``Server`` header (None when absent) names a wschat server:
    its first product token is :data:`SERVER_NAME` (``wschat``, or ``wschat/1.2 ...``)."""
    products = (server or "").split()
    return bool(products) and products[0].partition("/")[0].lower() == SERVER_NAME


def split_url(text: str) -> Endpoint:
    """Normalise ``text`` (see :func:`normalize_url`) and take it apart."""
    url = normalize_url(text)
    parts = urlsplit(url)
    scheme = parts.scheme
    host = parts.hostname or ""  # normalize_url guarantees a host
    port = parts.port if parts.port is not None else _DEFAULT_PORTS[scheme]
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    return Endpoint(url=url, secure=scheme == "wss", host=host, port=port, resource=resource)


def swap_tls(url: str) -> str:
    """The same server and path with the other scheme, ``ws://`` for ``wss://`` and back,
    on the same port (written out unless it is the new scheme's default): the fix that a
    TLS handshake refused by a plain server suggests, or a TLS server closing on plain HTTP.

    >>> swap_tls("wss://127.0.0.1:8765/ws")
    'ws://127.0.0.1:8765/ws'
    >>> swap_tls("ws://chat.example/ws")
    'wss://chat.example:80/ws'
    """
    endpoint = split_url(url)
    scheme = "ws" if endpoint.secure else "wss"
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    port = "" if endpoint.port == _DEFAULT_PORTS[scheme] else f":{endpoint.port}"
    return f"{scheme}://{host}{port}{endpoint.resource}"


def resolve_redirect(base: str, location: str) -> str:
    """The URL an HTTP redirect from ``base`` to ``location`` leads to, normalised.

    ``location`` may be absolute (``https://…`` becomes ``wss://…``) or relative to
    ``base`` (``/other``), as in any HTTP redirect.
    """
    location = location.strip()
    if not location:
        raise InvalidURL("the redirect has an empty Location")
    return normalize_url(urljoin(base, location))


def _split(text: str) -> tuple[str, SplitResult]:
    """Check the characters and the scheme; return the WebSocket scheme and the parts."""
    if not isinstance(text, str):
        raise InvalidURL(f"a URL must be text, not {type(text).__name__}")
    candidate = text.strip()
    if not candidate:
        raise InvalidURL("the URL is empty")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in candidate):
        raise InvalidURL(f"spaces or control characters inside the URL: {candidate!r}")
    typed, separator, rest = candidate.partition("://")
    if separator:
        scheme = _SCHEMES.get(typed.lower())
        if scheme is None:
            raise InvalidURL(
                f"unsupported scheme {typed!r} in {candidate!r}: use ws://, wss://, http:// or https://"
            )
    else:
        missing = _SCHEME_WITHOUT_SLASHES.match(candidate)
        if missing and missing["scheme"].lower() in _SCHEMES:
            raise InvalidURL(f"missing '//' after {missing['scheme']}: in {candidate!r}")
        scheme, rest = "", candidate  # a bare host: chosen below, from where the host is
    if "#" in rest:
        raise InvalidURL(f"a WebSocket URL cannot have a #fragment: {candidate!r}")
    try:
        parts = urlsplit(f"{scheme or 'wss'}://{rest}")
    except ValueError as error:  # e.g. unbalanced brackets around an IPv6 address
        raise InvalidURL(f"{error}: {candidate!r}") from None
    if not scheme:  # TLS on the internet, as the test's server needs; not where no CA reaches
        scheme = "ws" if is_local_host(parts.hostname or "") else "wss"
        parts = parts._replace(scheme=scheme)
    return scheme, parts


def _host(parts: SplitResult) -> str:
    """The host of ``parts``, lowercased and without brackets; checked."""
    netloc = parts.netloc
    if "@" in netloc:
        raise InvalidURL(f"user names and passwords in the URL are not supported: {netloc!r}")
    host = parts.hostname
    if not host:
        raise InvalidURL(f"no host in {parts.geturl()!r}")
    if netloc.startswith("["):
        after = netloc.partition("]")[2]
        if after and not after.startswith(":"):
            raise InvalidURL(f"unexpected text after the IPv6 address in {netloc!r}")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidURL(f"not an IPv6 address in brackets: {netloc!r}") from None
    elif netloc.count(":") > 1:
        raise InvalidURL(f"more than one ':' in {netloc!r} (an IPv6 address goes in brackets)")
    elif not _REG_NAME_ASCII.fullmatch("".join(ch for ch in host if ch.isascii())):
        raise InvalidURL(f"invalid characters in host {host!r}")
    return host


def _port(parts: SplitResult) -> int | None:
    """The explicit port of ``parts``, or None when the URL gives none; checked."""
    if parts.netloc.endswith(":"):
        raise InvalidURL(f"empty port in {parts.netloc!r}")
    host_end = parts.netloc.rfind("]")
    _, colon, typed = parts.netloc[host_end + 1 :].rpartition(":")
    if not colon:
        return None
    # int() alone would also take "+80" or non-ASCII digits
    if not (typed.isascii() and typed.isdigit() and 0 < int(typed) <= 65535):
        raise InvalidURL(f"invalid port {typed!r} in {parts.netloc!r}: use 1-65535")
    return int(typed)
