"""Why the terminal chat could not connect, in one line of Brazilian Portuguese that names the
cause and, where one is likely, the fix: ``ws://`` for a plain server reached with ``wss://``
(and the other way round), the ``/ws`` endpoint of a wschat server reached at another path,
``python -m wschat probe`` for a server that is not a chat.

Used by :mod:`wschat.client.terminal` after :meth:`~wschat.client.ChatClient.connect` failed.
"""

from __future__ import annotations

import socket
import ssl
from http import HTTPStatus

from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)

from wschat.client.exceptions import NotAChatServer
from wschat.client.tls_failure import looks_like_no_tls, tls_words
from wschat.core.urls import chat_endpoint, is_chat_server, split_url, swap_tls

__all__ = ["describe_connect_failure"]


def describe_connect_failure(error: BaseException, url: str) -> str:
    """The cause of ``error``, raised while connecting to ``url`` (a normalised ``ws://`` or
    ``wss://`` URL), in one line; never empty."""
    secure = url.startswith("wss://")
    if isinstance(error, NotAChatServer):
        return (
            f"esse servidor não é um chat wschat: respondeu ao login com {error.answer!r:.80} "
            f"(para ver o que um servidor WebSocket manda: python -m wschat probe {url})"
        )
    if isinstance(error, InvalidStatus):
        return _status(error, url)
    if isinstance(error, InvalidMessage):
        return _bad_answer(error, url)
    if isinstance(error, ConnectionClosed):
        return _closed(error)
    if isinstance(error, InvalidURI):
        return f"URL inválida: {error}"
    if isinstance(error, InvalidHandshake):
        return f"handshake WebSocket inválido: {error}"
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = getattr(error, "verify_message", None) or tls_words(error)
        return f"o certificado TLS do servidor não foi aceito: {reason}"
    if secure and looks_like_no_tls(error):
        return f"o servidor não fala TLS nessa porta: tente {swap_tls(url)}"
    if isinstance(error, ssl.SSLError):
        return f"falha no TLS: {tls_words(error)}"
    return _network(error, url)


def _status(error: InvalidStatus, url: str) -> str:
    status = error.response.status_code
    try:
        shown = f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        shown = str(status)
    line = f"o servidor respondeu HTTP {shown} em vez de 101"
    if is_chat_server(error.response.headers.get("Server")) and chat_endpoint(url) != url:
        line += f": é um servidor wschat, e o endereço do chat nele é {chat_endpoint(url)}"
    return line


def _bad_answer(error: InvalidMessage, url: str) -> str:
    """No HTTP answer to the handshake (websockets puts the why in ``__cause__``)."""
    if isinstance(error.__cause__, EOFError):
        line = "o servidor fechou a conexão sem responder ao handshake"
        if not url.startswith("wss://"):  # what a TLS server does with plain HTTP
            line += f"; se ele usa TLS nessa porta, tente {swap_tls(url)}"
        return line
    cause = error.__cause__ or error
    return f"resposta inválida ao handshake WebSocket: {str(cause) or type(cause).__name__}"


def _closed(error: ConnectionClosed) -> str:
    received = error.rcvd
    if received is None:
        return "o servidor fechou a conexão sem responder ao login"
    reason = f", {received.reason!r}" if received.reason else ""
    return f"o servidor fechou a conexão sem responder ao login (código {received.code}{reason})"


def _network(error: BaseException, url: str) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "conexão recusada (o servidor está rodando?)"
    if isinstance(error, socket.gaierror):
        return f"o nome {split_url(url).host} não foi encontrado (DNS)"
    if isinstance(error, TimeoutError):
        return "tempo esgotado: o servidor não respondeu"
    if isinstance(error, ConnectionResetError | ConnectionAbortedError):
        return "o servidor derrubou a conexão"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
