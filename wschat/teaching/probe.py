"""A synchronous WebSocket probe: connect, read what the server says, name what went wrong.

:func:`probe` opens one connection and returns a :class:`ProbeResult` (the handshake's status,
headers, subprotocol and extensions, the connect time, and every message received with the
time it arrived), or raises one :class:`ProbeError` subclass saying exactly which step failed.
It does each step itself so that a failure can be named and the timeout can bound them all:

1. name lookup (in a daemon thread, because ``getaddrinfo`` ignores timeouts);
2. TCP connect to the resolved address;
3. TLS handshake for ``wss://`` (certificate checked against the system's trusted CAs);
4. the WebSocket handshake, by websocket-client over that socket (HTTP redirects are
   followed here, up to :data:`MAX_REDIRECTS`, each from step 1 again);
5. optionally one text message sent, then reading until ``count`` messages or the timeout.

Waking a sleeping host. Free hosting tiers (the internship test's server is on one) put a
service to sleep after about 15 minutes without traffic; the next connection wakes it, and the
answer to its handshake can take up to about a minute. So, whatever the URL:

- the default ``timeout`` is :data:`DEFAULT_TIMEOUT` (60 s), all of it available to connect
  and handshake;
- ``on_progress`` is called once, with :data:`PROGRESS_MESSAGE`, when the connection is still
  not open after :data:`PROGRESS_AFTER` seconds, so that a person knows why nothing shows;
- a failure that a waking host causes in the WebSocket handshake (an HTTP 5xx status, the
  connection reset, or a timeout from the network rather than from the probe's own deadline)
  is retried once, from the name lookup, within the same deadline. A 4xx status, a name not
  found, a TLS failure or a refusal is never retried: trying again would not change it.

``python -m wschat probe URL`` (:func:`run_cli`) prints each message on its own line as it
arrives (or one JSON object per line with ``--json``), says on stderr when it is still
waiting for the server after :data:`PROGRESS_AFTER` seconds, and exits with:

====  ==========================================================================
code  meaning
====  ==========================================================================
0     at least one message arrived
1     connection failed for another reason (network error, not a WebSocket server)
2     invalid URL or arguments
3     name not found (DNS)
4     connection refused
5     TLS failure (certificate or handshake)
6     timeout before any message (the message says at which step)
7     handshake rejected: an HTTP status instead of 101 Switching Protocols
8     the server closed the connection before sending any message
9     ``WSCHAT_OFFLINE=1`` and the URL points outside this machine
130   interrupted (Ctrl+C)
====  ==========================================================================

Every failure prints one line on stderr, ``wschat probe: <cause> (<url>)``; never a traceback.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any, ClassVar

from websocket import (
    ABNF,
    WebSocket,
    WebSocketBadStatusException,
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketTimeoutException,
)
from websockets.exceptions import InvalidHeader
from websockets.headers import parse_extension

from wschat.core.defaults import PROBE_TIMEOUT
from wschat.core.errors import WschatError
from wschat.core.hosts import is_loopback_host
from wschat.core.urls import Endpoint, InvalidURL, resolve_redirect, split_url
from wschat.teaching.offline import is_offline

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "PROGRESS_AFTER",
    "PROGRESS_MESSAGE",
    "ClosedBeforeMessage",
    "ConnectionFailed",
    "ConnectionRefused",
    "HandshakeRejected",
    "NameNotFound",
    "OfflineBlocked",
    "ProbeError",
    "ProbeResult",
    "ProbeTimeout",
    "ReceivedMessage",
    "Resolver",
    "TLSFailure",
    "format_message",
    "parse_extensions",
    "probe",
    "run_cli",
]

#: HTTP redirects followed before giving up (each one is a new connection).
MAX_REDIRECTS = 3

#: Seconds a probe may take by default, whatever the URL: a free host asleep takes up to
#: about a minute to answer the first handshake.
DEFAULT_TIMEOUT = PROBE_TIMEOUT

#: Seconds without an open connection before ``on_progress`` is called (once).
PROGRESS_AFTER = 3.0

#: What ``on_progress`` is called with.
PROGRESS_MESSAGE = (
    "waiting for the server to answer "
    "(free hosts sleep when idle and can take up to a minute to wake)"
)

#: Pause before the one retry: a host that answered 5xx while waking needs a moment. No
#: retry when the deadline leaves less than twice this.
RETRY_PAUSE = 1.0

#: Longest wait for the server's answer to our close frame. The close frame itself is
#: always sent, even when the timeout has just ended the read.
CLOSE_GRACE = 1.0

#: Status 1005 stands for "the close frame carried no code" (RFC 6455, 7.1.5);
#: 1006 for "the connection dropped without a close frame".
NO_STATUS_CODE = 1005
ABNORMAL_CLOSURE = 1006

#: The signature of :func:`socket.getaddrinfo` as the probe calls it:
#: ``resolve(host, port, family, type)``; tests inject their own.
Resolver = Callable[[str, int, int, int], Sequence[tuple[Any, ...]]]


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message from the server: text (``str``) or binary (``bytes``).

    ``elapsed`` is in seconds since the WebSocket handshake completed.
    """

    data: str | bytes
    elapsed: float
    binary: bool


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe learned.

    ``url`` is the URL finally connected to (normalised, after redirects). ``headers`` are the
    handshake response's headers with lowercase names. ``extensions`` are the extension names
    from ``Sec-WebSocket-Extensions`` (the full header stays in ``headers``). ``connect_time``
    covers TCP connect, TLS and the WebSocket handshake of the final connection (not the name
    lookup). ``close_code`` and ``close_reason`` are set only when the server closed
    (1006: the connection dropped without a close frame); they are None when the probe closed.
    ``timed_out`` is True when the timeout, not ``count``, ended the read.
    """

    url: str
    status: int
    headers: dict[str, str]
    subprotocol: str | None
    extensions: list[str]
    connect_time: float
    messages: list[ReceivedMessage] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None
    timed_out: bool = False


class ProbeError(WschatError):
    """A probe that got no message, or broke off. ``str()`` is one line: the cause, then the URL.

    ``url`` is the URL being tried when it failed; ``partial`` is what was learned before the
    failure when the handshake had completed (else None). ``retryable`` is True for the
    failures a waking host causes in the WebSocket handshake (HTTP 5xx, a connection reset, a
    timeout from the network): :func:`probe` retries those once. When the one retry failed
    too, the error is the retry's, and its text also names the first try's cause.
    """

    kind: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1

    def __init__(self, cause: str, *, url: str, partial: ProbeResult | None = None) -> None:
        # One line whatever the OS or the server put in the text (a close reason can hold \n).
        self.cause = " ".join(cause.split())
        self.url = url
        self.partial = partial
        self.retryable = False
        super().__init__(f"{self.cause} ({url})")

    def _after_retry(self, first: ProbeError) -> None:
        """Say in the text that this failure came on the retry of ``first``."""
        if first.cause == self.cause:
            self.cause += ", again on the one retry"
        else:
            self.cause += f" on the one retry (the first try: {first.cause})"
        self.args = (f"{self.cause} ({self.url})",)


class NameNotFound(ProbeError):
    """The host name could not be resolved (DNS)."""

    kind = "name_not_found"
    exit_code = 3

    def __init__(self, cause: str, *, url: str, host: str) -> None:
        super().__init__(cause, url=url)
        self.host = host


class ConnectionRefused(ProbeError):
    """Nothing listens on that address and port."""

    kind = "connection_refused"
    exit_code = 4


class TLSFailure(ProbeError):
    """The TLS handshake failed: an untrusted or wrong certificate, or a server without TLS."""

    kind = "tls_failure"
    exit_code = 5


class ProbeTimeout(ProbeError):
    """The timeout passed before any message; ``stage`` names the step that was waiting:
    ``name lookup of HOST``, ``TCP connect to HOST:PORT``, ``TLS handshake with HOST:PORT``,
    ``WebSocket handshake``, ``send of the text message`` or ``wait for the first message``."""

    kind = "timeout"
    exit_code = 6

    def __init__(
        self, stage: str, *, url: str, timeout: float, partial: ProbeResult | None = None
    ) -> None:
        super().__init__(f"timed out after {timeout:g} s during the {stage}", url=url, partial=partial)
        self.stage = stage
        self.timeout = timeout


class HandshakeRejected(ProbeError):
    """The server answered the handshake with an HTTP status other than 101."""

    kind = "handshake_rejected"
    exit_code = 7

    def __init__(self, cause: str, *, url: str, status: int, headers: dict[str, str]) -> None:
        super().__init__(cause, url=url)
        self.status = status
        self.headers = headers
        self.retryable = 500 <= status <= 599


class ClosedBeforeMessage(ProbeError):
    """The server closed the WebSocket before sending any message."""

    kind = "closed_before_message"
    exit_code = 8

    def __init__(
        self, *, url: str, close_code: int, close_reason: str, partial: ProbeResult
    ) -> None:
        if close_code == ABNORMAL_CLOSURE:
            how = "the connection dropped (1006, no close frame)"
        else:
            how = f"close code {close_code}" + (f", reason {close_reason!r}" if close_reason else "")
        super().__init__(
            f"the server closed the connection before any message: {how}", url=url, partial=partial
        )
        self.close_code = close_code
        self.close_reason = close_reason


class ConnectionFailed(ProbeError):
    """Any other failure: a network error, or a peer that does not speak WebSocket properly."""

    kind = "connection_failed"
    exit_code = 1


class OfflineBlocked(ProbeError):
    """``WSCHAT_OFFLINE=1`` is set and the URL points outside this machine."""

    kind = "offline"
    exit_code = 9


def probe(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    count: int = 1,
    send: str | None = None,
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    resolve: Resolver = socket.getaddrinfo,
    on_message: Callable[[ReceivedMessage], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ProbeResult:
    """Connect to ``url``, read up to ``count`` messages within ``timeout`` seconds, close.

    ``url`` is normalised first (a bare host means ``wss://HOST/``; bad text raises
    :class:`~wschat.core.urls.InvalidURL`). ``timeout`` bounds the whole attempt, name lookup,
    redirects and the one retry included (default 60 s, enough for a free host to wake up).
    ``send`` is sent once as a text message right after the handshake.
    ``subprotocols`` are offered in ``Sec-WebSocket-Protocol``; ``ssl_context`` replaces the
    default one (e.g. to trust a local test CA); ``resolve`` replaces ``socket.getaddrinfo``;
    ``on_message`` is called with each message as it arrives (to stream output).
    ``on_progress`` is called at most once, with :data:`PROGRESS_MESSAGE`, when the connection
    is not open yet after :data:`PROGRESS_AFTER` seconds (name lookup to WebSocket handshake);
    it runs in a helper thread, and the probe returns or raises only after it has returned.

    Returns when ``count`` messages arrived, or when the server closed or the timeout passed
    after at least one. Otherwise raises a :class:`ProbeError` subclass. The connection is
    always closed on return (close code 1000 when it is still open).
    """
    if not (isinstance(timeout, int | float) and timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if not (isinstance(count, int) and count >= 1):
        raise ValueError(f"count must be 1 or more, not {count!r}")
    endpoint = split_url(url)
    attempt = _Attempt(
        timeout=timeout,
        deadline=time.monotonic() + timeout,
        subprotocols=list(subprotocols),
        ssl_context=ssl_context,
        resolve=resolve,
    )
    with _Progress(on_progress, PROGRESS_AFTER):
        session = attempt.connect(endpoint)
    try:
        return session.read(count=count, send=send, on_message=on_message)
    finally:
        session.close()


def parse_extensions(header: str | None) -> list[str]:
    """The extension names in a ``Sec-WebSocket-Extensions`` header, in order.

    A header that does not parse still yields the names before each ``;`` (we report what the
    server said; judging it is not the probe's job).
    """
    if not header:
        return []
    try:
        return [name for name, _params in parse_extension(header)]
    except InvalidHeader:
        names = (item.split(";", 1)[0].strip() for item in header.split(","))
        return [name for name in names if name]


def format_message(message: ReceivedMessage, *, as_json: bool = False) -> str:
    """One output line for ``message``: the text as is, or ``<binary N bytes: 0a0b…>``;
    with ``as_json``, a JSON object ``{"type", "data", "elapsed"}`` (binary data in base64)."""
    if as_json:
        if isinstance(message.data, bytes):
            kind, data = "binary", base64.b64encode(message.data).decode("ascii")
        else:
            kind, data = "text", message.data
        record = {"type": kind, "data": data, "elapsed": round(message.elapsed, 6)}
        return json.dumps(record, ensure_ascii=False)
    if isinstance(message.data, bytes):
        size = len(message.data)
        if not size:
            return "<binary 0 bytes>"
        more = "..." if size > 32 else ""
        return f"<binary {size} bytes: {message.data[:32].hex()}{more}>"
    return message.data


def run_cli(args: argparse.Namespace) -> int:
    """``python -m wschat probe``: stream the messages to stdout; return the exit status.

    ``args`` has ``url``, ``timeout``, ``count``, ``send`` and ``json`` (see wschat.cli).
    """
    _tolerate_unencodable_output()

    def show(message: ReceivedMessage) -> None:
        print(format_message(message, as_json=args.json), flush=True)

    def waiting(message: str) -> None:
        print(f"wschat probe: {message}...", file=sys.stderr, flush=True)

    try:
        probe(args.url, timeout=args.timeout, count=args.count, send=args.send,
              on_message=show, on_progress=waiting)
    except InvalidURL as error:
        return _fail(f"invalid URL: {error}", 2)
    except ProbeError as error:
        return _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    return 0


def _fail(line: str, status: int) -> int:
    print(f"wschat probe: {line}", file=sys.stderr, flush=True)
    return status


def _tolerate_unencodable_output() -> None:
    """A server may send characters the console cannot show (a cp1252 Windows console):
    print them escaped rather than crash with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream that cannot change; leave it
                pass


@dataclass(slots=True)
class _Attempt:
    """One probe's settings and its deadline, shared by every step and every redirect."""

    timeout: float
    deadline: float
    subprotocols: list[str]
    ssl_context: ssl.SSLContext | None
    resolve: Resolver

    def connect(self, endpoint: Endpoint) -> _Session:
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
                    error._after_retry(first_failure)
                    raise
                if not (error.retryable and self._pause_for_retry()):
                    raise
                first_failure = error
                continue
            if isinstance(outcome, _Session):
                outcome.connect_time = time.monotonic() - started
                return outcome
            status, headers = outcome
            if redirects == MAX_REDIRECTS:
                raise HandshakeRejected(
                    f"HTTP {_status_text(status)}: more than {MAX_REDIRECTS} redirects",
                    url=endpoint.url, status=status, headers=headers,
                )
            endpoint = self._follow(endpoint, status, headers)
            redirects += 1

    def _pause_for_retry(self) -> bool:
        """Wait :data:`RETRY_PAUSE` when the deadline leaves time for a retry after it."""
        if self.deadline - time.monotonic() < 2 * RETRY_PAUSE:
            return False
        time.sleep(RETRY_PAUSE)
        return True

    def remaining(self, stage: str, url: str) -> float:
        """Seconds left, or ProbeTimeout naming ``stage`` when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ProbeTimeout(stage, url=url, timeout=self.timeout)
        return left

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
            raise ConnectionFailed(f"name lookup of {host} failed: {_describe(error)}", url=url)
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
            f"could not connect to {endpoint.authority}: {_describe(last)}", url=endpoint.url
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
            raise TLSFailure(
                f"TLS handshake with {endpoint.authority} failed: {_describe(error)}",
                url=endpoint.url,
            ) from None
        finally:
            sock.close()  # wrap_socket detached it on success; on failure it must go

    def _handshake(
        self, endpoint: Endpoint, sock: socket.socket
    ) -> _Session | tuple[int, dict[str, str]]:
        """Run the WebSocket handshake on ``sock``: a session, or a redirect's status and headers."""
        url = endpoint.url
        stage = "WebSocket handshake"
        wrapped = _DeadlineSocket(sock, self.deadline)
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
            raise HandshakeRejected(
                f"HTTP {_status_text(error.status_code)} instead of 101 Switching Protocols",
                url=url,
                status=error.status_code,
                headers=dict(error.resp_headers or {}),
            ) from None
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
                f"{endpoint.authority} closed the connection during the WebSocket handshake",
                url=url,
            ) from None
        except WebSocketException as error:
            response = ws.handshake_response
            if response is not None and 300 <= response.status < 400:
                return response.status, dict(response.headers)
            raise ConnectionFailed(f"invalid WebSocket handshake response: {error}", url=url) from None
        except ssl.SSLError as error:
            raise TLSFailure(f"TLS error during the WebSocket handshake: {_describe(error)}", url=url) from None
        except OSError as error:
            failure = ConnectionFailed(
                f"connection to {endpoint.authority} failed during the WebSocket handshake: "
                f"{_describe(error)}",
                url=url,
            )
            failure.retryable = isinstance(error, ConnectionResetError | ConnectionAbortedError)
            raise failure from None
        return _Session(attempt=self, endpoint=endpoint, ws=ws, sock=wrapped)

    def _follow(self, endpoint: Endpoint, status: int, headers: dict[str, str]) -> Endpoint:
        """Where a redirect points; HandshakeRejected when its Location is unusable."""
        try:
            return split_url(resolve_redirect(endpoint.url, headers.get("location", "")))
        except InvalidURL as error:
            raise HandshakeRejected(
                f"HTTP {_status_text(status)} redirects to an unusable URL: {error}",
                url=endpoint.url, status=status, headers=headers,
            ) from None


