"""The chat server: thin glue between websockets' asyncio API and the pure core.

One connection goes through three phases:

1. login: the first frame (within ``login_timeout``) must be a login; any problem ends the
   connection with close code 4001 after one ``error``;
2. catch-up: the session is registered for live traffic *first*, with its live entries held
   in a buffer; then the log is read up to ``welcome.last`` and sent with flow control;
   then the buffer is flushed, skipping what the log read already covered. Registering
   before reading is what makes the seam safe: an entry appended at any moment is either
   in the log read, or in the buffer, or both (and then skipped once);
3. live: frames are parsed into events; sends go through one writer task that appends a
   whole burst to the store in one commit *before* fanning out, so nothing a client got
   back with an id can be lost by a crash of the process.

Fan-out encodes each distinct frame once and gives each connection ONE write per burst, the
same bytes for every session that gets the same frames (see wschat/fanout.py for why sharing
frame bytes is safe). It never waits for a slow reader: a connection whose unsent bytes pass
``max_pending`` is closed with 4008 instead, so it cannot slow anyone else.

Where entries and presence changes come from is the bus's business (:mod:`wschat.bus`): with
one process the writer delivers what it appended; with several processes on Redis each one
tails the shared stream and delivers what any of them appended (the server is the bus's sink).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from . import protocol as proto
from .accounts import (
    TOKEN_TTL,
    hash_password,
    new_session_id,
    new_token,
    token_hash,
    verify_password,
)
from .bus import Bus, Joined, LocalBus
from .fanout import Burst, Deferred, text_frame, write_frames
from .model import Draft, Entry, log_order
from .names import name_key
from .ratelimit import DEFAULT_BURST, DEFAULT_RATE, FailureLimiter, TokenBucket
from .routing import Presence, targets
from .store import Account, Appended, Store, StoreError
from .web import is_loopback_host, route

__all__ = ["ChatServer", "ServerConfig", "Session"]

log = logging.getLogger("wschat.server")

#: Close codes of PROTOCOL.md.
CLOSE_LOGIN = 4001
CLOSE_SLOW = 4008

#: Most sends appended in one commit; a burst larger than this takes several commits.
MAX_BATCH = 1024

#: Sessions written to between two looks at other work while a broadcast is written out
#: (so that a private message never waits for a whole 10,000-connection broadcast).
FLUSH_CHUNK = 32

#: The writer takes no new burst while some session is owed more than this many bytes of
#: broadcasts not yet written out: senders slow down instead of the server's memory growing.
MAX_DEFERRED = 256 * 1024

#: Called at the named points of the catch-up phase; tests use it to force appends there.
SeamHook = Callable[[str, "Session"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Every knob of ``python -m wschat serve`` (defaults as PROTOCOL.md says)."""

    host: str = "127.0.0.1"
    port: int = 8765
    rate_limit: float = DEFAULT_RATE
    burst: float = DEFAULT_BURST
    history: int = 50
    max_replay: int = 10_000
    max_pending: int = 1024 * 1024
    max_frame: int = 64 * 1024
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    #: Seconds the server waits for the peer's answer to a close frame before dropping the TCP
    #: connection. Short, because the peer that does not answer is usually gone: a peer that
    #: keepalive finds dead (a cut without a close) is dropped, and shown offline to others,
    #: at most ``ping_interval + ping_timeout + close_timeout`` after it went silent.
    close_timeout: float = 2.0
    #: The same wait for a reader closed with 4008: its close frame queues behind the bytes it
    #: has not read, so a reader that reads them all within this time still learns the code;
    #: after it, the connection is dropped whether the reader came back or not.
    slow_close_timeout: float = 10.0
    login_timeout: float = 10.0
    allow_origins: tuple[str, ...] = ()
    certfile: str | None = None
    keyfile: str | None = None
    #: Failed logins allowed per name and per address within ``login_failure_window`` s.
    login_failures_per_name: int = 10
    login_failures_per_address: int = 50
    login_failure_window: float = 60.0


