"""Numbers as a Brazilian reader writes them: decimal comma, thousands with a dot.

The notebooks are in Brazilian Portuguese, so every number a reader sees (prose, tables,
plot labels, printed outputs) goes through here: ``number(12345.678, 1)`` is ``"12.345,7"``.
Pure functions, no locale: the result must not depend on the machine's settings.
"""

from __future__ import annotations

__all__ = ["milliseconds", "number", "percent", "ratio"]

_SWAP = str.maketrans(",.", ".,")


def number(value: float, decimals: int = 0) -> str:
    """``value`` with ``decimals`` places, a decimal comma and a dot between thousands.

    >>> number(1234567.891, 2)
    '1.234.567,89'
    >>> number(-0.5, 1)
    '-0,5'
    """
    if decimals < 0:
        raise ValueError(f"decimals must be 0 or more, not {decimals}")
    english = f"{value:,.{decimals}f}"  # 1,234,567.89
    return english.translate(_SWAP)


def milliseconds(seconds: float, decimals: int = 1) -> str:
    """A duration given in seconds, shown in milliseconds: ``milliseconds(0.0123)`` is ``"12,3 ms"``."""
    return f"{number(seconds * 1000, decimals)} ms"


def percent(fraction: float, decimals: int = 0) -> str:
    """A fraction shown as a percentage: ``percent(0.256)`` is ``"26%"`` (no space, as Brazilian prose and press write it)."""
    return f"{number(fraction * 100, decimals)}%"


def ratio(value: float, decimals: int = 1) -> str:
    """How many times: ``ratio(4.05)`` is ``"4,1x"``."""
    return f"{number(value, decimals)}x"
