"""Why the terminal chat could not connect, one line per cause (wschat/client/connect_failure.py).

The subprocess tests in test_terminal.py show the common causes against real servers; these
cover each branch with the exception the libraries raise, built by hand.
"""

from __future__ import annotations

import errno
import socket
import ssl

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidHeader,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import Close
from websockets.http11 import Response

from wschat.client.connect_failure import describe_connect_failure
from wschat.client.exceptions import NotAChatServer
from wschat.client.tls_failure import looks_like_no_tls, tls_words

WS = "ws://127.0.0.1:8765/ws"
WSS = "wss://127.0.0.1:8765/ws"


def status(code: int, server: str | None = None) -> InvalidStatus:
    headers = Headers([("Server", server)] if server else [])
    return InvalidStatus(Response(code, "", headers, b""))


def bad_answer(cause: BaseException) -> InvalidMessage:
    error = InvalidMessage("did not receive a valid HTTP response")
    error.__cause__ = cause
    return error


def ssl_error(reason: str, text: str) -> ssl.SSLError:
    error = ssl.SSLError(1, f"[SSL: {reason}] {text} (_ssl.c:1006)")
    error.reason = reason  # set by the ssl module on real errors
    return error


CASES = [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), WS,
     "conexão recusada (o servidor está rodando?)"),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "wss://chat.invalid/ws",
     "o nome chat.invalid não foi encontrado (DNS)"),
    (TimeoutError(), WS, "tempo esgotado: o servidor não respondeu"),
    (ConnectionResetError(), WS, "o servidor derrubou a conexão"),
    (ConnectionResetError(), WSS, "o servidor não fala TLS nessa porta: tente ws://127.0.0.1:8765/ws"),
    (ssl_error("WRONG_VERSION_NUMBER", "wrong version number"), WSS,
     "o servidor não fala TLS nessa porta: tente ws://127.0.0.1:8765/ws"),
    (ssl.SSLEOFError(8, "EOF occurred in violation of protocol"), WSS,
     "o servidor não fala TLS nessa porta: tente ws://127.0.0.1:8765/ws"),
    (ssl_error("TLSV1_ALERT_PROTOCOL_VERSION", "tlsv1 alert protocol version"), WSS,
     "falha no TLS: tlsv1 alert protocol version"),
    (ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
                                     "failed: self-signed certificate (_ssl.c:1006)"), WSS,
     "o certificado TLS do servidor não foi aceito: certificate verify failed: self-signed "
     "certificate"),
    (status(404, "wschat"), "ws://127.0.0.1:8765/chat",
     "o servidor respondeu HTTP 404 Not Found em vez de 101: é um servidor wschat, e o endereço "
     "do chat nele é ws://127.0.0.1:8765/ws"),
    (status(403, "wschat"), WS, "o servidor respondeu HTTP 403 Forbidden em vez de 101"),
    (status(404, "nginx"), "ws://127.0.0.1:8765/chat",
     "o servidor respondeu HTTP 404 Not Found em vez de 101"),
    (status(599), WS, "o servidor respondeu HTTP 599 em vez de 101"),
    (bad_answer(EOFError("connection closed while reading HTTP status line")), WS,
     "o servidor fechou a conexão sem responder ao handshake; se ele usa TLS nessa porta, "
     "tente wss://127.0.0.1:8765/ws"),
    (bad_answer(EOFError()), WSS, "o servidor fechou a conexão sem responder ao handshake"),
    (bad_answer(ValueError("unsupported protocol; expected HTTP/1.1: HTTP/1.0 404")), WS,
     "resposta inválida ao handshake WebSocket: unsupported protocol; expected HTTP/1.1: "
     "HTTP/1.0 404"),
    (ConnectionClosedOK(Close(1000, ""), None), WS,
     "o servidor fechou a conexão sem responder ao login (código 1000)"),
    (ConnectionClosedOK(Close(4000, "não"), None), WS,
     "o servidor fechou a conexão sem responder ao login (código 4000, 'não')"),
    (ConnectionClosedError(None, None), WS, "o servidor fechou a conexão sem responder ao login"),
    (NotAChatServer("Olá mundo!"), WS,
     "esse servidor não é um chat wschat: respondeu ao login com 'Olá mundo!' (para ver o que "
     f"um servidor WebSocket manda: python -m wschat probe {WS})"),
    (InvalidURI("ws://x y", "bad"), WS, "URL inválida: ws://x y isn't a valid URI: bad"),
    (InvalidHeader("Upgrade", "h2c"), WS, "handshake WebSocket inválido: invalid Upgrade header: h2c"),
    (OSError(), WS, "OSError"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), WS, "Network is unreachable"),
]


@pytest.mark.parametrize(("error", "url", "line"), CASES, ids=lambda v: type(v).__name__)
def test_each_cause_is_named_in_one_line(error: BaseException, url: str, line: str) -> None:
    assert describe_connect_failure(error, url) == line


def test_tls_words_drop_openssl_s_decoration() -> None:
    assert tls_words(ssl_error("WRONG_VERSION_NUMBER", "wrong version number")) == (
        "wrong version number"
    )
    assert tls_words(ssl.SSLError()) == "SSLError"


@pytest.mark.parametrize(
    ("error", "no_tls"),
    [
        (ssl_error("WRONG_VERSION_NUMBER", "x"), True),
        (ssl_error("RECORD_LAYER_FAILURE", "x"), True),
        (ssl_error("PACKET_LENGTH_TOO_LONG", "x"), True),
        (ssl.SSLEOFError(8, "EOF"), True),
        (ConnectionResetError(), True),
        (ssl_error("TLSV1_ALERT_INTERNAL_ERROR", "x"), False),
        (ssl.SSLCertVerificationError(1, "x"), False),
        (ConnectionRefusedError(), False),
        (TimeoutError(), False),
    ],
)
def test_looks_like_no_tls(error: BaseException, no_tls: bool) -> None:
    assert looks_like_no_tls(error) is no_tls
