"""The login phase: the first frame must log in; anything else ends with 4001 after one error.

A password registers a new name or checks an existing one (scrypt runs in a thread, so the
event loop never waits for a hash); a token logs in without one. Failed logins are counted per
name and per address, but a valid token always gets in: a token cannot be guessed, and one
attacker must not lock out every client behind the same address (a NAT).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wschat.core.credentials import (
    hash_password,
    new_session_id,
    new_token,
    token_hash,
    verify_password,
)
from wschat.core.defaults import TOKEN_TTL
from wschat.core.errors import CloseCode, ErrorCode
from wschat.core.frames import error_frame
from wschat.core.names import name_key
from wschat.core.parsing import parse_frame
from wschat.core.ratelimit import FailureLimiter
from wschat.core.requests import Drop, Login, Rejected
from wschat.server.config import ServerConfig
from wschat.server.metrics import Metrics
from wschat.server.session import Session, peer_address
from wschat.server.writer import direct_fd
from wschat.store import Account, Store

__all__ = ["LoginGate", "login_timeout_detail"]

log = logging.getLogger("wschat.server")

_TOO_MANY = "muitas tentativas de login; espere um minuto"
_DROP_FIRST = "drop só vale depois do login: faça login primeiro"
_LOGIN_HINT = 'o primeiro quadro deve ser {"type": "login", ...} ou /login NOME SENHA'


def login_timeout_detail(config: ServerConfig) -> str:
    """The ``login_required`` detail when no login came in time, naming ``login_timeout`` as a
    Brazilian reader writes it (``10``, ``0,5``)."""
    seconds = f"{config.login_timeout:g}".replace(".", ",")
    return f"faça login em até {seconds} s: /login NOME SENHA"


class LoginGate:
    """Admits a new connection as a :class:`Session`, or refuses it (error, then 4001)."""

    def __init__(self, store: Store, config: ServerConfig, metrics: Metrics | None = None) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics if metrics is not None else Metrics()
        self._failures_by_name = FailureLimiter(
            config.login_failures_per_name, config.login_failure_window
        )
        self._failures_by_address = FailureLimiter(
            config.login_failures_per_address, config.login_failure_window
        )

    async def admit(self, ws: ServerConnection) -> tuple[Session, Login] | None:
        """Read and check the login frame; return the new session, or None once refused.

        Raises :class:`~wschat.store.StoreError` when the store fails (the caller closes
        with 1011). The caller must drop the returned ``Login`` (it holds the password or
        token) as soon as it has used its ``resume``.
        """
        try:
            raw = await asyncio.wait_for(ws.recv(), self.config.login_timeout)
        except TimeoutError:
            await self._refuse(ws, ErrorCode.LOGIN_REQUIRED, login_timeout_detail(self.config))
            return None
        except ConnectionClosed:
            return None
        if isinstance(raw, bytes):
            await self._refuse(ws, ErrorCode.LOGIN_REQUIRED, "o primeiro quadro deve ser um login")
            return None
        event = parse_frame(raw)
        if isinstance(event, Rejected) and event.from_login:
            await self._refuse(ws, event.code, event.detail)
            return None
        if isinstance(event, Drop):  # PROTOCOL.md v4: before welcome, drop is invalid_message
            await self._refuse(ws, ErrorCode.INVALID_MESSAGE, _DROP_FIRST)
            return None
        if not isinstance(event, Login):
            await self._refuse(ws, ErrorCode.LOGIN_REQUIRED, _LOGIN_HINT)
            return None
        address = peer_address(ws)
        key = name_key(event.user)
        now = time.monotonic()
        blocked = self._failures_by_name.blocked(key, now) or self._failures_by_address.blocked(
            address, now
        )
        if blocked and event.token is None:
            await self._refuse(ws, ErrorCode.RATE_LIMITED, _TOO_MANY)
            return None
        account, token = await self._authenticate(event)
        if account is None:
            self.metrics.login_failures.inc()
            now = time.monotonic()
            self._failures_by_name.record_failure(key, now)
            self._failures_by_address.record_failure(address, now)
            if blocked:
                await self._refuse(ws, ErrorCode.RATE_LIMITED, _TOO_MANY)
            else:
                await self._refuse(ws, ErrorCode.AUTH_FAILED,
                                   "nome ou senha incorretos, ou token inválido")
            return None
        session = Session(ws, account.name, account.key, new_session_id(), token, fd=direct_fd(ws))
        log.info("login %s (%s) from %s", session.user, session.sid, address)
        return session, event

    async def _refuse(self, ws: ServerConnection, code: str, detail: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(error_frame(code, detail))
            await ws.close(CloseCode.LOGIN_FAILED, code)

    async def _authenticate(self, login: Login) -> tuple[Account | None, str]:
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
                account = await _verified(account, login.password)
        else:
            account = await _verified(account, login.password)
        if account is None:
            return None, ""
        token = new_token()
        await self.store.add_token(token_hash(token), account.key, time.time() + TOKEN_TTL)
        return account, token


async def _verified(account: Account, password: str) -> Account | None:
    ok = await asyncio.to_thread(verify_password, password, account.password_hash)
    return account if ok else None
