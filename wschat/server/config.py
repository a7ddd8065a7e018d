"""Every knob of the chat server, with the defaults of PROTOCOL.md (from :mod:`wschat.core.defaults`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from wschat.core import defaults as d

__all__ = ["FLUSH_CHUNK", "MAX_BATCH", "MAX_DEFERRED", "ServerConfig", "ServerOptions"]

#: Most sends appended in one commit; a burst larger than this takes several commits.
MAX_BATCH = 1024

#: Sessions written to between two looks at other work while a broadcast is written out
#: (so that a private message never waits for a whole 10,000-connection broadcast).
FLUSH_CHUNK = 32

#: The writer takes no new burst while some session is owed more than this many bytes of
#: broadcasts not yet written out: senders slow down instead of the server's memory growing.
MAX_DEFERRED = 256 * 1024


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Every knob of ``python -m wschat serve`` (defaults as PROTOCOL.md says)."""

    host: str = d.HOST
    port: int = d.PORT
    rate_limit: float = d.RATE_LIMIT
    #: Sends a user may fire at once before ``rate_limit`` applies; None (the default) follows
    #: ``rate_limit``: ``BURST_PER_RATE`` times it (see :attr:`send_burst`).
    burst: float | None = None
    history: int = d.HISTORY
    max_replay: int = d.MAX_REPLAY
    max_pending: int = d.MAX_PENDING
    max_frame: int = d.MAX_FRAME
    ping_interval: float | None = d.PING_INTERVAL
    ping_timeout: float | None = d.PING_TIMEOUT
    #: Seconds the server waits for the peer's answer to a close frame before dropping the TCP
    #: connection. Short, because the peer that does not answer is usually gone: a peer that
    #: keepalive finds dead (a cut without a close) is dropped, and shown offline to others,
    #: at most ``ping_interval + ping_timeout + close_timeout`` after it went silent.
    close_timeout: float = d.CLOSE_TIMEOUT
    #: The same wait for a reader closed with 4008: its close frame queues behind the bytes it
    #: has not read, so a reader that reads them all within this time still learns the code;
    #: after it, the connection is dropped whether the reader came back or not.
    slow_close_timeout: float = d.SLOW_CLOSE_TIMEOUT
    login_timeout: float = d.LOGIN_TIMEOUT
    allow_origins: tuple[str, ...] = ()
    certfile: str | None = None
    keyfile: str | None = None
    #: Failed logins allowed per name and per address within ``login_failure_window`` s.
    login_failures_per_name: int = d.LOGIN_FAILURES_PER_NAME
    login_failures_per_address: int = d.LOGIN_FAILURES_PER_ADDRESS
    login_failure_window: float = d.LOGIN_FAILURE_WINDOW
    #: On SIGTERM/SIGINT: seconds over which the connections are closed with 1012, one after
    #: another at a steady rate (0: all at once with 1001). See :mod:`wschat.server.drain`.
    drain: float = d.DRAIN
    #: A bearer token that opens ``/metrics`` to clients beyond the loopback address
    #: (None: loopback only).
    metrics_token: str | None = None

    @property
    def send_burst(self) -> float:
        """The burst in force: ``burst`` if set, else ``BURST_PER_RATE`` times ``rate_limit``
        (so ``ServerConfig(rate_limit=5)`` allows bursts of 10, as ``--rate-limit 5`` does),
        and never below one send."""
        if self.burst is not None:
            return self.burst
        return max(1.0, self.rate_limit * d.BURST_PER_RATE)

    @property
    def scheme(self) -> str:
        """``wss`` under TLS, else ``ws``."""
        return "wss" if self.certfile else "ws"


class ServerOptions(TypedDict, total=False):
    """:class:`ServerConfig`'s fields as keyword arguments, typed: what
    ``ServerThread(rate_limit=0, history=3)`` accepts. tests/server/test_thread.py keeps the
    two in step (same names, same types)."""

    host: str
    port: int
    rate_limit: float
    burst: float | None
    history: int
    max_replay: int
    max_pending: int
    max_frame: int
    ping_interval: float | None
    ping_timeout: float | None
    close_timeout: float
    slow_close_timeout: float
    login_timeout: float
    allow_origins: tuple[str, ...]
    certfile: str | None
    keyfile: str | None
    login_failures_per_name: int
    login_failures_per_address: int
    login_failure_window: float
    drain: float
    metrics_token: str | None
