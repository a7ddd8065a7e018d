"""The defaults of the ``--redis*`` and ``--node-ttl`` options of ``wschat serve``, defined
once: :class:`~wschat.cluster.redis_config.RedisConfig`, :class:`~wschat.cluster.redis_store.RedisStore`,
:class:`~wschat.cluster.redis_bus.RedisBus` and the command line read them from here. Importing
this module does not import redis-py."""

from __future__ import annotations

from typing import Final

__all__ = ["NODE_TTL", "REDIS_MAXLEN", "REDIS_MAX_AGE", "REDIS_PREFIX"]

#: Prefix of every Redis key, so that several chats can share one Redis.
REDIS_PREFIX: Final = "wschat:"
#: About this many messages are kept in the Redis stream (0: no bound).
REDIS_MAXLEN: Final = 1_000_000
#: Messages older than this many seconds are dropped from the stream (0: no bound).
REDIS_MAX_AGE: Final = 0.0
#: A node silent for this many seconds is dead and its users go offline.
NODE_TTL: Final = 15.0
