"""The drain schedule of a deploy: which connection closes when (PROTOCOL.md, "Drain"). No I/O.

A process that stops with ``--drain SECONDS`` closes its connections with 1012 spread evenly
over the window, so that the clients reconnect to the other processes at a steady rate rather
than all at once (a thundering herd that would hit the survivors' logins in one instant).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

__all__ = ["drain_schedule"]

T = TypeVar("T")


def drain_schedule(items: Sequence[T], window: float) -> list[tuple[float, T]]:
    """When to close each of ``items``: ``(offset in seconds from the start, item)`` pairs.

    The ``n`` closes are spaced ``window / n`` apart, the first at 0 and the last at
    ``window - window / n``, in the order of ``items``: the window is cut into ``n`` equal
    slots and each connection closes at the start of its own slot, so the whole drain ends
    within ``window``. A window of 0 (or less) closes everything at offset 0.
    """
    n = len(items)
    if n == 0:
        return []
    step = window / n if window > 0 else 0.0
    return [(index * step, item) for index, item in enumerate(items)]
