"""``python -m wschat probe URL``: print each message as it arrives, one line per failure.

The messages go to stdout, one per line (or one JSON object per line with ``--json``); the
progress line and the failure line go to stderr. The exit status names the failure
(:data:`~wschat.teaching.probe.failures.ProbeError.exit_code`; 0 when a message arrived, 2 for
an invalid URL, 130 for Ctrl+C); docs/probe.md lists them.
"""

from __future__ import annotations

import argparse
import sys

from wschat.core.urls import InvalidURL
from wschat.teaching.probe.api import probe
from wschat.teaching.probe.failures import ProbeError
from wschat.teaching.probe.result import ReceivedMessage, format_message

__all__ = ["run_cli"]


def run_cli(args: argparse.Namespace) -> int:
    """``python -m wschat probe``: stream the messages to stdout; return the exit status.

    ``args`` has ``url``, ``timeout``, ``count``, ``send`` and ``json`` (see wschat.cli).
    """
    _tolerate_unencodable_output()

    def show(message: ReceivedMessage) -> None:
        print(format_message(message, as_json=args.json), flush=True)

    def waiting(message: str) -> None:
        print(f"wschat probe: {message}...", file=sys.stderr, flush=True)

    try:
        probe(args.url, timeout=args.timeout, count=args.count, send=args.send,
              on_message=show, on_progress=waiting)
    except InvalidURL as error:
        return _fail(f"invalid URL: {error}", 2)
    except ProbeError as error:
        return _fail(str(error), error.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    return 0


def _fail(line: str, status: int) -> int:
    print(f"wschat probe: {line}", file=sys.stderr, flush=True)
    return status


def _tolerate_unencodable_output() -> None:
    """A server may send characters the console cannot show (a cp1252 Windows console):
    print them escaped rather than crash with UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a stream that cannot change; leave it
                pass
