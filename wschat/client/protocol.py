"""The chat client's state machine, without I/O: events in, frames and effects out.

:class:`ClientProtocol` is what a wschat client *decides*; :class:`~wschat.client.ChatClient`
(asyncio) and ``ChatConnection`` (the browser's ``wschat/static/chat_connection.js``, driving
its port ``ClientMachine``) only move bytes for it, as websockets' ``protocol.py`` is driven by
its asyncio connection. It owns the login (the token first, the password once if the token
is refused), the catch-up after ``welcome`` (the backlog barrier), the outbox and the answers
to resends, ``last_id`` and ``epoch`` for ``resume``, the read position, the ``drop``
request, and what follows a close: reconnect (when, to which URL) or finish (with which
error). The rules are PROTOCOL.md's and docs/decisions.md's.

Feed it :meth:`~ClientProtocol.connecting` once a connection is open (write the login frame
it returns first), :meth:`~ClientProtocol.receive` for each text frame, and
:meth:`~ClientProtocol.closed` when the connection ends (1006 for one that failed to open or
got no ``welcome`` in time), and the user's verbs. After each call write
:meth:`~ClientProtocol.frames_to_send` in order on the current connection, hand
:meth:`~ClientProtocol.events_received` to the user, and look at ``phase``: ``WAITING`` means
open a new connection as :attr:`~ClientProtocol.retry` says, ``FINISHED`` means stop
(:attr:`~ClientProtocol.error` says why; None after a logout or a close asked for).
``tests/client/client_vectors.json`` holds it and the browser's ``ClientMachine``
(``wschat/static/client_machine.js``) to one behaviour.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Literal

from wschat.client.effects import (
    LEAVING_CODES,
    RECONNECT_CODES,
    Confirmed,
    Meaning,
    Online,
    Output,
    Phase,
    Retry,
    Why,
    Write,
)
from wschat.client.events import (
    Disconnected,
    ErrorEvent,
    Event,
    Message,
    Read,
    Reconnected,
    Users,
    Welcome,
    parse_event,
)
from wschat.client.exceptions import ChatClientError, ConnectionLost, LoginError, NotAChatServer
from wschat.client.outbox import Outbox, random_refs
from wschat.core.commands import parse_command
from wschat.core.defaults import MAX_FRAME
from wschat.core.errors import CloseCode, ErrorCode
from wschat.core.model import is_later
from wschat.core.requests import Drop

__all__ = ["ClientProtocol"]


class ClientProtocol:
    """One user's chat client as a state machine (see the module doc for how to drive it).

    ``password`` and ``token``: at least one, and the token is used first when known.
    ``resume=(epoch, last_id)`` continues where an earlier client stopped; ``outbox`` (pairs of
    ref and frame) and ``delivered`` (the ids it showed) restore an earlier run's unanswered
    sends. ``new_ref(kind)`` makes the refs the client chooses (kinds ``send``, ``request``,
    ``sync``, ``drop``); tests pass a predictable one.

    State for callers: ``phase``, ``retry``, ``error``, ``token``, ``epoch``, ``last_id``,
    ``welcome`` (the latest), ``read`` (the welcome's position, then each later ``read``
    notice's, never backwards), ``unread`` (the welcome's count), ``close_code``, ``outbox``,
    ``drop_refused``; ``password`` and ``reconnect`` may be changed at any time.
    """

    def __init__(
        self,
        user: str,
        password: str | None = None,
        token: str | None = None,
        *,
        resume: tuple[str, str] | None = None,
        reconnect: bool = True,
        outbox: Iterable[tuple[str, str]] = (),
        delivered: Iterable[str] = (),
        new_ref: Callable[[str], str] | None = None,
    ) -> None:
        self.user, self.password, self.token, self.reconnect = user, password, token, reconnect
        self.epoch: str | None = resume[0] if resume else None
        self.last_id: str | None = resume[1] if resume else None
        self.welcome: Welcome | None = None
        self.read: str | None = None  # the user's read position, from the server
        self.unread = 0
        self.close_code: int | None = None
        self.phase = Phase.CLOSED
        self.retry: Retry | None = None
        self.error: ChatClientError | None = None
        self.outbox = Outbox(outbox, delivered)
        self.drop_refused: ErrorEvent | None = None
        self.login_kind: Literal["token", "password"] | None = None  # of the latest login
        self._new_ref = new_ref if new_ref is not None else random_refs()
        self._writes: list[Write] = []
        self._events: list[Output] = []
        self._gen = 0  # increases with every welcome, so a frame is written once on each
        self._attempts = 0  # reconnect attempts in this outage
        self._login_error: ErrorEvent | None = None
        self._resumed_from: str | None = None
        self._backlog_last: str | None = None
        self._seen_in_backlog = False
        self._barrier: str | None = None
        self._want_read: str | None = None  # a read position still to send
        self._dropping: str | None = None  # the ref of a drop waiting for its effect
        self._logging_out = False

    def frames_to_send(self) -> list[Write]:
        """The frames to write on the current connection, in order (each returned once)."""
        writes, self._writes = self._writes, []
        return writes

    def events_received(self) -> list[Output]:
        """What the user should see, in order (each returned once)."""
        events, self._events = self._events, []
        return events

    @property
    def ready(self) -> bool:
        """Logged in with the backlog over: sends go out at once."""
        return self.phase is Phase.READY

    @property
    def finished(self) -> bool:
        """No more connections: ``error`` says why."""
        return self.phase is Phase.FINISHED

    @property
    def dropping(self) -> bool:
        """A ``drop`` was written and neither the lost connection nor a refusal came yet."""
        return self._dropping is not None

    # ------------------------------------------------------------------ the connection

    def connecting(self) -> str | None:
        """A connection is open: return the login frame to write first (the token if known,
        else the password; ``resume`` when an epoch and a last id are known), or None when no
        credential is left (then ``FINISHED`` with a LoginError). After ``FINISHED`` this
        starts the client again (the browser's "reconnect" button)."""
        if self.phase in (Phase.OPENING, Phase.CATCHING_UP, Phase.READY):
            raise RuntimeError(f"a connection is already in use ({self.phase.value})")
        self.error, self._logging_out, self._login_error = None, False, None
        if self.token is not None:
            self.login_kind, secret = "token", self.token
        elif self.password is not None:
            self.login_kind, secret = "password", self.password
        else:
            self._finish(LoginError(ErrorCode.AUTH_FAILED, "no password and no valid token"))
            return None
        login: dict[str, object] = {"type": "login", "user": self.user, self.login_kind: secret}
        self._resumed_from = None
        if self.epoch is not None and self.last_id is not None:
            login["resume"] = {"epoch": self.epoch, "after": self.last_id}
            self._resumed_from = self.last_id
        self.phase, self.retry = Phase.OPENING, None
        return json.dumps(login, ensure_ascii=False)

    def receive(self, raw: str) -> Meaning:
        """A text frame from the server; returns what it meant."""
        if self.phase is Phase.OPENING:
            return self._login_answer(raw)
        if self.phase not in (Phase.CATCHING_UP, Phase.READY):
            return "ignored"  # a frame of a connection given up
        event = parse_event(raw)
        if event is None or isinstance(event, Welcome):
            return "ignored"
        if isinstance(event, Message):
            return self._message(event)
        return self._notice(event)

    def closed(self, code: int, reason: str = "") -> None:
        """The connection ended with ``code`` (1006: no close frame, or it never opened)."""
        self.close_code, self._dropping = code, None
        self._writes.clear()
        if self.phase is Phase.FINISHED:
            return
        if self.phase in (Phase.CLOSED, Phase.OPENING, Phase.WAITING):
            self._attempt_ended(code, reason)
        elif self._logging_out or code == CloseCode.NORMAL:
            self._finish(None)
        elif not self.reconnect or code not in RECONNECT_CODES:
            self._finish(ConnectionLost(code, reason))
        else:
            self._events.append(Disconnected(code, reason))
            self._attempts = 0
            self._wait(code in LEAVING_CODES)

    # ------------------------------------------------------------------ the user's verbs

    def send(self, text: str, to: str | None = None, ref: str | None = None) -> str:
        """A chat line, as :meth:`submit`. Raises ValueError for ``/cair``: only the lost
        connection answers it, so resent from the outbox it would cut every new connection."""
        if to is None and text.startswith("/") and isinstance(parse_command(text, None), Drop):
            raise ValueError("/cair cuts the connection and has no answer: call drop() instead")
        frame: dict[str, object] = {"type": "send", "text": text}
        if to is not None:
            frame["to"] = to
        return self.submit(frame, ref)

    def submit(self, obj: dict[str, object], ref: str | None = None) -> str:
        """Queue a frame that has an answer (``send``, ``who``, ``history``) in the outbox
        with a ``ref``; return the ref. Written now when ready, else after the next backlog,
        and again after every reconnect until its answer comes. Raises ValueError for a frame
        over 64 KiB (the server would close the connection with 1009)."""
        ref = ref if ref is not None else self._new_ref("send")
        frame = json.dumps({**obj, "ref": ref}, ensure_ascii=False)
        if len(frame.encode("utf-8", "surrogatepass")) > MAX_FRAME:
            raise ValueError("message too long: a frame may not exceed 64 KiB")
        item = self.outbox.add(ref, frame)
        if self.ready and item.gen != self._gen:
            item.gen = self._gen
            self._write(item.frame, "send")
        return ref

    def request(self, obj: dict[str, object], ref: str | None = None) -> str | None:
        """Write a frame with a ``ref`` now, never resent (the browser's ``history`` page: it
        means nothing in another epoch); None when not ready."""
        if not self.ready:
            return None
        ref = ref if ref is not None else self._new_ref("request")
        self._write(json.dumps({**obj, "ref": ref}, ensure_ascii=False), "request")
        return ref

    def mark_read(self, entry_id: str) -> None:
        """The user has read up to ``entry_id``: written now when ready, else the latest one
        asked for goes out after the next backlog. No ref, no outbox: no answer may come."""
        self._want_read = entry_id
        if self.ready:
            self._write_read()

    def typing(self, to: str | None = None) -> bool:
        """The user is typing (to everyone, or ``to``): written only when ready; True if so."""
        if not self.ready:
            return False
        frame = {"type": "typing"} if to is None else {"type": "typing", "to": to}
        self._write(json.dumps(frame, ensure_ascii=False), "typing")
        return True

    def drop(self) -> str:
        """Ask the server to cut this connection as a network failure would (PROTOCOL.md v4);
        return the request's ref. Never in the outbox. Raises RuntimeError when not ready."""
        if not self.ready:
            raise RuntimeError("no open connection to drop")
        self._dropping = self._new_ref("drop")
        self.drop_refused = None
        self._write(json.dumps({"type": "drop", "ref": self._dropping}), "drop")
        return self._dropping

    def logout(self) -> bool:
        """Forget the token; True when a ``logout`` frame was queued (logged in: the server
        revokes the token and closes with 1000), else the client finishes at once."""
        self.token = None
        if self.phase in (Phase.CATCHING_UP, Phase.READY):
            self._logging_out = True
            self._write(json.dumps({"type": "logout"}), "logout")
            return True
        if self.phase is not Phase.FINISHED:
            self._finish(None)
        return False

    def close(self, error: ChatClientError | None = None) -> None:
        """The caller ends the client (``error``: why, when it is not the caller's wish).
        An error it already finished with is kept."""
        if self.phase is not Phase.FINISHED:
            self._finish(error)

    # ------------------------------------------------------------------ inside

    def _write(self, frame: str, why: Why) -> None:
        self._writes.append(Write(frame, why))

    def _write_read(self) -> None:
        if self._want_read is not None:
            self._write(json.dumps({"type": "read", "id": self._want_read}, ensure_ascii=False), "read")
            self._want_read = None

    def _finish(self, error: ChatClientError | None) -> None:
        self.phase, self.retry, self.error, self._dropping = Phase.FINISHED, None, error, None
        self._writes.clear()

    def _wait(self, next_url: bool, *, at_once: bool = False) -> None:
        self.phase = Phase.WAITING
        self.retry = Retry(self._attempts, next_url, at_once)
        if not at_once:
            self._attempts += 1

    def _attempt_ended(self, code: int, reason: str) -> None:
        """A connection that never got its ``welcome`` ended."""
        refused, self._login_error = self._login_error, None
        if refused is not None or code == CloseCode.LOGIN_FAILED:
            self._refused(refused, reason)
        else:  # a network failure, whatever the code: try again (the caller may give up)
            self._wait(next_url=True)

    def _refused(self, error: ErrorEvent | None, reason: str) -> None:
        code = error.code if error is not None else ErrorCode.LOGIN_REQUIRED
        detail = error.detail if error is not None else reason
        if code == ErrorCode.AUTH_FAILED and self.login_kind == "token":
            self.token = None  # expired, revoked, or the server lost its accounts
            if self.password is not None:
                self._wait(next_url=False, at_once=True)
                return
        self._finish(LoginError(code, detail))

    def _login_answer(self, raw: str) -> Meaning:
        answer = parse_event(raw)
        if isinstance(answer, Welcome):
            self._welcomed(answer)
            return "welcome"
        if isinstance(answer, ErrorEvent):
            self._login_error = answer  # the close (4001) follows
            return "refused"
        self._finish(NotAChatServer(raw))
        return "unexpected"

    def _welcomed(self, welcome: Welcome) -> None:
        first = self.welcome is None
        resumed_from = self._resumed_from if welcome.epoch == self.epoch else None
        self.welcome, self.token, self.epoch = welcome, welcome.token, welcome.epoch
        self.read, self.unread = welcome.read, welcome.unread
        if not welcome.recovered:
            self.last_id = None  # history follows; an old position means nothing now
        self._gen += 1
        self._attempts = 0
        if not first:
            self._events.append(Reconnected(welcome))
        self._backlog_last = welcome.last
        self._seen_in_backlog = False
        if welcome.last is None or (welcome.recovered and resumed_from == welcome.last):
            self._backlog_over()  # nothing to catch up with
            return
        # The message with id welcome.last ends the backlog; when it is never sent (a server
        # with no history), the answer to this who does: it comes only after the backlog.
        self.phase = Phase.CATCHING_UP
        self._barrier = self._new_ref("sync")
        self._write(json.dumps({"type": "who", "ref": self._barrier}), "barrier")

    def _backlog_over(self) -> None:
        if not self._seen_in_backlog and self._backlog_last is not None:
            # The server showed everything up to welcome.last it meant to show (e.g. no
            # history at all): resuming from there is exactly right.
            self.last_id = self._backlog_last
        self.phase = Phase.READY
        for item in self.outbox.unsent(self._gen):
            why: Why = "send" if item.gen < 0 else "resend"
            item.gen = self._gen
            self._write(item.frame, why)
        self._write_read()

    def _message(self, message: Message) -> Meaning:
        # The answer to a resend whose original the caller already has (from a replay)
        # acknowledges the send: it is not a new message, nor the newest.
        repeat = self.outbox.is_repeat(message.id, message.ref)
        meaning: Meaning = "backlog" if self.phase is Phase.CATCHING_UP else "live"
        if not repeat:
            self.last_id = message.id
            self.outbox.delivered(message.id)
        self.outbox.acknowledge(message.ref)
        self._events.append(Confirmed(message) if repeat else message)
        if self.phase is Phase.CATCHING_UP:
            self._seen_in_backlog = True
            if message.id == self._backlog_last:
                self._backlog_over()
        return "confirmed" if repeat else meaning

    def _notice(self, event: Event) -> Meaning:
        if isinstance(event, Read) and is_later(event.id, self.read):
            self.read = event.id
        ref = getattr(event, "ref", None)
        if ref is not None and ref == self._dropping and isinstance(event, ErrorEvent):
            self._dropping, self.drop_refused = None, event  # instead of the cut: not an event
            return "drop_refused"
        meaning: Meaning = "barrier" if ref is not None and ref == self._barrier else "event"
        if meaning == "barrier" and isinstance(event, Users):
            self._events.append(Online(event.online))
        elif meaning == "event":
            self.outbox.acknowledge(ref)
            self._events.append(event)
        if self.phase is Phase.CATCHING_UP:
            self._backlog_over()  # the backlog holds messages only: this comes after it
        return meaning
