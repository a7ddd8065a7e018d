"""The live phase's requests: what the server does with each frame a logged-in session sends.

``send`` is checked (rate limit, recipient) and submitted to the
:class:`~wschat.server.publisher.Publisher`, which commits before it publishes; ``who``,
``help``, ``history``, ``read``, ``typing``, ``drop`` and ``logout`` are answered here, through
the :class:`~wschat.server.writer.Outbox`. Per-user state (the send bucket and the typing
bound) lives until the user's last session on this process leaves.
"""

from __future__ import annotations

import logging
import time

from wschat.core.credentials import token_hash
from wschat.core.defaults import TYPING_INTERVAL
from wschat.core.errors import CloseCode, ErrorCode
from wschat.core.frames import error_frame, help_frame, history_frame, rejected_frame, users_frame
from wschat.core.model import Draft, log_order
from wschat.core.names import name_key
from wschat.core.parsing import parse_frame
from wschat.core.ratelimit import Throttle, TokenBucket
from wschat.core.requests import (
    ClientRequest,
    Drop,
    HelpRequest,
    HistoryRequest,
    Login,
    Logout,
    ReadMark,
    Rejected,
    Send,
    TypingRequest,
    WhoRequest,
    already_logged_in,
    unknown_user,
)
from wschat.server.bus import Bus
from wschat.server.config import ServerConfig
from wschat.server.publisher import Publisher
from wschat.server.session import Session
from wschat.server.writer import Outbox
from wschat.store import Store, StoreError

__all__ = ["STORE_DOWN", "LiveRequests"]

log = logging.getLogger("wschat.server")

#: The ``server_error`` detail when the store cannot be reached (here and in the login phases).
STORE_DOWN = "não foi possível falar com o armazenamento; tente de novo em instantes"
_BINARY = "quadros binários não são aceitos; envie texto"


