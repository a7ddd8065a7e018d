"""``python -m wschat``: the command line of PROTOCOL.md.

Each subcommand parses its arguments here and hands them to the module that does the work.
Errors a user can cause are printed as one line on stderr with a non-zero exit status;
a traceback is never shown to a user.
"""

from __future__ import annotations

import argparse
import math
import os
import ssl
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from wschat.cluster import redis_defaults as cluster_defaults
from wschat.core import defaults
from wschat.teaching import replica as replica_defaults
from wschat.teaching.probe import api as probe_defaults

if TYPE_CHECKING:
    from wschat.server.bus import Bus
    from wschat.store import Store

__all__ = ["build_parser", "main"]


#: The number type an option's validator returns.
N = TypeVar("N", int, float)


def _number(kind: Callable[[str], N], allowed: Callable[[N], bool], must: str) -> Callable[[str], N]:
    """An argparse ``type=`` for a finite number of ``kind`` (int or float) that ``allowed``
    accepts; bad text is one line naming the option, the value and ``must``."""
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {noun}: {text!r}") from None
        if not (math.isfinite(value) and allowed(value)):
            raise argparse.ArgumentTypeError(f"{must}: {text!r}")
        return value

    return parse


# Every number option of every subcommand is one of these.
_positive_float = _number(float, lambda value: value > 0, "must be a positive number")
_positive_int = _number(int, lambda value: value >= 1, "must be 1 or more")
_non_negative_float = _number(float, lambda value: value >= 0, "must be 0 or more")
_non_negative_int = _number(int, lambda value: value >= 0, "must be 0 or more")
_port = _number(int, lambda value: 0 <= value <= 65535, "a port is 0-65535")


#: How a URL without a scheme is read (wschat.core.urls), for --help.
_BARE_HOST = (
    "A bare host means wss://HOST/, or ws://HOST/ when it is this machine or the local network"
    " (localhost, 127.0.0.1, 10.x, 172.16-31.x, 192.168.x, link-local, *.local)."
)


