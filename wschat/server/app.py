"""The chat server: websockets' asyncio API wired to the pure core, one part per phase.

One connection goes through three phases, each in its own module:

1. login (:mod:`~wschat.server.login`): the first frame (within ``login_timeout``) must be a
   login; any problem ends the connection with close code 4001 after one ``error``;
2. catch-up (:mod:`~wschat.server.catchup`): registered for live traffic first, then welcome
   and the backlog, then the buffered live traffic: the seam that loses and doubles nothing;
3. live (here): frames are parsed into events; sends go through one writer task that appends
   a whole burst to the store in one commit *before* fanning out
   (:mod:`~wschat.server.delivery`), so nothing a client got back with an id can be lost by a
   crash of the process.

Keepalive (:mod:`~wschat.server.keepalive`) runs beside each connection; plain HTTP on the
same port is decided by :mod:`~wschat.server.http`. Where entries and presence changes come
from is the bus's business (:mod:`wschat.server.bus`): with one process the writer delivers
what it appended; with several processes on Redis each one tails the shared stream and
delivers what any of them appended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wschat.core.credentials import token_hash
from wschat.core.defaults import TYPING_INTERVAL
from wschat.core.errors import CloseCode, ErrorCode
from wschat.core.events import (
    ClientEvent,
    HelpRequest,
    HistoryRequest,
    Login,
    Logout,
    ReadMark,
    Rejected,
    Send,
    Typing,
    WhoRequest,
    already_logged_in,
    unknown_user,
)
from wschat.core.frames import error_frame, help_frame, history_frame, rejected_frame, users_frame
from wschat.core.model import Draft, log_order
from wschat.core.names import name_key
from wschat.core.parsing import parse_frame
from wschat.core.ratelimit import Throttle, TokenBucket
from wschat.server.bus import Bus, LocalBus
from wschat.server.catchup import CatchUp
from wschat.server.config import MAX_BATCH, MAX_DEFERRED, ServerConfig
from wschat.server.delivery import Delivery
from wschat.server.http import is_loopback_host, route
from wschat.server.keepalive import keepalive
from wschat.server.login import LoginGate
from wschat.server.session import SeamHook, Session
from wschat.store import Store, StoreError

__all__ = ["ChatServer"]

log = logging.getLogger("wschat.server")

_STORE_DOWN = "não foi possível falar com o armazenamento; tente de novo em instantes"


class ChatServer:
    """The chat server over one store. ``run(ready, stop)`` serves until ``stop`` is set.

    ``bus`` defaults to a :class:`~wschat.server.bus.LocalBus` (this process alone); give a
    :class:`~wschat.cluster.RedisBus` to serve as one node of several on a Redis store.
    """

    def __init__(
        self,
        store: Store,
        config: ServerConfig | None = None,
        *,
        seam_hook: SeamHook | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.store = store
        self.config = config or ServerConfig()
        self.delivery = Delivery(self.config)
        self.bus: Bus = bus if bus is not None else LocalBus(store, self.delivery.roster.online)
        self.login = LoginGate(store, self.config)
        self.catch_up = CatchUp(store, self.bus, self.delivery, self.config, seam_hook)
        self._queue: asyncio.Queue[tuple[Draft, Session]] = asyncio.Queue()
        self._buckets: dict[str, TokenBucket] = {}
        #: One typing notice per user per second passed on, per process (see _on_typing).
        self._typing = Throttle(TYPING_INTERVAL)
        #: Whether Host must name this machine (DNS rebinding); the config never changes.
        self._loopback_only = is_loopback_host(self.config.host)
        self._server: Server | None = None
        self.port: int = 0

    @property
    def scheme(self) -> str:
        """``wss`` under TLS, else ``ws``."""
        return self.config.scheme

    # ------------------------------------------------------------------ lifecycle

    async def run(self, ready: Callable[[int], None], stop: asyncio.Event) -> None:
        """Open the store, serve until ``stop`` is set, then close every connection with 1001."""
        cfg = self.config
        context = self._ssl_context()  # before the store: a bad certificate touches no file
        await self.store.open()
        try:
            await self.bus.start(self.delivery)
        except BaseException:
            await self.store.close()
            raise
        writer = asyncio.create_task(self._writer(), name="wschat-writer")
        flusher = asyncio.create_task(self.delivery.flusher(), name="wschat-flusher")
        try:
            async with serve(
                self._connection,
                cfg.host,
                cfg.port,
                process_request=self._process_request,
                max_size=cfg.max_frame,
                compression=None,  # chat frames are small: deflate costs CPU and memory per socket
                ping_interval=None,  # the server's own keepalive: see wschat.server.keepalive
                close_timeout=cfg.close_timeout,
                ssl=context,
                server_header="wschat",
            ) as server:
                self._server = server
                self.port = server.sockets[0].getsockname()[1]
                ready(self.port)
                await stop.wait()
                # Server.close() sends 1001 (going away) to every open connection.
                server.close(close_connections=True)
                await server.wait_closed()
        finally:
            for task in (writer, flusher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(StoreError):
                await self.bus.stop()
            await self.store.close()

    def _ssl_context(self) -> ssl.SSLContext | None:
        cfg = self.config
        if cfg.certfile is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(cfg.certfile, cfg.keyfile)
        except ssl.SSLError:
            raise
        except OSError as error:  # ssl names neither file: say which ones could not be read
            raise OSError(
                error.errno,
                f"cannot read certificate {cfg.certfile} or key {cfg.keyfile}: {error.strerror}",
            ) from None
        return context

    # ------------------------------------------------------------------ HTTP

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        headers = request.headers
        upgrade = "websocket" in headers.get("Upgrade", "").lower()
        reply = route(
            request.path,
            upgrade=upgrade,
            origin=headers.get("Origin"),
            host=headers.get("Host"),
            secure=self.config.certfile is not None,
            allowed=self.config.allow_origins,
            loopback_only=self._loopback_only,
        )
        if reply is None:
            return None
        body = reply.body_bytes
        response_headers = Headers(
            [("Content-Type", reply.content_type), ("Content-Length", str(len(body))),
             *reply.headers]
        )
        if reply.status == HTTPStatus.UPGRADE_REQUIRED:
            response_headers["Upgrade"] = "websocket"
        return Response(reply.status.value, reply.status.phrase, response_headers, body)

    # ------------------------------------------------------------------ connection

    async def _connection(self, ws: ServerConnection) -> None:
        """One connection, from the handshake to the end, with its keepalive."""
        pinger: asyncio.Task[None] | None = None
        if self.config.ping_interval is not None:
            pinger = asyncio.create_task(keepalive(ws, self.config))
        try:
            await self._handle(ws)
        finally:
            if pinger is not None:
                pinger.cancel()

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            accepted = await self.login.admit(ws)
        except StoreError as error:
            await self._unavailable(ws, error)
            return
        if accepted is None:
            return
        session = accepted[0]
        try:
            await self.catch_up.run(session, accepted[1].resume)
            del accepted  # the login event (password or token) must not live as long as the session
            await self._serve_session(session)
        except ConnectionClosed:
            pass
        except StoreError as error:
            await self._unavailable(ws, error)
        finally:
            await self._leave(session)

    async def _unavailable(self, ws: ServerConnection, error: StoreError) -> None:
        """The store failed during login or catch-up: say so and close with 1011 (clients
        reconnect and resume); the server itself goes on."""
        log.error("store unavailable, closing a connection: %s", error)
        with contextlib.suppress(ConnectionClosed):
            await ws.send(error_frame(ErrorCode.SERVER_ERROR, _STORE_DOWN))
            await ws.close(CloseCode.INTERNAL_ERROR, "store unavailable")

    async def _leave(self, session: Session) -> None:
        """Unregister the session; the user's last session going away announces offline."""
        log.info("leave %s (%s) close code %s", session.user, session.sid, session.ws.close_code)
        last = self.delivery.unregister(session)
        if last:
            self._buckets.pop(session.key, None)
            self._typing.forget(session.key)
        await self.bus.leave(session.user, session.key, session.sid, last)

    # ------------------------------------------------------------------ live

    async def _serve_session(self, session: Session) -> None:
        write = self.delivery.write
        async for raw in session.ws:
            if session.closing:
                break
            if isinstance(raw, bytes):
                write(session, error_frame(
                    ErrorCode.INVALID_MESSAGE, "quadros binários não são aceitos; envie texto"))
                continue
            event = parse_frame(raw)
            try:
                if isinstance(event, Logout):
                    await self.store.revoke_token(token_hash(session.token))
                    await session.ws.close(CloseCode.NORMAL, "logout")
                    return
                await self._on_event(session, event)
            except StoreError as error:
                log.error("store error for %s (%s): %s", session.user, session.sid, error)
                write(session, error_frame(
                    ErrorCode.SERVER_ERROR, _STORE_DOWN, getattr(event, "ref", None)))

    async def _on_event(self, session: Session, event: ClientEvent) -> None:
        write = self.delivery.write
        match event:
            case Send():
                await self._on_send(session, event)
            case WhoRequest(ref=ref):
                write(session, users_frame(await self.bus.online(), ref))
            case HelpRequest(ref=ref):
                write(session, help_frame(ref))
            case HistoryRequest():
                await self._on_history(session, event)
            case ReadMark():
                await self._on_read(session, event)
            case Typing():
                await self._on_typing(session, event)
            case Login(ref=ref) | Rejected(from_login=True, ref=ref):
                write(session, rejected_frame(already_logged_in(ref)))
            case Rejected():
                write(session, rejected_frame(event))

    async def _on_send(self, session: Session, send: Send) -> None:
        bucket = self._bucket(session.key)
        if bucket is not None and not bucket.allow(time.monotonic()):
            self.delivery.write(session, error_frame(
                ErrorCode.RATE_LIMITED, "mensagens demais por segundo; espere um pouco", send.ref))
            return
        to: str | None = None
        if send.to is not None:
            account = await self.store.get_account(name_key(send.to))
            if account is None:
                self.delivery.write(session, rejected_frame(unknown_user(send.to, send.ref)))
                return
            to = account.name
        draft = Draft(session.user, to, send.text, round(time.time(), 3), send.ref, session.sid)
        self._queue.put_nowait((draft, session))

    def _bucket(self, key: str) -> TokenBucket | None:
        cfg = self.config
        if cfg.rate_limit <= 0:
            return None
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(cfg.rate_limit, cfg.burst)
        return bucket

    async def _on_history(self, session: Session, request: HistoryRequest) -> None:
        if request.before is not None:
            try:
                log_order(request.before)
            except ValueError:
                self.delivery.write(session, error_frame(
                    ErrorCode.INVALID_MESSAGE, "'before' não é um id de mensagem", request.ref))
                return
        entries, more = await self.store.before(session.key, request.before, request.limit)
        self.delivery.write(session, history_frame(entries, more, request.ref))

    async def _on_read(self, session: Session, mark: ReadMark) -> None:
        """Move the user's read position forward and tell all their sessions, everywhere.

        Not a ``send``: no rate limit, nothing in the log. An id the user cannot see (or not
        in the log) is ``invalid_message`` and changes nothing; an older or equal one changes
        nothing and sends nothing.
        """
        entry = await self.store.get(mark.id)
        if entry is None or not entry.visible_to(session.key):
            self.delivery.write(session, error_frame(
                ErrorCode.INVALID_MESSAGE,
                "'id' não é uma mensagem que você possa ver", mark.ref))
            return
        if await self.store.set_read(session.key, entry.id):
            await self.bus.read_moved(session.user, session.key, entry.id)

    async def _on_typing(self, session: Session, typing: Typing) -> None:
        """Pass a typing notice on, at most one per user per second; drop the rest silently.

        The bound is kept per process, across the user's sessions on it: with several
        processes on Redis each may pass one per second, and the Redis bus then lets one per
        second through for the whole cluster (see :class:`wschat.cluster.RedisBus`).
        ``to`` a name never registered is ``unknown_user`` (checked before the bound, so
        that the error is never dropped).
        """
        to: str | None = None
        if typing.to is not None:
            account = await self.store.get_account(name_key(typing.to))
            if account is None:
                self.delivery.write(session, rejected_frame(unknown_user(typing.to, typing.ref)))
                return
            to = account.name
        if not self._typing.allow(session.key, time.monotonic()):
            return
        await self.bus.typing(session.user, session.key, to)

    async def _writer(self) -> None:
        """Append each burst of sends in one commit, then fan the entries out."""
        queue = self._queue
        delivery = self.delivery
        while True:
            while delivery.deferred.pending_bytes() > MAX_DEFERRED:
                await asyncio.sleep(0)  # the flusher runs meanwhile
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await self.store.append([draft for draft, _ in batch])
            except StoreError as error:
                log.error("append failed: %s", error)
                for draft, session in batch:
                    delivery.write(session, error_frame(
                        ErrorCode.SERVER_ERROR,
                        "não foi possível guardar a mensagem; tente de novo", draft.ref))
                continue
            tailed = self.bus.tails_log
            delivery.fan_out(
                (session, result)
                for (_, session), result in zip(batch, results, strict=True)
                # what was created comes back through the bus, to every process
                if not (tailed and result.created)
            )
