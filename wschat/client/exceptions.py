"""The chat client's exceptions: what :class:`~wschat.client.ChatClient` raises on purpose, and
what :class:`~wschat.client.protocol.ClientProtocol` reports as the reason it finished. No I/O.

``ChatClientError`` is the base; all derive from :class:`~wschat.core.errors.WschatError`.
"""

from __future__ import annotations

from wschat.core.errors import WschatError

__all__ = [
    "ChatClientError",
    "ClientClosed",
    "ConnectionLost",
    "DropRefused",
    "LoginError",
    "NotAChatServer",
]


class ChatClientError(WschatError):
    """Base class of the client's errors."""


class LoginError(ChatClientError):
    """The server refused the login (close code 4001). ``code`` is the protocol's error code
    (``auth_failed``, ``invalid_name``, ``rate_limited``...), ``detail`` its explanation."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"login refused ({code}): {detail}")
        self.code = code
        self.detail = detail


class NotAChatServer(ChatClientError):
    """The first answer to a login was neither ``welcome`` nor ``error``: the server is not a
    wschat chat server (``answer`` is that first frame, as received)."""

    def __init__(self, answer: str) -> None:
        super().__init__(f"unexpected answer to login: {answer!r:.200}")
        self.answer = answer


class ConnectionLost(ChatClientError):
    """The connection closed with a code after which the client does not reconnect (or it
    was built with ``reconnect=False``)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"connection closed ({code}){': ' + reason if reason else ''}")
        self.code = code
        self.reason = reason


class ClientClosed(ChatClientError):
    """The client is closed and every event it received has been read."""


class DropRefused(ChatClientError):
    """The server answered :meth:`ChatClient.drop` with an error (``rate_limited``) instead of
    cutting the connection; the connection stays open."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"drop refused ({code}): {detail}")
        self.code = code
        self.detail = detail
