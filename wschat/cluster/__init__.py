"""Several server processes on one Redis: the Redis adapter, as one package.

- :mod:`~wschat.cluster.redis_store`: :class:`RedisStore`, the log as one Redis Stream, with the
  accounts, tokens, refs and store-and-forward marks beside it;
- :mod:`~wschat.cluster.redis_bus`: :class:`RedisBus`, the tail of that stream, presence across nodes
  and dead-node cleanup;
- :mod:`~wschat.cluster.scripts`: the Lua scripts both run inside Redis;
- :mod:`~wschat.cluster.redis_config`: :class:`RedisConfig` (the ``--redis*`` options) and
  :func:`redis_node`;
- :mod:`~wschat.cluster.redis_defaults`: those options' defaults.

The bus uses only the store's declared node API (:attr:`RedisStore.redis`,
:meth:`RedisStore.connect`, :meth:`RedisStore.key`, :attr:`RedisStore.prefix`,
:func:`~wschat.cluster.redis_store.entry_from_stream`), never its private state. Importing this
package's names imports redis-py (the ``redis`` extra); they are imported on first use (PEP
562), so that the command line can read :mod:`~wschat.cluster.redis_defaults` without redis-py.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wschat.cluster.redis_bus import RedisBus
    from wschat.cluster.redis_config import RedisConfig, redis_node
    from wschat.cluster.redis_store import RedisStore

__all__ = ["RedisBus", "RedisConfig", "RedisStore", "redis_node"]

_WHERE = {
    "RedisBus": "wschat.cluster.redis_bus",
    "RedisConfig": "wschat.cluster.redis_config",
    "RedisStore": "wschat.cluster.redis_store",
    "redis_node": "wschat.cluster.redis_config",
}


def __getattr__(name: str) -> Any:
    """Import the module behind a public name on first use (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'wschat.cluster' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value
