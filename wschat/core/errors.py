"""The codes a wschat peer sees, and the one exception every wschat error derives from.

:class:`CloseCode` are the WebSocket close codes that wschat sends or reacts to (RFC 6455 7.4
and PROTOCOL.md's own 4xxx codes); :class:`ErrorCode` the ``code`` of an ``error`` frame.
Both are plain ints and strings on the wire (``IntEnum``/``StrEnum``), so they compare equal
to the literals a client written from PROTOCOL.md uses. No I/O.

The exceptions wschat raises on purpose, all under :class:`WschatError` (a second base in
parentheses; ``except wschat.WschatError`` catches every one)::

    WschatError                     the root (this module)
    ├── InvalidURL (ValueError)     wschat.core.urls: typed text that is no ws:// or wss:// URL
    ├── WireError (ValueError)      wschat.core.wire: bytes that break RFC 6455
    │   ├── FrameError              a frame that breaks the rules
    │   │   └── IncompleteFrame     the bytes end before the frame does
    │   └── HandshakeError          an opening handshake that breaks the rules
    │       └── IncompleteHandshake the bytes end before the handshake does
    ├── StoreError                  wschat.store: the store cannot work (file, database, Redis)
    ├── CannotListen                wschat.server.run: the host and port cannot be listened on
    ├── TaskFailed                  wschat.server.supervise: a long-lived task of the server died
    ├── ServerCrashed (RuntimeError)  wschat.server.thread: a ServerThread's server is gone
    ├── ChatClientError             wschat.client: what ChatClient raises
    │   ├── LoginError              the login was refused (4001)
    │   ├── NotAChatServer          the answer to the login was not wschat's
    │   ├── ConnectionLost          closed with a code after which it does not reconnect
    │   ├── ClientClosed            closed, and every event was read
    │   └── DropRefused             the server refused a drop (rate_limited)
    └── ProbeError                  wschat.teaching.probe: the probe got no message
        ├── NameNotFound            DNS
        ├── ConnectionRefused       nothing listens there
        ├── TLSFailure              the TLS handshake failed
        ├── ProbeTimeout            the timeout passed first
        ├── HandshakeRejected       an HTTP status other than 101
        ├── ClosedBeforeMessage     closed before any message
        ├── ConnectionFailed        any other network failure
        ├── OfflineBlocked          WSCHAT_OFFLINE=1 and a host elsewhere
        └── LoginRequired           a wschat chat server, and nothing to send

What is outside the tree, on purpose, is a mistake of the calling code, not a condition to
handle: **argument checks** raise ``ValueError`` (or ``TypeError`` for a wrong type): options
out of range (``ChatClient``'s ``backoff``, no password and no token, no URL; the rate limits;
``RedisStore``'s bounds and a URL that is not ``redis://``; ``probe``'s ``timeout`` and
``count``; ``RedisBus``'s ``node_ttl``), a :class:`~wschat.core.model.Draft` with an invalid
field, and an id the server itself passes to a store (``upto``, ``after``, a read position)
that is not a log id (:func:`~wschat.core.model.log_order`); a client's untrusted ids never
reach these checks. **Calls in the wrong state** raise ``RuntimeError`` (connecting a client
twice, ``drop()`` without a connection, starting a ``ServerThread`` twice), and a
``ServerThread`` that does not start or stop within its timeout raises ``TimeoutError``; a TLS
certificate the server cannot read stays an ``OSError`` (with both file names), and an
``AssertionError`` marks a branch that cannot be reached. The notebooks' demonstration helpers
in :mod:`wschat.teaching` (apart from the probe) raise the standard exceptions too. Tests keep
this drawing equal to the classes, and every ``raise`` of the other packages to this list.
"""

from __future__ import annotations

import enum

__all__ = ["CloseCode", "ErrorCode", "WschatError"]


class WschatError(Exception):
    """The root of every error wschat raises on purpose (store, client, probe, wire)."""


class CloseCode(enum.IntEnum):
    """Close codes of RFC 6455 7.4.1 and PROTOCOL.md that wschat sends or acts on."""

    NORMAL = 1000  #: logout, or a client that is done
    GOING_AWAY = 1001  #: the server shuts down (or a browser leaves the page)
    MESSAGE_TOO_BIG = 1009  #: a frame larger than the server accepts
    NO_STATUS = 1005  #: reported locally when a close frame had no code; never sent
    ABNORMAL = 1006  #: reported locally when TCP ended without a close frame; never sent
    INTERNAL_ERROR = 1011  #: the store failed, or keepalive found the peer gone
    SERVICE_RESTART = 1012  #: the server restarts (drain): reconnect elsewhere
    TRY_AGAIN_LATER = 1013  #: overloaded: reconnect later
    LOGIN_FAILED = 4001  #: the login was refused (one ``error`` frame came first)
    SLOW_READER = 4008  #: the client read too slowly; it may reconnect and resume


class ErrorCode(enum.StrEnum):
    """The ``code`` field of an ``error`` frame (PROTOCOL.md, "Errors")."""

    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_COMMAND = "unknown_command"
    TOO_LONG = "too_long"
    UNKNOWN_USER = "unknown_user"
    INVALID_NAME = "invalid_name"
    LOGIN_REQUIRED = "login_required"
    AUTH_FAILED = "auth_failed"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
