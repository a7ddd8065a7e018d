"""Every read-position and typing test of tests/server/test_read_typing.py again, on one node
of the Redis store and bus (the ``serve`` fixture of test_server_redis.py makes Redis nodes;
the same ``db``, the same key prefix). The two-process scenarios are in test_cluster.py."""

from __future__ import annotations

from cluster.test_server_redis import serve  # noqa: F401 - the fixture that makes Redis nodes
from rediskit import redis_server  # noqa: F401 - a fixture
from server.test_read_typing import *  # noqa: F403 - the tests to run again
