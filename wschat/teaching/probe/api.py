""":func:`probe`: one connection from URL to the last message read, within one timeout."""

from __future__ import annotations

import math
import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final

from wschat.core.urls import split_url
from wschat.teaching.probe.attempt import Attempt, Resolver
from wschat.teaching.probe.exchange import Session
from wschat.teaching.probe.result import ProbeResult, ReceivedMessage

__all__ = ["DEFAULT_TIMEOUT", "PROGRESS_AFTER", "PROGRESS_MESSAGE", "probe"]

#: Seconds a probe may take by default (``probe()`` and ``python -m wschat probe``), whatever
#: the URL: a free host asleep takes up to about a minute to answer the first handshake.
DEFAULT_TIMEOUT: Final = 60.0

#: Seconds without an open connection before ``on_progress`` is called (once).
PROGRESS_AFTER = 3.0

#: What ``on_progress`` is called with.
PROGRESS_MESSAGE = (
    "waiting for the server to answer "
    "(free hosts sleep when idle and can take up to a minute to wake)"
)


def probe(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    count: int = 1,
    send: str | None = None,
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    resolve: Resolver = socket.getaddrinfo,
    on_message: Callable[[ReceivedMessage], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> ProbeResult:
    """Connect to ``url``, read up to ``count`` messages within ``timeout`` seconds, close.

    ``url`` is normalised first (:func:`~wschat.core.urls.normalize_url`: a bare host means
    ``wss://HOST/``, or ``ws://HOST/`` on this machine or the local network; bad text raises
    :class:`~wschat.core.urls.InvalidURL`). ``timeout`` bounds the whole attempt, name lookup,
    redirects and the one retry included (default 60 s, enough for a free host to wake up).
    ``send`` is sent once as a text message right after the handshake.
    ``subprotocols`` are offered in ``Sec-WebSocket-Protocol``; ``ssl_context`` replaces the
    default one (e.g. to trust a local test CA); ``resolve`` replaces ``socket.getaddrinfo``;
    ``on_message`` is called with each message as it arrives (to stream output).
    ``on_progress`` is called at most once, with :data:`PROGRESS_MESSAGE`, when the connection
    is not open yet after :data:`PROGRESS_AFTER` seconds (name lookup to WebSocket handshake);
    it runs in a helper thread, and the probe returns or raises only after it has returned.

    On a wschat chat server (``Server: wschat``), its page at an address without a path leads
    to its endpoint ``/ws``, and without ``send`` the probe raises
    :class:`~wschat.teaching.probe.failures.LoginRequired` as soon as the handshake is read
    (such a server sends nothing before a login).

    Returns when ``count`` messages arrived, or when the server closed or the timeout passed
    after at least one. Otherwise raises a :class:`~wschat.teaching.probe.failures.ProbeError`
    subclass. The connection is always closed on return (close code 1000 when it is still
    open).
    """
    if not (isinstance(timeout, int | float) and timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
    if not (isinstance(count, int) and count >= 1):
        raise ValueError(f"count must be 1 or more, not {count!r}")
    endpoint = split_url(url)
    deadline = time.monotonic() + timeout
    attempt = Attempt(
        timeout=timeout,
        deadline=deadline,
        subprotocols=list(subprotocols),
        ssl_context=ssl_context,
        resolve=resolve,
    )
    with _Progress(on_progress, PROGRESS_AFTER):
        session = Session(attempt.connect(endpoint), timeout=timeout, deadline=deadline)
    try:
        return session.read(count=count, send=send, on_message=on_message)
    finally:
        session.close()


class _Progress:
    """``with _Progress(callback, after):`` calls ``callback(PROGRESS_MESSAGE)`` once, from a
    timer thread, if the block is still running ``after`` seconds in; never once it has ended
    (the end waits for a call under way, so its line comes before anything printed after)."""

    def __init__(self, callback: Callable[[str], None] | None, after: float) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self._ended = False
        self._timer: threading.Timer | None = None
        if callback is not None:
            self._timer = threading.Timer(after, self._fire)
            self._timer.name = "wschat-probe-progress"
            self._timer.daemon = True  # never keeps a process alive

    def __enter__(self) -> None:
        if self._timer is not None:
            self._timer.start()

    def __exit__(self, *exc_info: object) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with self._lock:
            self._ended = True

    def _fire(self) -> None:
        with self._lock:
            if not self._ended and self._callback is not None:
                self._callback(PROGRESS_MESSAGE)
