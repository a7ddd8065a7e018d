"""The clients: :class:`ChatClient` (asyncio, reconnects and resumes), the state machine it
pumps (:class:`ClientProtocol`, no I/O; the browser's ``client_machine.js`` implements the same
one), the server's events as it decodes them (:mod:`~wschat.client.events`), and the terminal
chat (:mod:`~wschat.client.terminal`, ``python -m wschat chat``)."""

from __future__ import annotations

from wschat.client.chat_client import (
    ChatClient,
    ChatClientError,
    ClientClosed,
    ConnectionLost,
    LoginError,
)
from wschat.client.events import (
    Disconnected,
    ErrorEvent,
    Event,
    Help,
    History,
    Message,
    Presence,
    Read,
    Reconnected,
    TypingNotice,
    Users,
    Welcome,
    parse_event,
)
from wschat.client.protocol import ClientProtocol

__all__ = [
    "ChatClient",
    "ChatClientError",
    "ClientClosed",
    "ClientProtocol",
    "ConnectionLost",
    "Disconnected",
    "ErrorEvent",
    "Event",
    "Help",
    "History",
    "LoginError",
    "Message",
    "Presence",
    "Read",
    "Reconnected",
    "TypingNotice",
    "Users",
    "Welcome",
    "parse_event",
]
