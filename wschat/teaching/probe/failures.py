"""What can go wrong in a probe: one :class:`ProbeError` subclass per cause, each with the
``kind`` a program tests, the ``exit_code`` of ``python -m wschat probe`` and a ``summary``
for its ``--help``. :data:`EXIT_CODES` lists every exit code (docs/probe.md too; a test keeps
the three in step). No I/O."""

from __future__ import annotations

from typing import ClassVar

from wschat.core.errors import WschatError
from wschat.teaching.probe.result import ProbeResult

__all__ = [
    "ABNORMAL_CLOSURE",
    "EXIT_CODES",
    "ClosedBeforeMessage",
    "ConnectionFailed",
    "ConnectionRefused",
    "HandshakeRejected",
    "LoginRequired",
    "NameNotFound",
    "OfflineBlocked",
    "ProbeError",
    "ProbeTimeout",
    "TLSFailure",
]

#: Status 1006: "the connection dropped without a close frame" (RFC 6455, 7.1.5).
ABNORMAL_CLOSURE = 1006


class ProbeError(WschatError):
    """A probe that got no message, or broke off. ``str()`` is one line: the cause, then the URL.

    ``url`` is the URL being tried when it failed; ``partial`` is what was learned before the
    failure when the handshake had completed (else None). ``retryable`` is True for the
    failures a waking host causes in the WebSocket handshake (HTTP 5xx, a connection reset, a
    timeout from the network): :func:`~wschat.teaching.probe.probe` retries those once. When
    the one retry failed too, the error is the retry's, and its text also names the first
    try's cause.
    """

    kind: ClassVar[str] = "error"
    exit_code: ClassVar[int] = 1
    summary: ClassVar[str] = "the probe failed"

    def __init__(self, cause: str, *, url: str, partial: ProbeResult | None = None) -> None:
        # One line whatever the OS or the server put in the text (a close reason can hold \n).
        self.cause = " ".join(cause.split())
        self.url = url
        self.partial = partial
        self.retryable = False
        super().__init__(f"{self.cause} ({url})")

    def after_retry(self, first: ProbeError) -> None:
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
    summary = "name not found (DNS)"

    def __init__(self, cause: str, *, url: str, host: str) -> None:
        super().__init__(cause, url=url)
        self.host = host


class ConnectionRefused(ProbeError):
    """Nothing listens on that address and port."""

    kind = "connection_refused"
    exit_code = 4
    summary = "connection refused: nothing listens on that address and port"


class TLSFailure(ProbeError):
    """The TLS handshake failed: an untrusted or wrong certificate, or a server without TLS."""

    kind = "tls_failure"
    exit_code = 5
    summary = "TLS failure: certificate not accepted, or no TLS on that port"


class ProbeTimeout(ProbeError):
    """The timeout passed before any message; ``stage`` names the step that was waiting:
    ``name lookup of HOST``, ``TCP connect to HOST:PORT``, ``TLS handshake with HOST:PORT``,
    ``WebSocket handshake``, ``send of the text message`` or ``wait for the first message``."""

    kind = "timeout"
    exit_code = 6
    summary = "the timeout passed before any message (the message names the step)"

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
    summary = "handshake rejected: an HTTP status instead of 101 Switching Protocols"

    def __init__(self, cause: str, *, url: str, status: int, headers: dict[str, str]) -> None:
        super().__init__(cause, url=url)
        self.status = status
        self.headers = headers
        self.retryable = 500 <= status <= 599


class ClosedBeforeMessage(ProbeError):
    """The server closed the WebSocket before sending any message."""

    kind = "closed_before_message"
    exit_code = 8
    summary = "the server closed the connection before sending any message"

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
    summary = "the connection failed for another reason (a network error, or a peer that does not speak WebSocket properly)"


class OfflineBlocked(ProbeError):
    """``WSCHAT_OFFLINE=1`` is set and the URL points outside this machine."""

    kind = "offline"
    exit_code = 9
    summary = "WSCHAT_OFFLINE=1 and the URL points outside this machine"


class LoginRequired(ProbeError):
    """A wschat chat server (its handshake answer says ``Server: wschat``), and no ``send``:
    such a server sends nothing before a login, and only after its login timeout (10 s by
    default) closes with ``login_required``. Raised as soon as the handshake is read,
    instead of that wait."""

    kind = "login_required"
    exit_code = 10
    summary = "a wschat chat server, which sends nothing before a login (log in with --send)"

    def __init__(self, *, url: str, partial: ProbeResult) -> None:
        super().__init__(
            "a wschat chat server, which sends nothing before a login: send "
            f"'/login NAME PASSWORD' first (--send), or chat with: python -m wschat chat {url} "
            "--user NAME",
            url=url,
            partial=partial,
        )


#: Every exit code of ``python -m wschat probe``: ``code -> (ProbeError.kind or "", summary)``.
EXIT_CODES: dict[int, tuple[str, str]] = dict(
    sorted(
        {
            0: ("", "at least one message arrived"),
            2: ("", "invalid URL or arguments"),
            130: ("", "interrupted (Ctrl+C)"),
            **{
                cls.exit_code: (cls.kind, cls.summary)
                for cls in (
                    ConnectionFailed, NameNotFound, ConnectionRefused, TLSFailure, ProbeTimeout,
                    HandshakeRejected, ClosedBeforeMessage, OfflineBlocked, LoginRequired,
                )
            },
        }.items()
    )
)
