"""Types of the compiled fan-out loop (wschat/server/_fanout.c); see outbox.put_each_py."""

from collections.abc import Sequence
from typing import Any, TypeVar

S = TypeVar("S")

def put_each(
    sessions: Sequence[S],
    data: bytes,
    open_state: Any,
    max_pending: int,
    broken: list[tuple[S, Exception]],
    /,
) -> list[S]: ...
