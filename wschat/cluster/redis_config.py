"""How a ``serve --redis`` process becomes one node of several: its options and its parts."""

from __future__ import annotations

from dataclasses import dataclass

from wschat.cluster import redis_defaults as d
from wschat.cluster.redis_bus import RedisBus
from wschat.cluster.redis_store import RedisStore

__all__ = ["RedisConfig", "redis_node"]


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """The ``--redis*`` options of ``wschat serve``: where the shared log is, and its bounds."""

    url: str
    prefix: str = d.REDIS_PREFIX
    #: Entries kept in the stream (approximately); 0: no bound.
    maxlen: int = d.REDIS_MAXLEN
    #: Seconds an entry is kept; 0: no bound.
    max_age: float = d.REDIS_MAX_AGE
    node_ttl: float = d.NODE_TTL

    def node(self) -> tuple[RedisStore, RedisBus]:
        """A new (not yet opened) store and the bus of one node on it."""
        store = RedisStore(self.url, prefix=self.prefix, maxlen=self.maxlen, max_age=self.max_age)
        return store, RedisBus(store, node_ttl=self.node_ttl)


def redis_node(redis: str | RedisConfig) -> tuple[RedisStore, RedisBus]:
    """A new (not yet opened) store and bus of one node on the Redis at ``redis`` (a URL or a
    :class:`RedisConfig`): hand both to :class:`~wschat.server.ChatServer` or
    ``ServerThread(store=store, bus=bus)``."""
    config = RedisConfig(redis) if isinstance(redis, str) else redis
    return config.node()
