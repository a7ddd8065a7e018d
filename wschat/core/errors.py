"""The codes a wschat peer sees, and the one exception every wschat error derives from.

:class:`CloseCode` are the WebSocket close codes that wschat sends or reacts to (RFC 6455 7.4
and PROTOCOL.md's own 4xxx codes); :class:`ErrorCode` the ``code`` of an ``error`` frame.
Both are plain ints and strings on the wire (``IntEnum``/``StrEnum``), so they compare equal
to the literals a client written from PROTOCOL.md uses. No I/O.
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
