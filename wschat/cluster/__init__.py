"""Several server processes on one Redis: the Redis adapter, as one package.

- :mod:`~wschat.cluster.store`: :class:`RedisStore`, the log as one Redis Stream, with the
  accounts, tokens, refs and store-and-forward marks beside it;
- :mod:`~wschat.cluster.bus`: :class:`RedisBus`, the tail of that stream, presence across nodes
  and dead-node cleanup;
- :mod:`~wschat.cluster.scripts`: the Lua scripts both run inside Redis;
- :mod:`~wschat.cluster.config`: :class:`RedisConfig` (the ``--redis*`` options) and
  :func:`redis_node`.

The bus uses only the store's declared node API (:attr:`RedisStore.redis`,
:meth:`RedisStore.connect`, :meth:`RedisStore.key`, :attr:`RedisStore.prefix`,
:func:`~wschat.cluster.store.entry_from_stream`), never its private state. Importing this
package imports redis-py (the ``redis`` extra).
"""

from __future__ import annotations

from wschat.cluster.bus import RedisBus
from wschat.cluster.config import RedisConfig, redis_node
from wschat.cluster.store import RedisStore

__all__ = ["RedisBus", "RedisConfig", "RedisStore", "redis_node"]
