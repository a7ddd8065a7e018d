"""The open WebSocket of a probe: send the one optional message, read until ``count`` messages,
the timeout or the server's close, then close with 1000.

A wschat chat server (``Server: wschat`` in its 101) sends nothing before a login: with no
message to send, the probe says so at once (:class:`~wschat.teaching.probe.failures.LoginRequired`)
instead of waiting for the server to give up on the login.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from websocket import (
    ABNF,
    WebSocketConnectionClosedException,
    WebSocketException,
    WebSocketTimeoutException,
)

from wschat.core.urls import is_chat_server
from wschat.core.wire import FrameError, parse_close
from wschat.teaching.probe.attempt import Opened, describe
from wschat.teaching.probe.failures import (
    ABNORMAL_CLOSURE,
    ClosedBeforeMessage,
    ConnectionFailed,
    LoginRequired,
    ProbeTimeout,
)
from wschat.teaching.probe.result import ProbeResult, ReceivedMessage, parse_extensions

__all__ = ["CLOSE_GRACE", "Session"]

#: Longest wait for the server's answer to our close frame. The close frame itself is
#: always sent, even when the timeout has just ended the read.
CLOSE_GRACE = 1.0


@dataclass(slots=True)
class Session:
    """An open WebSocket (``opened``) within the probe's ``timeout`` and its ``deadline``:
    :meth:`read` from it, then :meth:`close` it."""

    opened: Opened
    timeout: float
    deadline: float

    def read(
        self,
        *,
        count: int,
        send: str | None,
        on_message: Callable[[ReceivedMessage], None] | None,
    ) -> ProbeResult:
        """Send ``send`` if given, then read up to ``count`` messages, each passed to
        ``on_message``; what was learned. Raises a ProbeError when no message came."""
        started = time.monotonic()
        base = self._handshake_result()
        if send is None and is_chat_server(base.headers.get("server")):
            raise LoginRequired(url=self.url, partial=base)
        if send is not None:
            self._send(send, base)
        messages: list[ReceivedMessage] = []
        while len(messages) < count:
            frame = self._next_frame(base, messages)
            if isinstance(frame, ProbeResult):
                return frame
            opcode, data = frame
            if opcode == ABNF.OPCODE_CLOSE:
                return self._closed_by_server(base, messages, data)
            binary = opcode == ABNF.OPCODE_BINARY
            message = ReceivedMessage(
                data=bytes(data) if binary else bytes(data).decode("utf-8"),
                elapsed=time.monotonic() - started,
                binary=binary,
            )
            messages.append(message)
            if on_message is not None:
                on_message(message)
        return replace(base, messages=messages)

    def close(self) -> None:
        """Close with 1000 when still open (waiting briefly for the server's answer)."""
        ws = self.opened.ws
        if not ws.connected:
            ws.shutdown()  # type: ignore[no-untyped-call]
            return
        grace = max(0.1, min(CLOSE_GRACE, self.deadline - time.monotonic()))
        self.opened.sock.deadline = time.monotonic() + grace
        ws.close(status=1000, timeout=grace)

    @property
    def url(self) -> str:
        return self.opened.endpoint.url

    def _handshake_result(self) -> ProbeResult:
        """What the handshake told: status, headers, subprotocol, extensions, connect time."""
        ws = self.opened.ws
        response = ws.handshake_response
        headers: dict[str, str] = dict(response.headers) if response else {}
        return ProbeResult(
            url=self.url,
            status=response.status if response else 101,
            headers=headers,
            subprotocol=ws.getsubprotocol(),
            extensions=parse_extensions(headers.get("sec-websocket-extensions")),
            connect_time=self.opened.connect_time,
        )

    def _send(self, text: str, base: ProbeResult) -> None:
        try:
            self.opened.ws.send(text)
        except WebSocketTimeoutException:
            raise ProbeTimeout(
                "send of the text message", url=self.url, timeout=self.timeout, partial=base
            ) from None
        except (WebSocketException, OSError) as error:
            raise ConnectionFailed(f"sending failed: {describe(error)}", url=self.url, partial=base) from None

    def _next_frame(
        self, base: ProbeResult, messages: list[ReceivedMessage]
    ) -> tuple[int, bytes] | ProbeResult:
        """The next data or close frame; a finished result when the read must stop."""
        try:
            opcode, frame = self.opened.ws.recv_data_frame()
        except WebSocketTimeoutException:
            if messages:
                return replace(base, messages=messages, timed_out=True)
            raise ProbeTimeout(
                "wait for the first message",
                url=self.url,
                timeout=self.timeout,
                partial=replace(base, timed_out=True),
            ) from None
        except (WebSocketConnectionClosedException, ConnectionError):
            return self._closed(base, messages, ABNORMAL_CLOSURE, "")
        except (WebSocketException, OSError) as error:
            raise ConnectionFailed(
                f"WebSocket protocol error: {describe(error)}",
                url=self.url,
                partial=replace(base, messages=messages),
            ) from None
        return opcode, frame.data

    def _closed_by_server(
        self, base: ProbeResult, messages: list[ReceivedMessage], payload: bytes
    ) -> ProbeResult:
        """The server's close frame: its code and reason, read as RFC 6455 says."""
        try:
            close = parse_close(payload)
        except FrameError as error:  # websocket-client checks close frames; this is a backstop
            raise ConnectionFailed(
                f"WebSocket protocol error: {error}", url=self.url,
                partial=replace(base, messages=messages),
            ) from None
        return self._closed(base, messages, close.code, close.reason)

    def _closed(
        self, base: ProbeResult, messages: list[ReceivedMessage], code: int, reason: str
    ) -> ProbeResult:
        result = replace(base, messages=messages, close_code=code, close_reason=reason)
        if not messages:
            raise ClosedBeforeMessage(
                url=self.url, close_code=code, close_reason=reason, partial=result
            )
        return result
