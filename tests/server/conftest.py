"""Fixtures of the server tests (with those of tests/conftest.py: ``serve``, ``clients``,
``backend``, ``redis_server``)."""

from __future__ import annotations

import pytest
from threadkit import Serve

from wschat.server.thread import ServerThread


@pytest.fixture
def server(serve: Serve) -> ServerThread:
    """A server with the default configuration on the test's backend."""
    return serve()