@dataclass(eq=False, slots=True)
class Session:
    """One logged-in connection. Hashed by identity: a user may have many."""

    ws: ServerConnection
    user: str
    key: str
    sid: str
    token: str
    #: While True, live traffic (entries, and ready frames such as presence) waits in
    #: ``buffer`` until welcome and the backlog have been sent.
    catching_up: bool = True
    #: Entries, ready frames, and (event id, frame) pairs of presence events that have ids.
    buffer: list[Entry | str | tuple[str, str]] = field(default_factory=list)
    closing: bool = False


class ChatServer:
    """The chat server over one store. ``run(ready, stop)`` serves until ``stop`` is set.

    ``bus`` defaults to a :class:`~wschat.bus.LocalBus` (this process alone); give a
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
        self.presence: Presence[Session] = Presence()
        self.bus: Bus = bus if bus is not None else LocalBus(store, self.presence.online)
        self._by_sid: dict[str, Session] = {}
        self._seam_hook = seam_hook
        self._queue: asyncio.Queue[tuple[Draft, Session]] = asyncio.Queue()
        self._buckets: dict[str, TokenBucket] = {}
        #: Whether Host must name this machine (DNS rebinding); the config never changes.
        self._loopback_only = is_loopback_host(self.config.host)
        self._failures_by_name = FailureLimiter(
            self.config.login_failures_per_name, self.config.login_failure_window
        )
        self._failures_by_address = FailureLimiter(
            self.config.login_failures_per_address, self.config.login_failure_window
        )
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The sessions with ``catching_up`` set, so that a public message finds them without
        #: a pass over every session.
        self._catching_up: set[Session] = set()
        self._deferred: Deferred[Session] = Deferred(self._put)
        self._flush_wanted = asyncio.Event()
        self._server: Server | None = None
        self.port: int = 0

    # ------------------------------------------------------------------ lifecycle

    async def run(self, ready: Callable[[int], None], stop: asyncio.Event) -> None:
        """Open the store, serve until ``stop`` is set, then close every connection with 1001."""
        cfg = self.config
        context = self._ssl_context()  # before the store: a bad certificate touches no file
        await self.store.open()
        try:
            await self.bus.start(self)
        except BaseException:
            await self.store.close()
            raise
        writer = asyncio.create_task(self._writer(), name="wschat-writer")
        flusher = asyncio.create_task(self._flusher(), name="wschat-flusher")
        try:
            async with serve(
                self._connection,
                cfg.host,
                cfg.port,
                process_request=self._process_request,
                max_size=cfg.max_frame,
                compression=None,  # chat frames are small: deflate costs CPU and memory per socket
                ping_interval=None,  # the server's own keepalive: see _keepalive
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

    @property
    def scheme(self) -> str:
        """``wss`` under TLS, else ``ws``."""
        return "wss" if self.config.certfile else "ws"

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        keepalive = None
        if self.config.ping_interval is not None:
            keepalive = asyncio.create_task(self._keepalive(ws))
        try:
            await self._handle(ws)
        finally:
            if keepalive is not None:
                keepalive.cancel()

    async def _handle(self, ws: ServerConnection) -> None:
        try:
            accepted = await self._login(ws)
        except StoreError as error:
            await self._unavailable(ws, error)
            return
        if accepted is None:
            return
        session = accepted[0]
        try:
            await self._catch_up(session, accepted[1].resume)
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
            await ws.send(proto.error_frame("server_error", _STORE_DOWN))
            await ws.close(1011, "store unavailable")

    async def _keepalive(self, ws: ServerConnection) -> None:
        """Ping every ``ping_interval`` s; a peer whose pong does not come within
        ``ping_timeout`` s is closed with 1011 and dropped within ``close_timeout`` s.

        websockets has a keepalive of its own, but its timeout starts only once the ping is
        written, and writing waits for room in the send buffer: a peer that went away (or
        stopped reading) while messages for it piled up was never found. Here the timeout
        covers that wait too.
        """
        cfg = self.config
        assert cfg.ping_interval is not None
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(cfg.ping_interval)
                try:
                    async with asyncio.timeout(cfg.ping_timeout):
                        pong = await ws.ping()
                        if cfg.ping_timeout is not None:  # None: ping only, never give up
                            await pong
                except TimeoutError:
                    log.info("no pong from %s within %s s: dropping it", _address(ws),
                             cfg.ping_timeout)
                    await self._close_within(ws, 1011, "keepalive ping timeout", cfg.close_timeout)
                    return

    async def _refuse(self, ws: ServerConnection, code: str, detail: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(proto.error_frame(code, detail))
            await ws.close(CLOSE_LOGIN, code)

    async def _login(self, ws: ServerConnection) -> tuple[Session, proto.Login] | None:
        """Read and check the login frame; return the new session, or None once refused."""
        try:
            raw = await asyncio.wait_for(ws.recv(), self.config.login_timeout)
        except TimeoutError:
            await self._refuse(ws, "login_required", "faça login em até 10 s: /login NOME SENHA")
            return None
        except ConnectionClosed:
            return None
        if isinstance(raw, bytes):
            await self._refuse(ws, "login_required", "o primeiro quadro deve ser um login")
            return None
        event = proto.parse_frame(raw)
        if isinstance(event, proto.Rejected) and event.from_login:
            await self._refuse(ws, event.code, event.detail)
            return None
        if not isinstance(event, proto.Login):
            await self._refuse(ws, "login_required", _LOGIN_HINT)
            return None
        address = _address(ws)
        key = name_key(event.user)
        now = time.monotonic()
        blocked = self._failures_by_name.blocked(key, now) or self._failures_by_address.blocked(
            address, now
        )
        # A blocked name or address still lets a valid token in: a token cannot be guessed,
        # and one attacker must not lock out every client behind the same address (a NAT).
        if blocked and event.token is None:
            await self._refuse(ws, "rate_limited", _TOO_MANY)
            return None
        account, token = await self._authenticate(event)
        if account is None:
            now = time.monotonic()
            self._failures_by_name.record_failure(key, now)
            self._failures_by_address.record_failure(address, now)
            if blocked:
                await self._refuse(ws, "rate_limited", _TOO_MANY)
            else:
                await self._refuse(ws, "auth_failed", "nome ou senha incorretos, ou token inválido")
            return None
        session = Session(ws, account.name, account.key, new_session_id(), token)
        log.info("login %s (%s) from %s", session.user, session.sid, address)
        return session, event

    async def _authenticate(self, login: proto.Login) -> tuple[Account | None, str]:
        """Check a password (registering a new name) or a token; hashing runs in a thread."""
        key = name_key(login.user)
        if login.token is not None:
            owner = await self.store.token_user(token_hash(login.token), time.time())
            if owner != key:
                return None, ""
            return await self.store.get_account(key), login.token
        assert login.password is not None  # parse_frame guarantees exactly one of the two
        account = await self.store.get_account(key)
        if account is None:
            hashed = await asyncio.to_thread(hash_password, login.password)
            account = await self.store.create_account(login.user, hashed)
            if account.password_hash != hashed:  # another login registered the name first
                account = await self._verified(account, login.password)
        else:
            account = await self._verified(account, login.password)
        if account is None:
            return None, ""
        token = new_token()
        await self.store.add_token(token_hash(token), account.key, time.time() + TOKEN_TTL)
        return account, token

    @staticmethod
    async def _verified(account: Account, password: str) -> Account | None:
        ok = await asyncio.to_thread(verify_password, password, account.password_hash)
        return account if ok else None

    async def _catch_up(self, session: Session, resume: proto.Resume | None) -> None:
        """Register for live traffic, send welcome and the backlog, then go live (see module doc)."""
        first = self.presence.open(session.user, session)
        self._catching_up.add(session)
        self._by_sid[session.sid] = session
        joined = await self.bus.join(session.user, session.key, session.sid, first)
        await self._hook("registered", session)
        last = await self.store.last_visible(session.key)
        backlog, recovered = await self._backlog(session, resume, last)
        await self._hook("log_read", session)
        ws = session.ws
        await ws.send(
            proto.welcome_frame(
                user=session.user,
                session=session.sid,
                epoch=self.store.epoch,
                last=last,
                recovered=recovered,
                online=joined.online,
                token=session.token,
            )
        )
        # Never with a ref (PROTOCOL.md: a ref comes back only to the session that sent it),
        # even on the user's own messages: flow control waits while the client does not read.
        for entry in backlog:
            await ws.send(proto.message_frame(entry))
        await self._flush(session, last, joined)

    async def _flush(self, session: Session, last: str | None, joined: Joined) -> None:
        """Send the live traffic that arrived during the catch-up, then go live.

        Skips the entries the log read covered (ids up to ``last``) and the presence events
        that ``welcome.online`` covered (ids up to ``joined.floor``); waits first until the bus
        has handed over everything up to both, so none of them can still come later.
        """
        await self.bus.synced(last, joined.floor)
        ws = session.ws
        floor = log_order(last) if last is not None else None
        presence_floor = log_order(joined.floor) if joined.floor is not None else None
        while session.buffer:
            held, session.buffer = session.buffer, []
            for item in held:
                if isinstance(item, str):
                    await ws.send(item)
                elif isinstance(item, tuple):
                    event_id, frame = item
                    if presence_floor is None or log_order(event_id) > presence_floor:
                        await ws.send(frame)
                elif floor is None or log_order(item.id) > floor:
                    await ws.send(proto.message_frame(item))
        session.catching_up = False  # no await since the buffer was seen empty
        self._catching_up.discard(session)

    async def _backlog(
        self, session: Session, resume: proto.Resume | None, last: str | None
    ) -> tuple[list[Entry], bool]:
        """The replay after ``resume`` if it is recoverable, else history; up to ``last``."""
        if last is None:
            return [], resume is not None and resume.epoch == self.store.epoch
        cfg = self.config
        if resume is not None and resume.epoch == self.store.epoch:
            replay = await self.store.after(session.key, resume.after, last, cfg.max_replay + 1)
            if replay is not None and len(replay) <= cfg.max_replay:
                return replay, True
        recent = await self.store.recent(session.key, cfg.history, last)
        forwarded = await self.store.forwarded(session.key, last)
        merged = {e.id: e for e in forwarded}
        merged.update((e.id, e) for e in recent)
        return sorted(merged.values(), key=lambda e: log_order(e.id)), False

    async def _hook(self, point: str, session: Session) -> None:
        if self._seam_hook is not None:
            await self._seam_hook(point, session)

    # ------------------------------------------------------------------ live

    async def _serve_session(self, session: Session) -> None:
        async for raw in session.ws:
            if session.closing:
                break
            if isinstance(raw, bytes):
                self._write(session, proto.error_frame(
                    "invalid_message", "quadros binários não são aceitos; envie texto"))
                continue
            event = proto.parse_frame(raw)
            try:
                if isinstance(event, proto.Logout):
                    await self.store.revoke_token(token_hash(session.token))
                    await session.ws.close(1000, "logout")
                    return
                await self._on_event(session, event)
            except StoreError as error:
                log.error("store error for %s (%s): %s", session.user, session.sid, error)
                self._write(session, proto.error_frame(
                    "server_error", _STORE_DOWN, getattr(event, "ref", None)))

    async def _on_event(self, session: Session, event: proto.ClientEvent) -> None:
        match event:
            case proto.Send():
                await self._on_send(session, event)
            case proto.Who(ref=ref):
                self._write(session, proto.users_frame(await self.bus.online(), ref))
            case proto.Help(ref=ref):
                self._write(session, proto.help_frame(ref))
            case proto.HistoryRequest():
                await self._on_history(session, event)
            case proto.Login(ref=ref) | proto.Rejected(from_login=True, ref=ref):
                self._write(session, proto.rejected_frame(proto.already_logged_in(ref)))
            case proto.Rejected():
                self._write(session, proto.rejected_frame(event))

    async def _on_send(self, session: Session, send: proto.Send) -> None:
        bucket = self._bucket(session.key)
        if bucket is not None and not bucket.allow(time.monotonic()):
            self._write(session, proto.error_frame(
                "rate_limited", "mensagens demais por segundo; espere um pouco", send.ref))
            return
        to: str | None = None
        if send.to is not None:
            account = await self.store.get_account(name_key(send.to))
            if account is None:
                self._write(session, proto.rejected_frame(proto.unknown_user(send.to, send.ref)))
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

    async def _on_history(self, session: Session, request: proto.HistoryRequest) -> None:
        if request.before is not None:
            try:
                log_order(request.before)
            except ValueError:
                self._write(session, proto.error_frame(
                    "invalid_message", "'before' não é um id de mensagem", request.ref))
                return
        entries, more = await self.store.before(session.key, request.before, request.limit)
        self._write(session, proto.history_frame(entries, more, request.ref))

    async def _writer(self) -> None:
        """Append each burst of sends in one commit, then fan the entries out."""
        queue = self._queue
        while True:
            while self._deferred.pending_bytes() > MAX_DEFERRED:
                await asyncio.sleep(0)  # the flusher runs meanwhile
            batch = [await queue.get()]
            while len(batch) < MAX_BATCH and not queue.empty():
                batch.append(queue.get_nowait())
            try:
                results = await self.store.append([draft for draft, _ in batch])
            except StoreError as error:
                log.error("append failed: %s", error)
                for draft, session in batch:
                    self._write(session, proto.error_frame(
                        "server_error", "não foi possível guardar a mensagem; tente de novo",
                        draft.ref))
                continue
            tailed = self.bus.tails_log
            self._fan_out(
                (session, result)
                for (_, session), result in zip(batch, results, strict=True)
                # what was created comes back through the bus, to every process
                if not (tailed and result.created)
            )

    def _fan_out(self, results: Iterable[tuple[Session | None, Appended]]) -> None:
        """Route each result (its sender, or None) and write them all as one burst.

        The whole burst is built and written without an await: no session can come or go in
        between, and each connection gets one write with its frames in order.
        """
        burst: Burst[Session] = Burst()
        for sender, result in results:
            self._publish(sender, result, burst)
        self._write_burst(burst)

    # ------------------------------------------------------------------ the bus's sink

    def deliver(self, entries: Sequence[tuple[Entry, str | None]]) -> None:
        """New log entries from the bus, as one burst; ``origin`` (a session id) gets its ref."""
        by_sid = self._by_sid
        self._fan_out(
            (by_sid.get(origin) if origin is not None else None, Appended(entry, True))
            for entry, origin in entries
        )

    def presence_changed(self, user: str, online: bool, event_id: str | None) -> None:
        """A user came or went: tell the sessions of every other user here."""
        key = name_key(user)
        self._send_live(self.presence.others(key), proto.presence_frame(user, online), event_id)

    def _publish(self, sender: Session | None, result: Appended, burst: Burst[Session]) -> None:
        """Route a new entry to its sessions (``sender`` alone gets its ref); answer a resend.

        ``result.created`` False is a resend of a ref the store already accepted from this
        user: the original entry goes back to the session that resent it, with that ref, every
        time it is resent (that session may have seen the message without its ref, in a
        replay, or not at all); nothing was stored and nobody else hears of it.
        """
        entry = result.entry
        if not result.created:
            if sender is not None:
                burst.to_one(sender, text_frame(proto.message_frame(entry, entry.ref)))
            return
        plain = text_frame(proto.message_frame(entry))
        mine = None
        if sender is not None and entry.ref is not None:
            mine = text_frame(proto.message_frame(entry, entry.ref))
        if entry.to is None:  # public: every session, without a pass over them here
            for session in self._catching_up:
                if session is not sender or mine is None:
                    session.buffer.append(entry)
            if sender is not None and mine is not None:
                burst.to_everyone_but(sender, plain, mine)
            else:
                burst.to_everyone(plain)
            return
        for session in targets(entry, self.presence):
            if session is sender and mine is not None:
                burst.to_one(session, mine)
            elif session.catching_up:
                session.buffer.append(entry)
            else:
                burst.to_one(session, plain)

    def _write_burst(self, burst: Burst[Session]) -> None:
        """One write per live session: its own frames now, the shared ones a chunk at a time."""
        shared, own = burst.joined()
        self._deferred.add(shared, self.presence.all_sessions(), own, self._catching_up)
        if self._deferred.flush_some(FLUSH_CHUNK):
            self._flush_wanted.set()

    async def _flusher(self) -> None:
        """Write out deferred broadcasts, yielding to other work after each chunk."""
        while True:
            await self._flush_wanted.wait()
            self._flush_wanted.clear()
            while self._deferred.flush_some(FLUSH_CHUNK):
                await asyncio.sleep(0)

    async def _leave(self, session: Session) -> None:
        """Unregister the session; the user's last session going away announces offline."""
        session.closing = True
        self._catching_up.discard(session)
        self._deferred.forget(session)
        log.info("leave %s (%s) close code %s", session.user, session.sid, session.ws.close_code)
        self._by_sid.pop(session.sid, None)
        last = self.presence.close(session)
        if last:
            self._buckets.pop(session.key, None)
        await self.bus.leave(session.user, session.key, session.sid, last)

    # ------------------------------------------------------------------ writing

    def _put(self, session: Session, data: bytes) -> None:
        """Write encoded frames to one session without waiting; past ``max_pending`` unsent
        bytes the session is closed with 4008 instead."""
        if session.closing or not write_frames(session.ws, data):
            return
        if session.ws.transport.get_write_buffer_size() > self.config.max_pending:
            self._close_slow(session)

    def _write(self, session: Session, frame: str) -> None:
        """Queue one frame for one session without waiting (after its deferred broadcasts)."""
        self._deferred.write_now(session, text_frame(frame))

    def _write_many(self, sessions: Sequence[Session], frame: str) -> None:
        """Write the same frame to many live sessions, encoding it once, never waiting."""
        data = text_frame(frame)
        for session in sessions:
            self._deferred.write_now(session, data)

    def _send_live(
        self, sessions: Iterable[Session], frame: str, event_id: str | None = None
    ) -> None:
        """A live frame for many sessions: written now, or held by those catching up
        (with its ``event_id``, if it has one, so the catch-up can skip what it covered)."""
        held = frame if event_id is None else (event_id, frame)
        live: list[Session] = []
        for session in sessions:
            if session.catching_up:
                session.buffer.append(held)
            else:
                live.append(session)
        self._write_many(live, frame)

    def _close_slow(self, session: Session) -> None:
        session.closing = True
        log.info("closing %s (%s): %s", session.sid, session.user, "reader too slow")
        timeout = self.config.slow_close_timeout
        session.ws.close_timeout = timeout
        self._spawn(self._close_within(session.ws, CLOSE_SLOW, "leitor lento demais", timeout))

    @staticmethod
    async def _close_within(ws: ServerConnection, code: int, reason: str, timeout: float) -> None:
        """Close with ``code``; drop the TCP connection if that is not done within ``timeout`` s.

        ``ws.close()`` first waits for room in the send buffer, which a peer that does not
        read never makes: without the bound, such a connection (and its buffer) would stay.
        """
        try:
            async with asyncio.timeout(timeout):
                await ws.close(code, reason)
        except TimeoutError:
            ws.transport.abort()



_STORE_DOWN = "não foi possível falar com o armazenamento; tente de novo em instantes"
_TOO_MANY = "muitas tentativas de login; espere um minuto"
_LOGIN_HINT = 'o primeiro quadro deve ser {"type": "login", ...} ou /login NOME SENHA'


def _address(ws: ServerConnection) -> str:
    peer = ws.remote_address
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return "?"
