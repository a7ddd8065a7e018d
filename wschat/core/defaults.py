"""Every default of the command line, defined once: the CLI, the server, the stores and the
clients read them from here (PROTOCOL.md, "Command line"). No I/O."""

from __future__ import annotations

from typing import Final

__all__ = [
    "BURST_PER_RATE",
    "CLOSE_TIMEOUT",
    "DB_PATH",
    "HISTORY",
    "HOST",
    "LOGIN_FAILURES_PER_ADDRESS",
    "LOGIN_FAILURES_PER_NAME",
    "LOGIN_FAILURE_WINDOW",
    "LOGIN_TIMEOUT",
    "MAX_FRAME",
    "MAX_PENDING",
    "MAX_REPLAY",
    "NODE_TTL",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "PORT",
    "PROBE_TIMEOUT",
    "RATE_LIMIT",
    "REDIS_MAXLEN",
    "REDIS_MAX_AGE",
    "REDIS_PREFIX",
    "REPLICA_PORT",
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
REPLICA_PORT: Final = 8766
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
#: Seconds a new connection has to send its login.
LOGIN_TIMEOUT: Final = 10.0
#: Failed logins allowed per name and per address within the window (seconds).
LOGIN_FAILURES_PER_NAME: Final = 10
LOGIN_FAILURES_PER_ADDRESS: Final = 50
LOGIN_FAILURE_WINDOW: Final = 60.0
#: Seconds a login token stays valid.
TOKEN_TTL: Final = 7 * 24 * 60 * 60

REDIS_PREFIX: Final = "wschat:"
#: About this many messages are kept in the Redis stream (0: no bound).
REDIS_MAXLEN: Final = 1_000_000
#: Messages older than this many seconds are dropped from the stream (0: no bound).
REDIS_MAX_AGE: Final = 0.0
#: A node silent for this many seconds is dead and its users go offline.
NODE_TTL: Final = 15.0

#: The probe's budget for the whole attempt: free hosting tiers sleep when idle and take up
#: to about a minute to wake.
PROBE_TIMEOUT: Final = 60.0
