"""A synchronous WebSocket probe: connect, read what the server says, name what went wrong.

:func:`probe` opens one connection and returns a :class:`ProbeResult` (the handshake's status,
headers, subprotocol and extensions, the connect time, and every message received with the
time it arrived), or raises one :class:`ProbeError` subclass saying exactly which step failed.
It does each step itself so that a failure can be named and the timeout can bound them all:

1. name lookup (in a daemon thread, because ``getaddrinfo`` ignores timeouts);
2. TCP connect to the resolved address;
3. TLS handshake for ``wss://`` (certificate checked against the system's trusted CAs);
4. the WebSocket handshake, by websocket-client over that socket (HTTP redirects are
   followed here, up to :data:`MAX_REDIRECTS`, each from step 1 again);
5. optionally one text message sent, then reading until ``count`` messages or the timeout.

A wschat chat server is recognised by the ``Server: wschat`` header of its answers: its
browser page, at an address without a path, leads to its endpoint ``/ws`` (as for
``python -m wschat chat``), and without a message to send, :class:`LoginRequired` says at
once that it wants a login.

Waking a sleeping host. Free hosting tiers (the internship test's server is on one) put a
service to sleep after about 15 minutes without traffic; the next connection wakes it, and the
answer to its handshake can take up to about a minute. So, whatever the URL:

- the default ``timeout`` is :data:`DEFAULT_TIMEOUT` (60 s), all of it available to connect
  and handshake;
- ``on_progress`` is called once, with :data:`PROGRESS_MESSAGE`, when the connection is still
  not open after :data:`PROGRESS_AFTER` seconds, so that a person knows why nothing shows;
- a failure that a waking host causes in the WebSocket handshake (an HTTP 5xx status, the
  connection reset, or a timeout from the network rather than from the probe's own deadline)
  is retried once, from the name lookup, within the same deadline. A 4xx status, a name not
  found, a TLS failure or a refusal is never retried: trying again would not change it.

The modules, one job each: :mod:`~wschat.teaching.probe.failures` (what can go wrong, with
exit codes), :mod:`~wschat.teaching.probe.attempt` (steps 1 to 4),
:mod:`~wschat.teaching.probe.exchange` (step 5 and the close), :mod:`~wschat.teaching.probe.api`
(:func:`probe`), :mod:`~wschat.teaching.probe.result` (what it returns),
:mod:`~wschat.teaching.probe.command` (``python -m wschat probe``; its exit codes are in
docs/probe.md).
"""

from __future__ import annotations

from wschat.teaching.probe.api import DEFAULT_TIMEOUT, PROGRESS_AFTER, PROGRESS_MESSAGE, probe
from wschat.teaching.probe.attempt import MAX_REDIRECTS, Resolver
from wschat.teaching.probe.command import run_cli
from wschat.teaching.probe.failures import (
    ClosedBeforeMessage,
    ConnectionFailed,
    ConnectionRefused,
    HandshakeRejected,
    LoginRequired,
    NameNotFound,
    OfflineBlocked,
    ProbeError,
    ProbeTimeout,
    TLSFailure,
)
from wschat.teaching.probe.result import (
    ProbeResult,
    ReceivedMessage,
    format_message,
    parse_extensions,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "PROGRESS_AFTER",
    "PROGRESS_MESSAGE",
    "ClosedBeforeMessage",
    "ConnectionFailed",
    "ConnectionRefused",
    "HandshakeRejected",
    "LoginRequired",
    "NameNotFound",
    "OfflineBlocked",
    "ProbeError",
    "ProbeResult",
    "ProbeTimeout",
    "ReceivedMessage",
    "Resolver",
    "TLSFailure",
    "format_message",
    "parse_extensions",
    "probe",
    "run_cli",
]