class LiveRequests:
    """Answers the live frames of every session of one server."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        outbox: Outbox,
        publisher: Publisher,
        config: ServerConfig,
    ) -> None:
        self.store = store
        self.bus = bus
        self.outbox = outbox
        self.publisher = publisher
        self.config = config
        self._buckets: dict[str, TokenBucket] = {}
        #: One typing notice per user per second passed on, per process (see _typing_notice).
        self._typing = Throttle(TYPING_INTERVAL)

    def forget(self, key: str) -> None:
        """The user's last session on this process left: drop their per-user state."""
        self._buckets.pop(key, None)
        self._typing.forget(key)

    async def receive(self, session: Session, raw: str | bytes) -> None:
        """Answer one frame that ``session`` sent after its welcome. A store that fails is
        ``server_error`` (with the frame's ``ref``); the connection stays open."""
        if isinstance(raw, bytes):
            self.outbox.write(session, error_frame(ErrorCode.INVALID_MESSAGE, _BINARY))
            return
        event = parse_frame(raw)
        try:
            await self.handle(session, event)
        except StoreError as error:
            log.error("store error for %s (%s): %s", session.user, session.sid, error)
            self.outbox.write(session, error_frame(
                ErrorCode.SERVER_ERROR, STORE_DOWN, getattr(event, "ref", None)))

    async def handle(self, session: Session, event: ClientRequest) -> None:
        """Answer one live event of ``session``. Raises StoreError."""
        write = self.outbox.write
        match event:
            case Send():
                await self._send(session, event)
            case Logout():
                await self._logout(session)
            case WhoRequest(ref=ref):
                write(session, users_frame(await self.bus.online(), ref))
            case HelpRequest(ref=ref):
                write(session, help_frame(ref))
            case HistoryRequest():
                await self._history(session, event)
            case ReadMark():
                await self._read(session, event)
            case TypingRequest():
                await self._typing_notice(session, event)
            case Drop(ref=ref):
                self._drop(session, ref)
            case Login(ref=ref) | Rejected(from_login=True, ref=ref):
                write(session, rejected_frame(already_logged_in(ref)))
            case Rejected():
                write(session, rejected_frame(event))

    def _over_limit(self, session: Session, ref: str | None) -> bool:
        """Count one frame against the user's send limit; when over it, say so (with
        ``ref``) to ``session`` and return True."""
        bucket = self._bucket(session.key)
        if bucket is None or bucket.allow(time.monotonic()):
            return False
        self.outbox.write(session, error_frame(
            ErrorCode.RATE_LIMITED, "mensagens demais por segundo; espere um pouco", ref))
        return True

    async def _send(self, session: Session, send: Send) -> None:
        if self._over_limit(session, send.ref):
            return
        to: str | None = None
        if send.to is not None:
            to = await self._registered(session, send.to, send.ref)
            if to is None:
                return
        draft = Draft(session.user, to, send.text, round(time.time(), 3), send.ref, session.sid)
        self.publisher.submit(draft, session)

    async def _logout(self, session: Session) -> None:
        """Revoke this session's token and close with 1000; nothing more is written to it."""
        await self.store.revoke_token(token_hash(session.token))
        session.closing = True  # the frames it sent after the logout are not answered
        await session.ws.close(CloseCode.NORMAL, "logout")

    def _drop(self, session: Session, ref: str | None) -> None:
        """Abort this one connection's TCP without a close frame (PROTOCOL.md v4).

        The client records 1006 as after a network failure; the connection's handler then
        ends as for any lost connection (presence, the user's other sessions and other
        processes see nothing different). Counted by the send limit: a client cannot make
        the server tear down and rebuild its session faster than it may send.
        """
        if self._over_limit(session, ref):
            return
        log.info("drop asked by %s (%s): aborting its connection", session.user, session.sid)
        session.ws.transport.abort()

    async def _registered(self, session: Session, name: str, ref: str | None) -> str | None:
        """The account's own spelling of ``name``; None (after ``unknown_user`` to ``session``)
        when no such account was ever registered."""
        account = await self.store.get_account(name_key(name))
        if account is None:
            self.outbox.write(session, rejected_frame(unknown_user(name, ref)))
            return None
        return account.name

    def _bucket(self, key: str) -> TokenBucket | None:
        cfg = self.config
        if cfg.rate_limit <= 0:
            return None
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(cfg.rate_limit, cfg.send_burst)
        return bucket

    async def _history(self, session: Session, request: HistoryRequest) -> None:
        if request.before is not None:
            try:
                log_order(request.before)
            except ValueError:
                self.outbox.write(session, error_frame(
                    ErrorCode.INVALID_MESSAGE, "'before' não é um id de mensagem", request.ref))
                return
        entries, more = await self.store.before(session.key, request.before, request.limit)
        self.outbox.write(session, history_frame(entries, more, request.ref))

    async def _read(self, session: Session, mark: ReadMark) -> None:
        """Move the user's read position forward and tell all their sessions, everywhere.

        Not a ``send``: no rate limit, nothing in the log. An id the user cannot see (or not
        in the log) is ``invalid_message`` and changes nothing; an older or equal one changes
        nothing and sends nothing.
        """
        entry = await self.store.get(mark.id)
        if entry is None or not entry.visible_to(session.key):
            self.outbox.write(session, error_frame(
                ErrorCode.INVALID_MESSAGE,
                "'id' não é uma mensagem que você possa ver", mark.ref))
            return
        if await self.store.set_read(session.key, entry.id):
            await self.bus.read_moved(session.user, session.key, entry.id)

    async def _typing_notice(self, session: Session, typing: TypingRequest) -> None:
        """Pass a typing notice on, at most one per user per second; drop the rest silently.

        The bound is kept per process, across the user's sessions on it: with several
        processes on Redis each may pass one per second, and the Redis bus then lets one per
        second through for the whole cluster (see :class:`wschat.cluster.RedisBus`).
        ``to`` a name never registered is ``unknown_user`` (checked before the bound, so
        that the error is never dropped).
        """
        to: str | None = None
        if typing.to is not None:
            to = await self._registered(session, typing.to, typing.ref)
            if to is None:
                return
        if not self._typing.allow(session.key, time.monotonic()):
            return
        await self.bus.typing(session.user, session.key, to)