@dataclass(slots=True)
class _Session:
    """An open WebSocket: read from it, then close it."""

    attempt: _Attempt
    endpoint: Endpoint
    ws: WebSocket
    sock: _DeadlineSocket
    connect_time: float = 0.0

    def read(
        self,
        *,
        count: int,
        send: str | None,
        on_message: Callable[[ReceivedMessage], None] | None,
    ) -> ProbeResult:
        opened = time.monotonic()
        url = self.endpoint.url
        response = self.ws.handshake_response
        headers: dict[str, str] = dict(response.headers) if response else {}
        base = ProbeResult(
            url=url,
            status=response.status if response else 101,
            headers=headers,
            subprotocol=self.ws.getsubprotocol(),
            extensions=parse_extensions(headers.get("sec-websocket-extensions")),
            connect_time=self.connect_time,
        )
        if send is not None:
            self._send(send, base)
        messages: list[ReceivedMessage] = []
        while len(messages) < count:
            frame = self._next_frame(base, messages)
            if isinstance(frame, ProbeResult):
                return frame
            opcode, data = frame
            if opcode == ABNF.OPCODE_CLOSE:
                code, reason = _close_payload(data)
                return self._closed(base, messages, code, reason)
            binary = opcode == ABNF.OPCODE_BINARY
            message = ReceivedMessage(
                data=bytes(data) if binary else bytes(data).decode("utf-8"),
                elapsed=time.monotonic() - opened,
                binary=binary,
            )
            messages.append(message)
            if on_message is not None:
                on_message(message)
        return replace(base, messages=messages)

    def close(self) -> None:
        """Close with 1000 when still open (waiting briefly for the server's answer)."""
        if not self.ws.connected:
            self.ws.shutdown()  # type: ignore[no-untyped-call]
            return
        grace = max(0.1, min(CLOSE_GRACE, self.attempt.deadline - time.monotonic()))
        self.sock.deadline = time.monotonic() + grace
        self.ws.close(status=1000, timeout=grace)

    def _send(self, text: str, base: ProbeResult) -> None:
        url = self.endpoint.url
        try:
            self.ws.send(text)
        except WebSocketTimeoutException:
            raise ProbeTimeout("send of the text message", url=url, timeout=self.attempt.timeout, partial=base) from None
        except (WebSocketException, OSError) as error:
            raise ConnectionFailed(f"sending failed: {_describe(error)}", url=url, partial=base) from None

    def _next_frame(
        self, base: ProbeResult, messages: list[ReceivedMessage]
    ) -> tuple[int, bytes] | ProbeResult:
        """The next data or close frame; a finished result when the read must stop."""
        url = self.endpoint.url
        try:
            opcode, frame = self.ws.recv_data_frame()
        except WebSocketTimeoutException:
            if messages:
                return replace(base, messages=messages, timed_out=True)
            raise ProbeTimeout(
                "wait for the first message",
                url=url,
                timeout=self.attempt.timeout,
                partial=replace(base, timed_out=True),
            ) from None
        except (WebSocketConnectionClosedException, ConnectionError):
            return self._closed(base, messages, ABNORMAL_CLOSURE, "")
        except (WebSocketException, OSError) as error:
            raise ConnectionFailed(
                f"WebSocket protocol error: {_describe(error)}",
                url=url,
                partial=replace(base, messages=messages),
            ) from None
        return opcode, frame.data

    def _closed(
        self, base: ProbeResult, messages: list[ReceivedMessage], code: int, reason: str
    ) -> ProbeResult:
        result = replace(base, messages=messages, close_code=code, close_reason=reason)
        if not messages:
            raise ClosedBeforeMessage(
                url=self.endpoint.url, close_code=code, close_reason=reason, partial=result
            )
        return result


