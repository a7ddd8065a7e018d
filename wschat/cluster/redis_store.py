"""The log in Redis: one Redis Stream shared by every server process (``serve --redis URL``).

Several ``wschat serve`` processes ("nodes") on one Redis share everything here: the log, its
epoch, accounts, tokens, accepted refs and the store-and-forward marks. The stream is also the
bus between nodes: each node tails it (:mod:`wschat.cluster`) and delivers new entries to its
own sessions, so a message reaches every node in the one order Redis gave it.

Keys, all under ``prefix`` (default ``wschat:``):

=========================  ==============================================================
``meta``                   hash: ``schema`` and ``epoch`` (set once, by the first node)
``log``                    the stream; entry fields ``s`` sender, ``t`` to (absent: public),
                           ``x`` text, ``ts``, ``r`` ref, ``o`` the session that sent it
``accounts``               hash: user key -> JSON ``[name, password_hash]``
``tokens``, ``token-exp``  hash: token hash -> ``"user_key expires_at"``; zset for pruning
``ref:KEY:REF``            ``"id ts"`` of the entry a ref was accepted for (expires in 20 min)
``away:KEY``               hash ``s``/``e``: the user's last away period (stream ids)
``reads``                  hash: user key -> read position (a stream id)
``seq``, ``pubseq``        counters: entries appended, public entries appended (fields n, pc)
``own:KEY``, ``inbox:KEY``  sorted sets of sequence numbers: the user's public entries, and
                           the private entries to the user from others (for unread counts)
=========================  ==============================================================

Ids are stream ids, ``"<ms>-<seq>"``, given by Redis at ``XADD``; compare them with
:func:`wschat.core.model.log_order`. An append is one Lua script per burst, so checking a ref and
adding the entry is atomic across nodes: two nodes taking the same resend cannot both store it.

Retention: ``maxlen`` entries (approximate trimming, default 1,000,000) and/or ``max_age``
seconds. A resume from a trimmed id gets history instead (:meth:`RedisStore.after` is None).

Reads filter visibility in Python over chunked ``XRANGE``/``XREVRANGE`` calls: a read costs about
the entries it skips (other users' private messages) plus what it returns. Unread counts do
not read the log: every entry carries its sequence number and how many public entries came up
to it, and two sorted sets per user hold their own public entries and the private ones to
them, so one script answers with two ``XRANGE`` lookups and two ``ZCOUNT`` in O(log n)
(:data:`~wschat.cluster.scripts.UNREAD_INDEXED`). Entries of an older wschat have no such
fields: for them the count walks the stream inside Redis from the read position and stops at
the cap (:data:`~wschat.cluster.scripts.UNREAD`). Durability is Redis':
run it with ``appendonly yes`` (what :class:`wschat.teaching.redis_server.RedisServer` does) so that an
acknowledged id survives a restart of Redis.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from wschat.cluster.redis_defaults import REDIS_MAX_AGE, REDIS_MAXLEN, REDIS_PREFIX
from wschat.cluster.scripts import APPEND, AWAY, SET_READ, UNREAD, UNREAD_INDEXED
from wschat.core.credentials import new_epoch
from wschat.core.model import Draft, Entry
from wschat.core.names import name_key
from wschat.store.base import (
    REF_WINDOW,
    TOKEN_PRUNE_EVERY,
    Account,
    Appended,
    StoreBase,
    StoreError,
    account_key,
    before_fetch,
    before_page,
    check_drafts,
    new_entry,
    oldest_first,
)

__all__ = [
    "SCHEMA_VERSION",
    "RedisStore",
    "parse_stream_id",
    "safe_url",
]

#: Version of the key layout above, kept in ``meta``; another version is refused.
SCHEMA_VERSION = "1"

_MAX_PART = 2**64 - 1
_STREAM_ID = re.compile(r"(0|[1-9][0-9]{0,19})-(0|[1-9][0-9]{0,19})")
#: Entries fetched per round trip when a read walks the stream.
_CHUNK = 512
#: Entries per XRANGE inside the unread-count script.
_UNREAD_CHUNK = 1000

def parse_stream_id(entry_id: object) -> tuple[int, int] | None:
    """``(ms, seq)`` of a stream id in its canonical spelling (``"1764090000123-0"``), else None.

    ``"42"``, ``"01-0"``, ``"1-"``, ``" 1-0"`` and parts past 64 bits are not ids here: a
    client's ``resume.after`` is untrusted and must never reach Redis as anything else.
    """
    if not isinstance(entry_id, str):
        return None
    match = _STREAM_ID.fullmatch(entry_id)
    if match is None:
        return None
    ms, seq = int(match[1]), int(match[2])
    if ms > _MAX_PART or seq > _MAX_PART:
        return None
    return ms, seq


def safe_url(url: str) -> str:
    """``url`` without its password (``redis://:***@host``), for logs and error messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def _upper(upto: str | None) -> str:
    """The inclusive upper bound of an ``upto`` argument; ValueError if it is not an id (a bug)."""
    if upto is None:
        return "+"
    if parse_stream_id(upto) is None:
        raise ValueError(f"upto is not a log id: {upto!r}")
    return upto


def _entry(entry_id: str, fields: dict[str, str]) -> Entry:
    return Entry(
        entry_id,
        fields["s"],
        fields.get("t"),
        fields["x"],
        float(fields["ts"]),
        fields.get("r"),
    )


def entry_from_stream(entry_id: str, fields: dict[str, str]) -> tuple[Entry, str | None]:
    """A log entry read from the stream, and the session id that sent it (None if unknown)."""
    return _entry(entry_id, fields), fields.get("o")


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


class RedisStore(StoreBase):
    """The :class:`~wschat.store.base.Store` interface on Redis (one stream is the log).

    ``url`` is ``redis://HOST:PORT/N`` (``rediss://`` for TLS, ``unix://`` for a socket).
    Call :meth:`open` (or ``async with``) first. Every Redis failure comes out as a one-line
    :class:`~wschat.store.base.StoreError`; a call that fails may be retried by the caller
    (the connection pool reconnects on the next call).
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = REDIS_PREFIX,
        maxlen: int = REDIS_MAXLEN,
        max_age: float = REDIS_MAX_AGE,
    ) -> None:
        if maxlen < 0 or max_age < 0:
            raise ValueError("maxlen and max_age must be 0 (no bound) or more")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"not a Redis URL (redis://HOST:PORT/N): {safe_url(url)!r}")
        self.url = url
        self.shown_url = safe_url(url)
        self.prefix = prefix
        self.maxlen = maxlen
        self.max_age = max_age
        self.epoch: str = ""  # set by open()
        self._redis: Redis | None = None
        self._tokens_pruned = float("-inf")
        self._append_script: Any = None
        self._away_script: Any = None
        self._set_read_script: Any = None
        self._unread_script: Any = None
        self._unread_indexed_script: Any = None

    # -- connections -------------------------------------------------------------------------

    def connect(self, *, socket_timeout: float | None = 5.0) -> Redis:
        """A new client for this store's Redis (``decode_responses``): the tail uses its own.

        Commands are retried once after a lost connection (short backoff), then fail fast, so
        that a server answers ``server_error`` within seconds instead of hanging.
        """
        return Redis.from_url(
            self.url,
            decode_responses=True,
            socket_connect_timeout=2.0,
            socket_timeout=socket_timeout,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 1),
            health_check_interval=5,
        )

    @property
    def redis(self) -> Redis:
        """The open client; StoreError if :meth:`open` was not called."""
        if self._redis is None:
            raise StoreError("the store is not open: call open() first")
        return self._redis

    def key(self, name: str) -> str:
        """The full name of one of this store's keys."""
        return self.prefix + name

    async def open(self) -> None:
        """Connect, check the key layout, and read (or set, the first time) the epoch.

        Raises StoreError (one line) if Redis cannot be reached, is older than 6.2 (streams
        with ``MINID`` and exclusive ranges), or holds another layout under this prefix.
        """
        if self._redis is not None:
            return
        client = self.connect()
        try:
            info = await client.info("server")
            version = str(info.get("redis_version", "0"))
            if tuple(int(part) for part in version.split(".")[:2]) < (6, 2):
                raise StoreError(
                    f"Redis at {self.shown_url} is {version}; wschat needs 6.2 or newer"
                )
            meta = self.key("meta")
            await client.hsetnx(meta, "schema", SCHEMA_VERSION)
            await client.hsetnx(meta, "epoch", new_epoch())
            schema, epoch = await client.hmget(meta, ["schema", "epoch"])
        except RedisError as exc:
            await client.aclose()
            raise StoreError(f"cannot use Redis at {self.shown_url}: {exc}") from exc
        except BaseException:
            await client.aclose()
            raise
        if schema != SCHEMA_VERSION or not epoch:
            await client.aclose()
            raise StoreError(
                f"Redis at {self.shown_url} has wschat schema {schema!r} under {self.prefix!r},"
                f" this wschat knows {SCHEMA_VERSION}"
            )
        self.epoch = str(epoch)
        self._append_script = client.register_script(APPEND)
        self._away_script = client.register_script(AWAY)
        self._set_read_script = client.register_script(SET_READ)
        self._unread_script = client.register_script(UNREAD)
        self._unread_indexed_script = client.register_script(UNREAD_INDEXED)
        self._redis = client

    async def close(self) -> None:
        """Close the connections. Everything an earlier call returned from is in Redis."""
        client, self._redis = self._redis, None
        if client is not None:
            try:
                await client.aclose()
            except RedisError as exc:
                raise StoreError(f"closing Redis connection: {exc}") from exc


    async def _do(self, action: str, call: Awaitable[Any]) -> Any:
        """Await one Redis call; its failure becomes a one-line StoreError naming ``action``.

        The result is untyped: with ``decode_responses`` every string in it is a ``str``.
        """
        try:
            return await call
        except RedisError as exc:
            raise StoreError(f"Redis error while {action}: {exc}") from exc
        except OSError as exc:
            raise StoreError(f"Redis unreachable while {action}: {exc}") from exc

    # -- accounts -----------------------------------------------------------------------

    async def get_account(self, user_key: str) -> Account | None:
        key = name_key(user_key)
        raw = await self._do("reading an account", self.redis.hget(self.key("accounts"), key))
        if raw is None:
            return None
        name, password_hash = json.loads(raw)
        return Account(str(name), key, str(password_hash))

    async def create_account(self, name: str, password_hash: str) -> Account:
        key = account_key(name)
        value = json.dumps([name, password_hash])
        await self._do("creating an account", self.redis.hsetnx(self.key("accounts"), key, value))
        account = await self.get_account(key)
        if account is None:  # only if someone deleted it in between
            raise StoreError(f"account {name!r} vanished while it was being created")
        return account

    # -- tokens -----------------------------------------------------------------------------

    async def add_token(self, token_hash: str, user_key: str, expires_at: float) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.key("tokens"), token_hash, f"{user_key} {float(expires_at)!r}")
        pipe.zadd(self.key("token-exp"), {token_hash: float(expires_at)})
        await self._do("saving a token", pipe.execute())

    async def token_user(self, token_hash: str, now: float) -> str | None:
        if now - self._tokens_pruned >= TOKEN_PRUNE_EVERY:
            self._tokens_pruned = now
            await self._prune_tokens(now)
        raw = await self._do("checking a token", self.redis.hget(self.key("tokens"), token_hash))
        if raw is None:
            return None
        user_key, _, expires = str(raw).partition(" ")
        return user_key if float(expires) > now else None

    async def _prune_tokens(self, now: float) -> None:
        expired = await self._do(
            "pruning tokens", self.redis.zrangebyscore(self.key("token-exp"), "-inf", now)
        )
        if expired:
            pipe = self.redis.pipeline(transaction=True)
            pipe.hdel(self.key("tokens"), *expired)
            pipe.zrem(self.key("token-exp"), *expired)
            await self._do("pruning tokens", pipe.execute())

    async def revoke_token(self, token_hash: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.key("tokens"), token_hash)
        pipe.zrem(self.key("token-exp"), token_hash)
        await self._do("revoking a token", pipe.execute())

    # -- the log ----------------------------------------------------------------------------

    async def append(self, drafts: Sequence[Draft]) -> list[Appended]:
        check_drafts(drafts)
        if not drafts:
            return []
        args: list[str | int | float] = [
            self.prefix,
            self.maxlen,
            int(self.max_age * 1000),
            repr(REF_WINDOW),
            int(2 * REF_WINDOW),  # twice the window: a clock stepping back loses nothing
        ]
        for draft in drafts:
            args += [
                draft.sender,
                name_key(draft.sender),
                draft.to or "",
                name_key(draft.to) if draft.to is not None else "",
                draft.text,
                repr(float(draft.ts)),
                "" if draft.ref is None else "r" + draft.ref,
                draft.origin or "",
            ]
        replies = await self._do(
            "appending messages", self._append_script(keys=[], args=args, client=self.redis)
        )
        results: list[Appended] = []
        for draft, reply in zip(drafts, replies, strict=True):
            if int(reply[0]) == 1:
                results.append(Appended(new_entry(str(reply[1]), draft), True))
            else:
                results.append(Appended(_entry(str(reply[1]), _pairs(reply[2])), False))
        return results

    async def _walk(
        self, start: str, stop: str, *, reverse: bool, chunk: int = _CHUNK
    ) -> AsyncIterator[Entry]:
        """Entries from ``start`` to ``stop`` (Redis range syntax, ``(`` = exclusive), in chunks."""
        log = self.key("log")
        while True:
            if reverse:
                call = self.redis.xrevrange(log, max=start, min=stop, count=chunk)
            else:
                call = self.redis.xrange(log, min=start, max=stop, count=chunk)
            batch = await self._do("reading the log", call)
            for entry_id, fields in batch:
                yield _entry(entry_id, fields)
            if len(batch) < chunk:
                return
            start = "(" + batch[-1][0]

    async def _visible(
        self, user_key: str, start: str, stop: str, n: int, *, reverse: bool
    ) -> list[Entry]:
        """Up to ``n`` entries visible to the user in the range, in walking order."""
        if n <= 0:
            return []
        key = name_key(user_key)
        found: list[Entry] = []
        chunk = min(max(2 * n, 64), _CHUNK)
        async for entry in self._walk(start, stop, reverse=reverse, chunk=chunk):
            if entry.visible_to(key):
                found.append(entry)
                if len(found) >= n:
                    break
        return found

    async def head(self) -> str | None:
        last = await self._do(
            "reading the log", self.redis.xrevrange(self.key("log"), count=1)
        )
        return str(last[0][0]) if last else None

    async def after(
        self, user_key: str, after_id: str, upto: str | None, limit: int
    ) -> list[Entry] | None:
        high = _upper(upto)
        if await self.get(after_id) is None:  # get() also refuses a malformed id
            return None
        return await self._visible(user_key, "(" + after_id, high, limit, reverse=False)

    async def recent(self, user_key: str, n: int, upto: str | None = None) -> list[Entry]:
        return oldest_first(await self._visible(user_key, _upper(upto), "-", n, reverse=True))

    async def before(
        self, user_key: str, before_id: str | None, n: int
    ) -> tuple[list[Entry], bool]:
        if before_id is None:
            start = "+"
        elif parse_stream_id(before_id) is None:
            return [], False
        else:
            start = "(" + before_id
        found = await self._visible(user_key, start, "-", before_fetch(n), reverse=True)
        return before_page(found, n)

    async def get(self, entry_id: str) -> Entry | None:
        if parse_stream_id(entry_id) is None:
            return None
        found = await self._do(
            "reading the log", self.redis.xrange(self.key("log"), entry_id, entry_id)
        )
        return _entry(found[0][0], found[0][1]) if found else None

    # -- store-and-forward ------------------------------------------------------------------

    async def went_offline(self, user_key: str) -> None:
        await self._do(
            "marking a user away",
            self._away_script(args=[self.prefix, "off", name_key(user_key)], client=self.redis),
        )

    async def came_online(self, user_key: str) -> None:
        await self._do(
            "marking a user back",
            self._away_script(args=[self.prefix, "on", name_key(user_key)], client=self.redis),
        )

    async def forwarded(self, user_key: str, upto: str | None) -> list[Entry]:
        key = name_key(user_key)
        high = _upper(upto)
        start, end = await self._do(
            "reading forwarded messages", self.redis.hmget(self.key("away:" + key), ["s", "e"])
        )
        if start is None:
            return []
        if end is not None and (high == "+" or _order(end) < _order(high)):
            high = end
        found: list[Entry] = []
        async for entry in self._walk("(" + start, high, reverse=False):
            if entry.to_key == key and entry.sender_key != key:
                found.append(entry)
        return found


    # -- read positions ---------------------------------------------------------------------

    async def read_position(self, user_key: str) -> str | None:
        raw = await self._do(
            "reading a read position", self.redis.hget(self.key("reads"), name_key(user_key))
        )
        return None if raw is None else str(raw)

    async def set_read(self, user_key: str, entry_id: str) -> bool:
        if parse_stream_id(entry_id) is None:
            raise ValueError(f"not a log id: {entry_id!r}")
        moved = await self._do(
            "saving a read position",
            self._set_read_script(
                args=[self.prefix, name_key(user_key), entry_id], client=self.redis
            ),
        )
        return int(moved) == 1

    async def unread(self, user_key: str, after: str | None, upto: str | None, cap: int) -> int:
        if cap <= 0:
            return 0
        if after is not None and parse_stream_id(after) is None:
            raise ValueError(f"after is not a log id: {after!r}")
        last = upto if upto is not None else await self.head()
        if last is None:
            return 0
        args = [self.prefix, name_key(user_key), after or "", _upper(last), cap]
        count = int(await self._do(
            "counting unread messages", self._unread_indexed_script(args=args, client=self.redis)
        ))
        if count >= 0:
            return min(count, cap)
        return await self._walk_unread(user_key, after, upto, cap)

    async def _walk_unread(
        self, user_key: str, after: str | None, upto: str | None, cap: int
    ) -> int:
        """The unread count by walking the stream (entries without the count fields)."""
        if after is None:
            start = "-"
        elif parse_stream_id(after) is None:
            raise ValueError(f"after is not a log id: {after!r}")
        else:
            start = "(" + after
        args = [self.prefix, name_key(user_key), start, _upper(upto), cap, _UNREAD_CHUNK]
        count = await self._do(
            "counting unread messages", self._unread_script(args=args, client=self.redis)
        )
        return min(int(count), cap)


def _order(entry_id: str) -> tuple[int, int]:
    parsed = parse_stream_id(entry_id)
    if parsed is None:
        raise StoreError(f"corrupt stream id in Redis: {entry_id!r}")
    return parsed
