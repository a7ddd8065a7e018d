"""What a failed TLS handshake says, for a one-line message: its words without OpenSSL's
decoration, and whether it is the mark of a server that does not speak TLS on that port
(``wss://`` to a plain ``ws://`` server), where the fix is ``ws://``.

Shared by the terminal chat (:mod:`wschat.client.connect_failure`) and the probe
(:mod:`wschat.teaching.probe.attempt`), each in its own language.
"""

from __future__ import annotations

import re
import ssl

__all__ = ["NOT_TLS_REASONS", "looks_like_no_tls", "tls_words"]

#: OpenSSL's reasons when the answer to the client's hello is not TLS: a plain HTTP reply
#: (``WRONG_VERSION_NUMBER``; OpenSSL 3.2 and later may say ``PACKET_LENGTH_TOO_LONG`` or
#: ``RECORD_LAYER_FAILURE``) or the connection closed on it (``UNEXPECTED_EOF_WHILE_READING``,
#: what a plain WebSocket server such as ``python -m wschat serve`` does).
NOT_TLS_REASONS = frozenset({
    "WRONG_VERSION_NUMBER",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
    "UNEXPECTED_EOF_WHILE_READING",
})

_DECORATION = re.compile(r"^\[[^\]]*\]\s*|\s*\(_ssl\.c:\d+\)$")


def tls_words(error: ssl.SSLError) -> str:
    """``wrong version number`` for ``[SSL: WRONG_VERSION_NUMBER] wrong version number
    (_ssl.c:1006)``: the words only; the class name when there are none."""
    text = str(error.args[-1]) if error.args else ""  # (errno, text) or (text,)
    return _DECORATION.sub("", text).strip() or type(error).__name__


def looks_like_no_tls(error: BaseException) -> bool:
    """True when ``error``, raised by a TLS handshake, is what a server without TLS on that
    port causes: a reply that is not TLS, or the connection closed or reset on the hello.
    A refused certificate or any other TLS alert is a TLS server's answer: False."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return False
    if isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return True
    if isinstance(error, ssl.SSLError):
        return getattr(error, "reason", None) in NOT_TLS_REASONS
    return isinstance(error, ConnectionResetError | ConnectionAbortedError | EOFError)