class _Progress:
    """``with _Progress(callback, after):`` calls ``callback(PROGRESS_MESSAGE)`` once, from a
    timer thread, if the block is still running ``after`` seconds in; never once it has ended
    (the end waits for a call under way, so its line comes before anything printed after)."""

    def __init__(self, callback: Callable[[str], None] | None, after: float) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self._ended = False
        self._timer: threading.Timer | None = None
        if callback is not None:
            self._timer = threading.Timer(after, self._fire)
            self._timer.name = "wschat-probe-progress"
            self._timer.daemon = True  # never keeps a process alive

    def __enter__(self) -> None:
        if self._timer is not None:
            self._timer.start()

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._ended = True

    def _fire(self) -> None:
        with self._lock:
            if not self._ended and self._callback is not None:
                self._callback(PROGRESS_MESSAGE)


class _DeadlineSocket:
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


def _close_payload(data: bytes) -> tuple[int, str]:
    """Code and reason of a close frame's payload (an empty payload means 1005)."""
    if len(data) < 2:
        return NO_STATUS_CODE, ""
    return int.from_bytes(data[:2], "big"), bytes(data[2:]).decode("utf-8", "replace")


def _status_text(status: int) -> str:
    """``404 Not Found`` for known statuses, else just the number."""
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def _describe(error: BaseException | None) -> str:
    """A short human description of an exception, for one-line messages."""
    if error is None:
        return "no address to try"
    if isinstance(error, ssl.SSLError):
        # "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)" -> the words only
        text = _SSL_DECORATION.sub("", str(error.args[1] if len(error.args) > 1 else error))
        reason = getattr(error, "reason", None)
        if reason == "WRONG_VERSION_NUMBER":
            text += " (the server does not seem to speak TLS on this port: try ws://)"
        elif reason == "UNEXPECTED_EOF_WHILE_READING":
            text = "the server closed the connection in the middle of the TLS handshake"
        return text.strip() or type(error).__name__
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


#: A socket timeout this far before the deadline cannot be the deadline's own.
_CLOCK_SLACK = 0.1

_SSL_DECORATION = re.compile(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$")
