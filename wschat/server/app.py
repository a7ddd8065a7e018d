"""The chat server: websockets' asyncio API wired to the pure core, one part per job.

One connection goes through three phases, each in its own module:

1. login (:mod:`~wschat.server.login`): the first frame (within ``login_timeout``) must be a
   login; any problem ends the connection with close code 4001 after one ``error``;
2. catch-up (:mod:`~wschat.server.catchup`): registered for live traffic first, then welcome
   and the backlog, then the held live traffic: the seam that loses and doubles nothing;
3. live (:mod:`~wschat.server.live`): each frame is answered; a ``send`` goes to the
   :mod:`~wschat.server.publisher`, whose writer task appends a whole burst in one commit
   *before* the bus hands it to the :mod:`~wschat.server.router` of every process, which
   writes it through the :mod:`~wschat.server.writer`.

Keepalive (:mod:`~wschat.server.keepalive`) runs beside each connection; plain HTTP on the
same port is decided by :mod:`~wschat.server.http`; every long-lived task runs under the
:mod:`~wschat.server.supervise` supervisor, so that a bug stops the server loudly instead of
leaving it half alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from wschat.core.errors import CloseCode, ErrorCode
from wschat.core.frames import error_frame
from wschat.server.bus import Bus, LocalBus
from wschat.server.catchup import CatchUp
from wschat.server.config import ServerConfig
from wschat.server.drain import close_all, stop_serving
from wschat.server.http import is_loopback_host, metrics_allowed, route
from wschat.server.keepalive import close_within, keepalive
from wschat.server.live import STORE_DOWN, LiveRequests
from wschat.server.login import LoginGate
from wschat.server.metrics import CONTENT_TYPE as METRICS_TYPE
from wschat.server.metrics import Metrics
from wschat.server.publisher import Publisher
from wschat.server.registry import Registry
from wschat.server.router import Router
from wschat.server.session import SeamHook, Session
from wschat.server.supervise import Supervisor, TaskFailed
from wschat.server.writer import ERROR_REASON, Outbox
from wschat.store import Store, StoreError

__all__ = ["ChatServer"]

log = logging.getLogger("wschat.server")


class ChatServer:
    """The chat server over one store. ``run(ready, stop)`` serves until ``stop`` is set, or
    until a task of the server fails (it then raises :class:`~wschat.server.supervise.TaskFailed`).

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
        cfg = self.config
        #: This server's metrics (its own registry): ``GET /metrics`` renders them.
        self.metrics = Metrics()
        self.supervisor = Supervisor(self.metrics)
        #: Who is connected here; the outbox writes to them, the router decides who gets what.
        self.sessions = Registry()
        self.outbox = Outbox(cfg, self.metrics, self.supervisor)
        self.router = Router(self.sessions, self.outbox)
        self.bus: Bus = bus if bus is not None else LocalBus(store, self.sessions.online)
        self.publisher = Publisher(store, self.bus, self.outbox, self.metrics, self.supervisor)
        self.login = LoginGate(store, cfg, self.metrics)
        self.catch_up = CatchUp(store, self.bus, self.sessions, cfg, self.metrics, seam_hook)
        self.requests = LiveRequests(store, self.bus, self.outbox, self.publisher, cfg)
        #: Whether Host must name this machine (DNS rebinding); the config never changes.
        self._loopback_only = is_loopback_host(self.config.host)
        self._server: Server | None = None
        #: Set once a stop was asked for: new connections and /healthz get 503.
        self.draining = False
        self.port: int = 0
        self.metrics.watch(self._open_connections, lambda: len(self.sessions.online()))

    @property
    def scheme(self) -> str:
        """``wss`` under TLS, else ``ws``."""
        return self.config.scheme

    # ------------------------------------------------------------------ lifecycle

    async def run(self, ready: Callable[[int], None], stop: asyncio.Event) -> None:
        """Open the store, serve until ``stop`` is set, then close every connection: at once
        with 1001, or with ``config.drain`` > 0 with 1012 spread over that many seconds while
        nobody new is admitted (PROTOCOL.md, "Drain").

        If a task of the server fails instead (:mod:`~wschat.server.supervise`), nobody new
        is admitted (``/healthz`` answers 503), every connection is closed with 1011 (its
        client resumes elsewhere), and this raises :class:`TaskFailed` once all is closed.
        """
        cfg = self.config
        supervisor = self.supervisor
        context = self._ssl_context()  # before the store: a bad certificate touches no file
        # Bind before the store opens, accept only once it is open: a port in use or a host
        # that cannot be used raises here and leaves no database file behind.
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
            start_serving=False,
        ) as server:
            await self.store.open()
            try:
                await self.bus.start(self.router, supervisor)
            except BaseException:
                await self.store.close()
                raise
            tasks = [
                supervisor.spawn("writer", self.publisher.run()),
                supervisor.spawn("flusher", self.outbox.flusher()),
            ]
            try:
                self._server = server
                self.port = server.sockets[0].getsockname()[1]
                await server.start_serving()
                ready(self.port)
                await _first_of(stop.wait(), supervisor.failed())
                self.draining = True  # from now on /healthz and new WebSockets answer 503
                if supervisor.failure is None:
                    await self._drain(server)
                else:
                    await close_all(server, CloseCode.INTERNAL_ERROR, ERROR_REASON)
            finally:
                # Every connection is closed (a second close is a no-op) before the tasks and
                # the store they write to go away.
                server.close()
                await server.wait_closed()
                for task in tasks:
                    task.cancel()
                await asyncio.wait(tasks)  # a task that failed was reported: no exception here
                with contextlib.suppress(StoreError):
                    await self.bus.stop()
                await self.store.close()
        if supervisor.failure is not None:
            raise supervisor.failure

    async def _drain(self, server: Server) -> None:
        """Close every connection as ``config.drain`` says; if that fails (a bug), the failure
        is the drain task's, and everything is closed at once instead (1001)."""
        try:
            await stop_serving(server, self.config.drain)
        except Exception as error:
            self.supervisor.fail("drain", error)
            server.close(close_connections=True)
            await server.wait_closed()

    @property
    def failure(self) -> TaskFailed | None:
        """What stopped the server, if a task of it failed (see :mod:`~wschat.server.supervise`)."""
        return self.supervisor.failure

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
            failed=self.supervisor.failure is not None,
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
        """One connection, from the handshake to the end, with its keepalive. A bug in its
        handling is reported and closes it with 1011 (the server goes on)."""
        pinger: asyncio.Task[None] | None = None
        if self.config.ping_interval is not None:
            pinger = self.supervisor.spawn(
                "keepalive", keepalive(ws, self.config), fatal=False,
                on_failure=lambda _: self._close_later(ws))
        try:
            await self._handle(ws)
        except Exception as error:
            self.supervisor.report(error, "connection")
            await close_within(ws, CloseCode.INTERNAL_ERROR, ERROR_REASON, self.config.close_timeout)
        finally:
            if pinger is not None:
                pinger.cancel()

    def _close_later(self, ws: ServerConnection) -> None:
        """Close ``ws`` with 1011 in a task of its own (its keepalive failed)."""
        timeout = self.config.close_timeout
        self.supervisor.spawn(
            "close", close_within(ws, CloseCode.INTERNAL_ERROR, ERROR_REASON, timeout), fatal=False)

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
            await ws.send(error_frame(ErrorCode.SERVER_ERROR, STORE_DOWN))
            await ws.close(CloseCode.INTERNAL_ERROR, "store unavailable")

    async def _leave(self, session: Session) -> None:
        """Unregister the session; the user's last session going away announces offline."""
        log.info("leave %s (%s) close code %s", session.user, session.sid, session.ws.close_code)
        last = self.sessions.unregister(session)
        self.outbox.forget(session)
        if last:
            self.router.forget(session.key)
            self.requests.forget(session.key)
        await self.bus.leave(session.user, session.key, session.sid, last)

    # ------------------------------------------------------------------ live

    async def _serve_session(self, session: Session) -> None:
        receive = self.requests.receive
        async for raw in session.ws:
            if session.closing:
                break
            await receive(session, raw)


async def _first_of(*waits: Awaitable[object]) -> None:
    """Return once the first of ``waits`` is done (the others are cancelled)."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
