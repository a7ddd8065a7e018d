"""Suite-wide setup: nothing in the tests may contact a host outside this machine."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Set before any test module imports wschat, so notebooks and helpers see it too.
os.environ["WSCHAT_OFFLINE"] = "1"

from wschat import Replica


@pytest.fixture
def replica() -> Iterator[Replica]:
    """A replica of the test's server on a free loopback port, stopped after the test."""
    with Replica() as server:
        yield server
