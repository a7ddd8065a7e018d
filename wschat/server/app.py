"""The chat server: websockets' asyncio API wired to the pure core, one part per phase.

One connection goes through three phases, each in its own module:

1. login (:mod:`~wschat.server.login`): the first frame (within ``login_timeout``) must be a
   login; any problem ends the connection with close code 4001 after one ``error``;
2. catch-up (:mod:`~wschat.server.catchup`): registered for live traffic first, then welcome
   and the backlog, then the buffered live traffic: the seam that loses and doubles nothing;
3. live (here, with each request's answer in :mod:`~wschat.server.live`): frames are parsed
   into events; sends go through one writer task that appends a whole burst to the store in
   one commit *before* fanning out (:mod:`~wschat.server.delivery`), so nothing a client got
   back with an id can be lost by a crash of the process.

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
from wschat.core.errors import CloseCode, ErrorCode
from wschat.core.events import (
    Logout,
)
from wschat.core.frames import error_frame
from wschat.core.model import Draft
from wschat.core.parsing import parse_frame
from wschat.server.bus import Bus, LocalBus
from wschat.server.catchup import CatchUp
from wschat.server.config import MAX_BATCH, MAX_DEFERRED, ServerConfig
from wschat.server.delivery import Delivery
from wschat.server.drain import stop_serving
from wschat.server.http import is_loopback_host, metrics_allowed, route
from wschat.server.keepalive import keepalive
from wschat.server.live import LiveRequests
from wschat.server.login import LoginGate
from wschat.server.metrics import CONTENT_TYPE as METRICS_TYPE
from wschat.server.metrics import Metrics
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
        #: This server's metrics (its own registry): ``GET /metrics`` renders them.
        self.metrics = Metrics()
        self.delivery = Delivery(self.config, self.metrics)
        self.bus: Bus = bus if bus is not None else LocalBus(store, self.delivery.roster.online)
        self.login = LoginGate(store, self.config, self.metrics)
        self.catch_up = CatchUp(store, self.bus, self.delivery, self.config, seam_hook)
        self._queue: asyncio.Queue[tuple[Draft, Session]] = asyncio.Queue()
        self.requests = LiveRequests(store, self.bus, self.delivery, self.config, self._queue)
        #: Whether Host must name this machine (DNS rebinding); the config never changes.
        self._loopback_only = is_loopback_host(self.config.host)
        self._server: Server | None = None
        #: Set once a stop was asked for: new connections and /healthz get 503.
        self.draining = False
        self.port: int = 0
        self.metrics.watch(self._open_connections, lambda: len(self.delivery.roster.online()))

    @property
    def scheme(self) -> str:
        """``wss`` under TLS, else ``ws``."""
        return self.config.scheme

    # ------------------------------------------------------------------ lifecycle

    async def run(self, ready: Callable[[int], None], stop: asyncio.Event) -> None:
        """Open the store, serve until ``stop`` is set, then close every connection: at once
        with 1001, or with ``config.drain`` > 0 with 1012 spread over that many seconds while
        nobody new is admitted (PROTOCOL.md, "Drain")."""
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
                self.draining = True  # from now on /healthz and new WebSockets answer 503
                await stop_serving(server, cfg.drain)
        finally:
            for task in (writer, flusher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(StoreError):
                await self.bus.stop()
            await self.store.close()

    def _open_connections(self) -> int:
        return len(self._server.connections) if self._server is not None else 0

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
        peer = connection.remote_address
        wants_metrics = request.path.split("?", 1)[0] == "/metrics"  # no check per handshake
        reply = route(
            request.path,
            upgrade=upgrade,
            origin=headers.get("Origin"),
            host=headers.get("Host"),
            secure=self.config.certfile is not None,
            allowed=self.config.allow_origins,
            loopback_only=self._loopback_only,
            draining=self.draining,
            metrics=self.metrics.render,
            metrics_type=METRICS_TYPE,
            metrics_ok=wants_metrics and metrics_allowed(
                str(peer[0]) if isinstance(peer, tuple) and peer else None,
                headers.get("Authorization"),
                self.config.metrics_token,
                forwarded="Forwarded" in headers or "X-Forwarded-For" in headers,
            ),
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
            self.requests.forget(session.key)
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
                await self.requests.handle(session, event)
            except StoreError as error:
                log.error("store error for %s (%s): %s", session.user, session.sid, error)
                write(session, error_frame(
                    ErrorCode.SERVER_ERROR, _STORE_DOWN, getattr(event, "ref", None)))

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
            started = time.perf_counter()
            try:
                results = await self.store.append([draft for draft, _ in batch])
            except StoreError as error:
                self.metrics.commit_seconds.observe(time.perf_counter() - started)
                log.error("append failed: %s", error)
                for draft, session in batch:
                    delivery.write(session, error_frame(
                        ErrorCode.SERVER_ERROR,
                        "não foi possível guardar a mensagem; tente de novo", draft.ref))
                continue
            self.metrics.committed(results, time.perf_counter() - started)
            tailed = self.bus.tails_log
            delivery.fan_out(
                (session, result)
                for (_, session), result in zip(batch, results, strict=True)
                # what was created comes back through the bus, to every process
                if not (tailed and result.created)
            )
