"""Security tests (issue 7, "Security"): how passwords and tokens are kept, and that the
failed-login limits never lock out clients that hold a valid token.

Elsewhere in the suite (listed in docs/guarantees.md's faults table):
- the failed-login limits per name and per address, and that successful logins are not
  counted: tests/server/test_login.py (``test_failed_logins_per_*``, ``test_successful_logins_*``);
- no sequence of actions shows a user another's private message:
  tests/server/test_state_machine.py;
- the Origin check (``--allow-origin``) and wss:// (``--certfile``/``--keyfile``):
  tests/server/test_run.py; no HTML injection in the browser client: tests/client/test_browser.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from chatkit import Clients, expect_close, login, open_ws, publish, read_backlog, send_json

from wschat.core.credentials import verify_password
from wschat.server.thread import ServerThread

PASSWORD = "senha-secreta-çã-🙂-1234"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "chat.db"


@pytest.fixture
def server(db: Path) -> Iterator[ServerThread]:
    with ServerThread(db=str(db)) as running:
        yield running


@pytest.fixture
async def clients(server: ServerThread) -> AsyncIterator[Clients]:
    async with Clients() as pool:
        yield pool


async def refused(url: str, frame: dict[str, object]) -> str:
    """Log in with ``frame``; the login must be refused (one error, close 4001): its code."""
    ws = await open_ws(url)
    await send_json(ws, frame)
    frames = await expect_close(ws, 4001)
    assert len(frames) == 1 and frames[0]["type"] == "error", frames
    return str(frames[0]["code"])


async def test_passwords_are_kept_only_as_salted_slow_hashes(
    server: ServerThread, clients: Clients, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens = []
    for name in ("ana", "bob"):  # the same password for both
        ws, welcome = await clients.login(server.url, name, PASSWORD)
        await read_backlog(ws, welcome)
        await publish(ws, f"oi, sou {name}")
        tokens.append(welcome["token"])
    await clients.aclose()

    async def accounts() -> list[str]:
        found = [await server.chat.store.get_account(name) for name in ("ana", "bob")]
        return [account.password_hash for account in found if account is not None]

    hashes = server.call(accounts)
    assert len(hashes) == 2
    params = []
    for stored in hashes:
        scheme, n, r, p, salt, digest = stored.split("$")
        assert scheme == "scrypt"
        assert int(n) >= 2**14 and int(r) >= 8 and int(p) >= 1  # slow: ~16 MiB per hash
        params.append((salt, digest))
        assert verify_password(PASSWORD, stored) and not verify_password(PASSWORD + "x", stored)
    (salt_a, hash_a), (salt_b, hash_b) = params
    assert salt_a != salt_b and hash_a != hash_b  # salted: equal passwords, unequal hashes
    server.stop()  # everything is on disk now

    # Neither the password nor a token is anywhere in the database's files, in any encoding
    # a careless store might have used, nor in the server's log.
    stored_bytes = b"".join(path.read_bytes() for path in db.parent.glob(db.name + "*"))
    assert b"oi, sou ana" in stored_bytes  # the files do hold the data
    for secret in (PASSWORD, *tokens):
        for encoded in (secret.encode(), secret.encode("utf-16-le"), json.dumps(secret).encode()):
            assert encoded not in stored_bytes
        assert secret not in caplog.text


#: Token logins made from one address while that address is blocked for failed logins.
TOKEN_LOGINS = 1000
USERS = 10
BATCH = 100  # connections open at once


async def test_a_blocked_address_still_lets_every_valid_token_in(
    server: ServerThread, clients: Clients
) -> None:
    """Thousands of clients behind one address (a NAT, a campus) reconnect with their tokens
    even after someone at that address used up the failed-login budget: a token cannot be
    guessed, so letting a valid one in helps no attacker. Password logins stay refused."""
    url = server.url
    tokens = {}
    for n in range(USERS):
        _, welcome = await clients.login(url, f"user{n}", PASSWORD)
        tokens[f"user{n}"] = welcome["token"]
    await clients.aclose()

    # Someone at this address fails 50 times (the default budget per address) ...
    limit = server.config.login_failures_per_address
    for n in range(limit):
        code = await refused(url, {"type": "login", "user": f"mallory{n}", "token": "palpite"})
        assert code == "auth_failed"
    # ... so the address is blocked: guesses, and even right passwords, are refused.
    assert await refused(url, {"type": "login", "user": "mallory", "token": "palpite"}) == "rate_limited"
    assert await refused(url, {"type": "login", "user": "user0", "password": PASSWORD}) == "rate_limited"
    assert await refused(url, {"type": "login", "user": "user0", "token": "palpite"}) == "rate_limited"

    # Every valid token still gets in: a thousand logins from the same address.
    names = [f"user{n % USERS}" for n in range(TOKEN_LOGINS)]
    welcomed = 0
    for start in range(0, TOKEN_LOGINS, BATCH):
        batch = names[start:start + BATCH]
        opened = await asyncio.gather(*(login(url, name, token=tokens[name]) for name in batch))
        for name, (_, welcome) in zip(batch, opened, strict=True):
            assert welcome["user"] == name and welcome["token"] == tokens[name]
            welcomed += 1
        await asyncio.gather(*(ws.close() for ws, _ in opened))
    assert welcomed == TOKEN_LOGINS
    # The block is still there for guesses.
    assert await refused(url, {"type": "login", "user": "user1", "token": "palpite"}) == "rate_limited"
