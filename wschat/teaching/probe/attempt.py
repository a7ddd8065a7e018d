"""One connection attempt, step by step, each step's failure named, all within one deadline.

1. name lookup (in a daemon thread, because ``getaddrinfo`` ignores timeouts);
2. TCP connect to the resolved address;
3. TLS handshake for ``wss://`` (certificate checked against the system's trusted CAs);
4. the WebSocket handshake, by websocket-client over that socket.

:meth:`Attempt.connect` runs them, follows HTTP redirects (up to :data:`MAX_REDIRECTS`, each
from step 1 again) and retries once a failure that a waking host causes, and returns the open
WebSocket (:class:`Opened`) or raises one :class:`~wschat.teaching.probe.failures.ProbeError`.

A wschat chat server's page (an answer other than 101 that says ``Server: wschat``, to an
address without a path) is followed to its endpoint ``/ws`` like a redirect: the chat rule of
:mod:`wschat.core.urls`, the one ``python -m wschat chat`` applies. A failure that a plain
server causes on ``wss://``, or that a TLS server may cause on ``ws://``, names the other
scheme's URL to try.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from websocket import (
    WebSocket,
    WebSocketBadStatusException,
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketTimeoutException,
)

from wschat.client.tls_failure import looks_like_no_tls, tls_words
from wschat.core.hosts import is_loopback_host
from wschat.core.urls import (
    Endpoint,
    InvalidURL,
    chat_endpoint,
    chat_url,
    is_chat_server,
    resolve_redirect,
    split_url,
    swap_tls,
)
from wschat.teaching.offline import is_offline
from wschat.teaching.probe.failures import (
    ConnectionFailed,
    ConnectionRefused,
    HandshakeRejected,
    NameNotFound,
    OfflineBlocked,
    ProbeError,
    ProbeTimeout,
    TLSFailure,
)

__all__ = ["MAX_REDIRECTS", "RETRY_PAUSE", "Attempt", "DeadlineSocket", "Opened", "Resolver"]

#: HTTP redirects followed before giving up (each one is a new connection).
MAX_REDIRECTS = 3

#: Pause before the one retry: a host that answered 5xx while waking needs a moment. No
#: retry when the deadline leaves less than twice this.
RETRY_PAUSE = 1.0

#: A socket timeout this far before the deadline cannot be the deadline's own.
_CLOCK_SLACK = 0.1

#: The signature of :func:`socket.getaddrinfo` as the probe calls it:
#: ``resolve(host, port, family, type)``; tests inject their own.
Resolver = Callable[[str, int, int, int], Sequence[tuple[Any, ...]]]


class DeadlineSocket:
    """A socket whose every read and write gives up at one shared deadline.

    websocket-client applies the socket's timeout to each ``recv``; the handshake is read one
    byte per call, so a server trickling bytes could stretch a per-call timeout without end.
    Arming the time left before each call keeps the whole attempt within the probe's timeout.
    Everything else is the wrapped socket's.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self.deadline = deadline

    def recv(self, bufsize: int) -> bytes:
        self._arm()
        return self._sock.recv(bufsize)

    def send(self, data: bytes) -> int:
        self._arm()
        return self._sock.send(data)

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the probe's timeout has passed")
        self._sock.settimeout(left)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


@dataclass(frozen=True, slots=True)
class Opened:
    """An open WebSocket: where (after redirects), the connection, its socket, and how long
    TCP, TLS and the handshake of this final connection took."""

    endpoint: Endpoint
    ws: WebSocket
    sock: DeadlineSocket
    connect_time: float