def _probe_exit_codes() -> str:
    """The probe's exit codes for its --help, from the errors that carry them."""
    from wschat.teaching.probe.failures import EXIT_CODES

    lines = [
        textwrap.fill(summary, _WIDTH, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
        for code, (_kind, summary) in EXIT_CODES.items()
    ]
    return "exit status:\n" + "\n".join(lines)


def _fill(*paragraphs: str) -> str:
    """Paragraphs for a --help that keeps line breaks (RawDescriptionHelpFormatter)."""
    return "\n\n".join(textwrap.fill(paragraph, _WIDTH) for paragraph in paragraphs)


#: Width of the text blocks of --help that are filled here rather than by argparse.
_WIDTH = 79


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="python -m wschat",
        description="Learn WebSockets by working software: probe, replica, chat server.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    probe = sub.add_parser(
        "probe",
        help="connect to a WebSocket server and print the messages it sends",
        description=_fill(
            "Connect to URL and print every message received until --count messages or "
            "--timeout seconds.",
            f"{_BARE_HOST} http(s):// means ws(s)://. On a wschat chat server an address "
            "without a path means its endpoint /ws, and the probe says at once that such a "
            "server wants a login (send one with --send '/login NAME PASSWORD').",
            "Free hosts sleep when idle and can take up to a minute to wake: after 3 s without "
            "an answer a line on stderr says the probe is still waiting, and an HTTP 5xx or a "
            "reset during the handshake is retried once.",
        ),
        epilog=_probe_exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe.add_argument("url", metavar="URL",
                       help="e.g. websocket-fh6l.onrender.com, 127.0.0.1:8766 or ws://HOST:PORT/PATH")
    probe.add_argument("--timeout", type=_positive_float, default=probe_defaults.DEFAULT_TIMEOUT, metavar="S",
                       help="bound on the whole attempt, name lookup and the one retry included"
                            f" (default {probe_defaults.DEFAULT_TIMEOUT:g}: enough for a sleeping free host to wake)")
    probe.add_argument("--count", type=_positive_int, default=1, metavar="N",
                       help="stop after N messages (default 1)")
    probe.add_argument("--send", metavar="TEXT", help="send TEXT once connected")
    probe.add_argument("--json", action="store_true",
                       help="print one JSON object per message")

    serve = sub.add_parser(
        "serve",
        help="run the chat server",
        description="Chat for logged-in users: public, private, many tabs, resume without gaps.",
    )
    serve.add_argument("--host", default=defaults.HOST,
                       help=f"address to listen on (default {defaults.HOST}; 0.0.0.0: all interfaces)")
    serve.add_argument("--port", type=_port, default=defaults.PORT,
                       help=f"port (default {defaults.PORT}); 0 picks a free port")
    serve.add_argument("--db", default=None, metavar="PATH",
                       help=f"SQLite file (default {defaults.DB_PATH}), or :memory:")
    serve.add_argument("--redis", metavar="URL",
                       help="redis://HOST:PORT/N: share the log with other serve processes"
                       " on one Redis (instead of --db)")
    serve.add_argument("--redis-prefix", default=cluster_defaults.REDIS_PREFIX, metavar="P",
                       help=f"prefix of every Redis key (default {cluster_defaults.REDIS_PREFIX})")
    serve.add_argument("--redis-maxlen", type=_non_negative_int, default=cluster_defaults.REDIS_MAXLEN, metavar="N",
                       help=f"keep about N messages in the stream (default {cluster_defaults.REDIS_MAXLEN}; 0: no bound)")
    serve.add_argument("--redis-max-age", type=_non_negative_float, default=cluster_defaults.REDIS_MAX_AGE, metavar="S",
                       help=f"drop messages older than S seconds (default {cluster_defaults.REDIS_MAX_AGE:g}: no bound)")
    serve.add_argument("--node-ttl", type=_positive_float, default=cluster_defaults.NODE_TTL, metavar="S",
                       help="with --redis: a node silent for S seconds is dead and its users"
                       f" go offline (default {cluster_defaults.NODE_TTL:g})")
    serve.add_argument("--rate-limit", type=_non_negative_float, default=defaults.RATE_LIMIT, metavar="N",
                       help=f"sends per second per user (default {defaults.RATE_LIMIT:g},"
                       f" bursts of {defaults.BURST_PER_RATE:g}N); 0 turns it off")
    serve.add_argument("--history", type=_non_negative_int, default=defaults.HISTORY, metavar="N",
                       help=f"messages a new login gets (default {defaults.HISTORY}), plus privates kept for it")
    serve.add_argument("--max-replay", type=_non_negative_int, default=defaults.MAX_REPLAY, metavar="N",
                       help="most missed messages a resume replays; past it, history"
                            f" (default {defaults.MAX_REPLAY})")
    serve.add_argument("--max-pending", type=_positive_int, default=defaults.MAX_PENDING, metavar="BYTES",
                       help="bytes waiting for a client that does not read before it is closed"
                            f" with 4008 (default {defaults.MAX_PENDING})")
    serve.add_argument("--ping-interval", type=_non_negative_float, default=defaults.PING_INTERVAL, metavar="S",
                       help=f"keepalive ping every S seconds (default {defaults.PING_INTERVAL:g});"
                       " 0 turns pings off")
    serve.add_argument("--ping-timeout", type=_non_negative_float, default=defaults.PING_TIMEOUT, metavar="S",
                       help="a client whose pong does not come within S seconds is dropped"
                            f" (default {defaults.PING_TIMEOUT:g}; 0: never)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="also accept browser connections from ORIGIN (repeatable)")
    serve.add_argument("--certfile", metavar="F",
                       help="TLS certificate (PEM): serve wss:// and https://")
    serve.add_argument("--keyfile", metavar="F", help="the certificate's private key (PEM)")
    serve.add_argument("--drain", type=_non_negative_float, default=defaults.DRAIN, metavar="SECONDS",
                       help="on SIGTERM/SIGINT stop admitting (/healthz answers 503 draining),"
                       " close connections with 1012 spread evenly over SECONDS, then exit 0"
                       f" (default {defaults.DRAIN:g}: close all at once with 1001)")
    serve.add_argument("--metrics-token", metavar="TOKEN",
                       default=os.environ.get("WSCHAT_METRICS_TOKEN") or None,
                       help="GET /metrics also answers, from any address, a request with"
                       " 'Authorization: Bearer TOKEN' (or set WSCHAT_METRICS_TOKEN); without it"
                       " only the loopback address may read /metrics")
    serve.add_argument("--log-level", default="info", type=str.lower,  # INFO and info alike
                       choices=["debug", "info", "warning", "error", "critical"], metavar="LEVEL",
                       help="debug, info (default), warning, error or critical; any case")

    chat = sub.add_parser(
        "chat",
        help="chat from the terminal",
        description="A line-based chat client: /msg NAME TEXT, /who, /help, /quit.",
    )
    chat.add_argument("url", metavar="URL",
                      help="the server, e.g. 127.0.0.1:8765 or ws://127.0.0.1:8765/ws (without a"
                      f" path: /ws). {_BARE_HOST}")
    chat.add_argument("--user", required=True, metavar="NAME")
    chat.add_argument("--password", metavar="P",
                      help="or set WSCHAT_PASSWORD; otherwise you are asked")

    replica = sub.add_parser(
        "replica",
        help="run an offline stand-in for the test's server",
        description="Greets every connection with one message and never echoes.",
    )
    replica.add_argument("--host", default=defaults.HOST, help=f"default {defaults.HOST}")
    replica.add_argument("--port", type=_port, default=replica_defaults.PORT,
                         help=f"default {replica_defaults.PORT}; 0 picks a free port")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "probe":
            from wschat.teaching.probe import run_cli

            return run_cli(args)
        if args.command == "serve":
            return _serve(args)
        if args.command == "chat":
            from wschat.client.terminal import run_cli as run_chat

            return run_chat(args)
        if args.command == "replica":
            from wschat.teaching.replica import run_replica

            run_replica(args.host, args.port, lambda line: print(line, flush=True))
            return 0
    except OSError as error:  # e.g. the replica's port is taken: one line, no traceback
        reason = None
        if args.command == "replica":
            from wschat.server.run import cannot_listen

            reason = cannot_listen(error, args.host, args.port)
        print(f"wschat {args.command}: {reason or error.strerror or error}", file=sys.stderr)
        return 1
    raise AssertionError(f"unhandled command {args.command!r}")


def _serve(args: argparse.Namespace) -> int:
    from wschat.server.config import ServerConfig
    from wschat.server.run import CannotListen, run_serve, setup_logging
    from wschat.server.supervise import TaskFailed
    from wschat.store import StoreError, open_store

    if args.redis is not None and args.db is not None:
        print("wschat serve: --db and --redis exclude each other", file=sys.stderr)
        return 2
    if (args.certfile is None) != (args.keyfile is None):
        print("wschat serve: --certfile and --keyfile go together", file=sys.stderr)
        return 2
    setup_logging(args.log_level)
    config = ServerConfig(
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        history=args.history,
        max_replay=args.max_replay,
        max_pending=args.max_pending,
        ping_interval=args.ping_interval or None,
        ping_timeout=args.ping_timeout or None,
        allow_origins=tuple(args.allow_origin),  # server.http.origin_allowed normalises them
        certfile=args.certfile,
        keyfile=args.keyfile,
        drain=args.drain,
        metrics_token=args.metrics_token,
    )
    store: Store
    bus: Bus | None = None
    try:
        if args.redis is not None:
            store, bus = _redis_node(args)
        else:
            store = open_store(defaults.DB_PATH if args.db is None else args.db)
        run_serve(config, store, lambda line: print(line, flush=True), bus=bus)
    except ValueError as error:  # e.g. a --redis URL that is not one
        print(f"wschat serve: {error}", file=sys.stderr)
        return 2
    except (StoreError, CannotListen) as error:
        print(f"wschat serve: {error}", file=sys.stderr)
        return 1
    except ssl.SSLError as error:
        print(f"wschat serve: cannot load certificate: {error}", file=sys.stderr)
        return 1
    except TaskFailed as error:  # its traceback is in the log above
        print(f"wschat serve: stopped: {error}", file=sys.stderr)
        return 1
    return 0


def _redis_node(args: argparse.Namespace) -> tuple[Store, Bus]:
    """The store and bus of one node on ``--redis``; a clear error if redis-py is missing."""
    from wschat.store import StoreError

    try:
        from wschat.cluster import RedisConfig
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "redis":
            raise
        raise StoreError(
            "--redis needs the redis extra: pip install 'wschat[redis]'"
        ) from None
    config = RedisConfig(args.redis, args.redis_prefix, args.redis_maxlen, args.redis_max_age,
                         args.node_ttl)
    return config.node()
