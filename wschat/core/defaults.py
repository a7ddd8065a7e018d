"""The defaults of the chat server's and clients' command line, defined once: the CLI, the
server, the stores and the clients read them from here (PROTOCOL.md, "Command line"). No I/O.

The knobs of one package live with it: the Redis options in :mod:`wschat.cluster.redis_defaults`,
the probe's timeout in :mod:`wschat.teaching.probe.api`, the replica's port in
:mod:`wschat.teaching.replica`; tests/test_cli.py checks that the command line uses them."""

from __future__ import annotations

from typing import Final

__all__ = [
    "BURST_PER_RATE",
    "CLOSE_TIMEOUT",
    "DB_PATH",
    "DRAIN",
    "HISTORY",
    "HOST",
    "LOGIN_FAILURES_PER_ADDRESS",
    "LOGIN_FAILURES_PER_NAME",
    "LOGIN_FAILURE_WINDOW",
    "LOGIN_TIMEOUT",
    "MAX_FRAME",
    "MAX_PENDING",
    "MAX_REPLAY",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "PORT",
    "RATE_LIMIT",
    "SLOW_CLOSE_TIMEOUT",
    "TOKEN_TTL",
    "TYPING_INTERVAL",
    "UNREAD_CAP",
    "WS_PATH",
]

#: The path of the chat's WebSocket endpoint (the rest of the port serves HTTP).
WS_PATH: Final = "/ws"

HOST: Final = "127.0.0.1"
PORT: Final = 8765
#: SQLite file of ``serve`` when neither ``--db`` nor ``--redis`` is given.
DB_PATH: Final = "wschat.db"

#: Sends per second per user; bursts of ``BURST_PER_RATE`` times as many.
RATE_LIMIT: Final = 50.0
BURST_PER_RATE: Final = 2.0
#: Messages a new login gets (plus the privates stored for it).
HISTORY: Final = 50
#: Most unread messages ``welcome.unread`` counts (a client shows more as 10,000+).
UNREAD_CAP: Final = 10_000
#: Seconds between two ``typing`` notices of one user that the server passes on.
TYPING_INTERVAL: Final = 1.0
#: Most missed messages a resume replays; past it, a new login's history.
MAX_REPLAY: Final = 10_000
#: Bytes waiting for a client that does not read before it is closed with 4008.
MAX_PENDING: Final = 1024 * 1024
#: Largest frame accepted from a client (a larger one closes with 1009).
MAX_FRAME: Final = 64 * 1024

PING_INTERVAL: Final = 20.0
PING_TIMEOUT: Final = 20.0
#: Seconds the server waits for a peer's answer to its close frame.
CLOSE_TIMEOUT: Final = 2.0
#: The same wait for a reader closed with 4008 (its close frame queues behind unread bytes).
SLOW_CLOSE_TIMEOUT: Final = 10.0
#: Seconds over which a stopping server spreads its 1012 closes (0: all at once with 1001).
DRAIN: Final = 0.0
#: Seconds a new connection has to send its login.
LOGIN_TIMEOUT: Final = 10.0
#: Failed logins allowed per name and per address within the window (seconds).
LOGIN_FAILURES_PER_NAME: Final = 10
LOGIN_FAILURES_PER_ADDRESS: Final = 50
LOGIN_FAILURE_WINDOW: Final = 60.0
#: Seconds a login token stays valid.
TOKEN_TTL: Final = 7 * 24 * 60 * 60

