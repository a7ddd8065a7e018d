"""The offline switch: ``WSCHAT_OFFLINE=1`` keeps every call on this machine."""

from __future__ import annotations

import os

__all__ = ["OFFLINE_ENV", "is_offline"]

#: Name of the environment variable that forbids contacting outside hosts.
OFFLINE_ENV = "WSCHAT_OFFLINE"


def is_offline() -> bool:
    """Return True when ``WSCHAT_OFFLINE`` is set to a true value (1, true, yes, on).

    The test suite sets it, so notebooks and helpers must then use local servers only.
    """
    value = os.environ.get(OFFLINE_ENV, "").strip().lower()
    return value in {"1", "true", "yes", "on"}
