"""wschat: learn WebSockets by working software.

The public API, imported lazily (``import wschat`` loads neither the server, redis-py nor
websocket-client until a name that needs them is used):

- the chat server: :class:`ChatServer`, :class:`ServerConfig`, :class:`ServerThread`
  (a server in a background thread, for notebooks and tests);
- the client: :class:`ChatClient`, the events it yields (:class:`Message`,
  :class:`Presence`, :class:`Users`, ...) and its errors;
- the stores: :class:`MemoryStore`, :class:`SQLiteStore`, and on Redis :class:`RedisStore`
  with :func:`redis_node`;
- the teaching tools: :func:`probe` (read what any WebSocket server sends), the offline
  :class:`Replica` of the internship test's server, :func:`is_offline`;
- the codes and the exceptions: :class:`CloseCode`, :class:`ErrorCode`, the root
  :class:`WschatError` (its whole tree is drawn in :mod:`wschat.core.errors`), and the errors
  of the parts above that a caller catches (:class:`InvalidURL`, :class:`WireError`,
  :class:`ServerCrashed`, ...).

docs/api.md lists every public name with its signature and docstring.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wschat.client import (
        ChatClient,
        ChatClientError,
        ClientClosed,
        ConnectionLost,
        Disconnected,
        ErrorEvent,
        Event,
        Help,
        History,
        LoginError,
        Message,
        Presence,
        Read,
        Reconnected,
        TypingNotice,
        Users,
        Welcome,
    )
    from wschat.client.exceptions import DropRefused, NotAChatServer
    from wschat.cluster import RedisConfig, RedisStore, redis_node
    from wschat.core.errors import CloseCode, ErrorCode, WschatError
    from wschat.core.urls import InvalidURL
    from wschat.core.wire import WireError
    from wschat.server import ChatServer, ServerConfig, ServerThread
    from wschat.server.thread import ServerCrashed
    from wschat.store import MemoryStore, SQLiteStore, Store, StoreError
    from wschat.teaching.offline import is_offline
    from wschat.teaching.probe import ProbeError, ProbeResult, probe
    from wschat.teaching.replica import GREETING, Replica

#: Public name -> the module that defines it.
_WHERE: dict[str, str] = {
    **dict.fromkeys(
        ["ChatClient", "ChatClientError", "ClientClosed", "ConnectionLost", "Disconnected",
         "ErrorEvent", "Event", "Help", "History", "LoginError", "Message", "Presence",
         "Read", "Reconnected", "TypingNotice", "Users", "Welcome"],
        "wschat.client",
    ),
    **dict.fromkeys(["DropRefused", "NotAChatServer"], "wschat.client.exceptions"),
    **dict.fromkeys(["RedisConfig", "RedisStore", "redis_node"], "wschat.cluster"),
    **dict.fromkeys(["CloseCode", "ErrorCode", "WschatError"], "wschat.core.errors"),
    "InvalidURL": "wschat.core.urls",
    "WireError": "wschat.core.wire",
    **dict.fromkeys(["ChatServer", "ServerConfig", "ServerThread"], "wschat.server"),
    "ServerCrashed": "wschat.server.thread",
    **dict.fromkeys(["MemoryStore", "SQLiteStore", "Store", "StoreError"], "wschat.store"),
    "is_offline": "wschat.teaching.offline",
    **dict.fromkeys(["ProbeError", "ProbeResult", "probe"], "wschat.teaching.probe"),
    **dict.fromkeys(["GREETING", "Replica"], "wschat.teaching.replica"),
}

__all__ = [
    "GREETING",
    "ChatClient",
    "ChatClientError",
    "ChatServer",
    "ClientClosed",
    "CloseCode",
    "ConnectionLost",
    "Disconnected",
    "DropRefused",
    "ErrorCode",
    "ErrorEvent",
    "Event",
    "Help",
    "History",
    "InvalidURL",
    "LoginError",
    "MemoryStore",
    "Message",
    "NotAChatServer",
    "Presence",
    "ProbeError",
    "ProbeResult",
    "Read",
    "Reconnected",
    "RedisConfig",
    "RedisStore",
    "Replica",
    "SQLiteStore",
    "ServerConfig",
    "ServerCrashed",
    "ServerThread",
    "Store",
    "StoreError",
    "TypingNotice",
    "Users",
    "Welcome",
    "WireError",
    "WschatError",
    "__version__",
    "is_offline",
    "probe",
    "redis_node",
]


def _installed_version() -> str:
    try:
        return version("wschat")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


#: The installed version of wschat (``"0+unknown"`` in a source tree that was never installed).
__version__ = _installed_version()


def __getattr__(name: str) -> Any:
    """Import the module behind a public name on first use (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'wschat' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return list(__all__)