@dataclass(slots=True)
class Attempt:
    """One probe's settings and its deadline, shared by every step and every redirect."""

    timeout: float
    deadline: float
    subprotocols: list[str]
    ssl_context: ssl.SSLContext | None
    resolve: Resolver

    def connect(self, endpoint: Endpoint) -> Opened:
        """Open the WebSocket, following redirects and retrying once a failure that a waking
        host causes; raise a ProbeError on failure."""
        redirects = 0
        first_failure: ProbeError | None = None
        while True:
            try:
                addresses = self._lookup(endpoint)
                started = time.monotonic()
                sock = self._open_tcp(endpoint, addresses)
                if endpoint.secure:
                    sock = self._start_tls(endpoint, sock)
                outcome = self._handshake(endpoint, sock)
            except ProbeError as error:
                if first_failure is not None:
                    error.after_retry(first_failure)
                    raise
                if not (error.retryable and self._pause_for_retry()):
                    raise
                first_failure = error
                continue
            if isinstance(outcome, tuple):
                ws, wrapped = outcome
                return Opened(endpoint, ws, wrapped, time.monotonic() - started)
            if redirects == MAX_REDIRECTS:
                raise HandshakeRejected(
                    f"HTTP {status_text(outcome.status)}: more than {MAX_REDIRECTS} redirects",
                    url=endpoint.url, status=outcome.status, headers=outcome.headers,
                )
            endpoint = self._follow(endpoint, outcome)
            redirects += 1

    def remaining(self, stage: str, url: str) -> float:
        """Seconds left, or ProbeTimeout naming ``stage`` when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProbeTimeout(stage, url=url, timeout=self.timeout)
        return left

    def _pause_for_retry(self) -> bool:
        """Wait :data:`RETRY_PAUSE` when the deadline leaves time for a retry after it."""
        if self.deadline - time.monotonic() < 2 * RETRY_PAUSE:
            return False
        time.sleep(RETRY_PAUSE)
        return True

    def _lookup(self, endpoint: Endpoint) -> list[tuple[Any, ...]]:
        host, url = endpoint.host, endpoint.url
        stage = f"name lookup of {host}"
        if is_offline() and self.resolve is socket.getaddrinfo and not is_loopback_host(host):
            raise OfflineBlocked(
                f"WSCHAT_OFFLINE=1: not contacting {host}, which is outside this machine", url=url
            )
        left = self.remaining(stage, url)
        done = threading.Event()
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["addresses"] = list(self.resolve(host, endpoint.port, 0, socket.SOCK_STREAM))
            except BaseException as error:
                box["error"] = error
            finally:
                done.set()

        # A daemon thread: a lookup that hangs past the timeout is abandoned, not waited for.
        threading.Thread(target=work, name="wschat-probe-lookup", daemon=True).start()
        if not done.wait(left):
            raise ProbeTimeout(stage, url=url, timeout=self.timeout)
        error = box.get("error")
        if isinstance(error, socket.gaierror):
            raise NameNotFound(
                f"could not resolve {host}: {error.strerror or error}", url=url, host=host
            )
        if isinstance(error, UnicodeError):  # an internationalised name IDNA cannot encode
            raise NameNotFound(f"could not resolve {host}: {error}", url=url, host=host)
        if isinstance(error, OSError):
            raise ConnectionFailed(f"name lookup of {host} failed: {describe(error)}", url=url)
        if error is not None:
            raise error
        addresses: list[tuple[Any, ...]] = box["addresses"]
        if not addresses:
            raise NameNotFound(f"could not resolve {host}: no addresses", url=url, host=host)
        if is_offline():
            addresses = [info for info in addresses if is_loopback_host(info[4][0])]
            if not addresses:
                raise OfflineBlocked(
                    f"WSCHAT_OFFLINE=1: {host} resolves outside this machine", url=url
                )
        return addresses

    def _open_tcp(self, endpoint: Endpoint, addresses: list[tuple[Any, ...]]) -> socket.socket:
        """Connect to the first address that accepts, in the resolver's order."""
        stage = f"TCP connect to {endpoint.authority}"
        last: OSError | None = None
        for family, kind, proto, _canonical, address in addresses:
            left = self.remaining(stage, endpoint.url)
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(left)
                sock.connect(address)
                return sock
            except TimeoutError:
                sock.close()
                raise ProbeTimeout(stage, url=endpoint.url, timeout=self.timeout) from None
            except OSError as error:
                sock.close()
                last = error
            except BaseException:
                sock.close()
                raise
        if isinstance(last, ConnectionRefusedError):
            raise ConnectionRefused(f"connection refused by {endpoint.authority}", url=endpoint.url)
        raise ConnectionFailed(
            f"could not connect to {endpoint.authority}: {describe(last)}", url=endpoint.url
        )

    def _start_tls(self, endpoint: Endpoint, sock: socket.socket) -> ssl.SSLSocket:
        stage = f"TLS handshake with {endpoint.authority}"
        context = self.ssl_context or ssl.create_default_context()
        try:
            sock.settimeout(self.remaining(stage, endpoint.url))
            return context.wrap_socket(sock, server_hostname=endpoint.host)
        except TimeoutError:
            raise ProbeTimeout(stage, url=endpoint.url, timeout=self.timeout) from None
        except ssl.SSLCertVerificationError as error:
            raise TLSFailure(
                f"TLS certificate of {endpoint.authority} not accepted: {error.verify_message}",
                url=endpoint.url,
            ) from None
        except OSError as error:  # ssl.SSLError included; a reset during TLS is a TLS failure
            hint = ""
            if looks_like_no_tls(error):
                hint = f"; the server does not seem to speak TLS on this port: try {swap_tls(endpoint.url)}"
            raise TLSFailure(
                f"TLS handshake with {endpoint.authority} failed: {describe(error)}{hint}",
                url=endpoint.url,
            ) from None
        finally:
            sock.close()  # wrap_socket detached it on success; on failure it must go

    def _handshake(
        self, endpoint: Endpoint, sock: socket.socket
    ) -> tuple[WebSocket, DeadlineSocket] | _Redirect:
        """Run the WebSocket handshake on ``sock``: the open WebSocket, or where to go next."""
        url = endpoint.url
        stage = "WebSocket handshake"
        wrapped = DeadlineSocket(sock, self.deadline)
        ws = WebSocket()
        try:
            # Redirects are ours to follow (redirect_limit=0): each one needs a new lookup and
            # TCP/TLS connection within the same deadline. No Origin: the probe is no browser.
            ws.connect(  # type: ignore[no-untyped-call]
                url,
                socket=wrapped,
                redirect_limit=0,
                suppress_origin=True,
                subprotocols=self.subprotocols or None,
            )
        except WebSocketBadStatusException as error:
            return self._not_101(endpoint, error.status_code, dict(error.resp_headers or {}))
        except WebSocketTimeoutException:
            if self.deadline - time.monotonic() > _CLOCK_SLACK:  # the network's, not ours
                failure = ConnectionFailed(
                    f"the connection to {endpoint.authority} timed out during the WebSocket "
                    "handshake",
                    url=url,
                )
                failure.retryable = True
                raise failure from None
            raise ProbeTimeout(stage, url=url, timeout=self.timeout) from None
        except WebSocketConnectionClosedException:
            raise ConnectionFailed(
                f"{endpoint.authority} closed the connection during the WebSocket handshake"
                + _tls_hint(endpoint),
                url=url,
            ) from None
        except WebSocketException as error:
            response = ws.handshake_response
            if response is not None and 300 <= response.status < 400:
                headers = dict(response.headers)
                return _Redirect(response.status, headers, headers.get("location", ""))
            raise ConnectionFailed(f"invalid WebSocket handshake response: {error}", url=url) from None
        except ssl.SSLError as error:
            raise TLSFailure(f"TLS error during the WebSocket handshake: {describe(error)}", url=url) from None
        except OSError as error:
            failure = ConnectionFailed(
                f"connection to {endpoint.authority} failed during the WebSocket handshake: "
                f"{describe(error)}" + _tls_hint(endpoint),
                url=url,
            )
            failure.retryable = isinstance(error, ConnectionResetError | ConnectionAbortedError)
            raise failure from None
        return ws, wrapped

    def _not_101(self, endpoint: Endpoint, status: int, headers: dict[str, str]) -> _Redirect:
        """An HTTP status instead of 101: a wschat server's page leads to its endpoint (the
        chat rule); anything else is HandshakeRejected, naming that endpoint on a wschat
        server."""
        url = endpoint.url
        cause = f"HTTP {status_text(status)} instead of 101 Switching Protocols"
        if is_chat_server(headers.get("server")):
            target = chat_url(url)
            if target != url:
                return _Redirect(status, headers, target)
            if chat_endpoint(url) != url:
                cause += f": a wschat chat server, whose WebSocket endpoint is {chat_endpoint(url)}"
        raise HandshakeRejected(cause, url=url, status=status, headers=headers)

    def _follow(self, endpoint: Endpoint, redirect: _Redirect) -> Endpoint:
        """Where a redirect points; HandshakeRejected when its Location is unusable."""
        try:
            return split_url(resolve_redirect(endpoint.url, redirect.location))
        except InvalidURL as error:
            raise HandshakeRejected(
                f"HTTP {status_text(redirect.status)} redirects to an unusable URL: {error}",
                url=endpoint.url, status=redirect.status, headers=redirect.headers,
            ) from None


@dataclass(frozen=True, slots=True)
class _Redirect:
    """An answer to the handshake that leads elsewhere: its status, its headers (lowercase
    names) and where it leads (a 3xx's Location, or a wschat server's endpoint)."""

    status: int
    headers: dict[str, str]
    location: str


def status_text(status: int) -> str:
    """``404 Not Found`` for known statuses, else just the number."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def describe(error: BaseException | None) -> str:
    """A short human description of an exception, for one-line messages."""
    if error is None:
        return "no address to try"
    if isinstance(error, ssl.SSLError):
        if getattr(error, "reason", None) == "UNEXPECTED_EOF_WHILE_READING":
            return "the server closed the connection in the middle of the TLS handshake"
        return tls_words(error)
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _tls_hint(endpoint: Endpoint) -> str:
    """For a plain ``ws://`` handshake that the server cut: what a TLS server does with it."""
    if endpoint.secure:
        return ""
    return f"; if the server speaks TLS on this port, try {swap_tls(endpoint.url)}"
