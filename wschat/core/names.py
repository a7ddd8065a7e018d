"""User names: the rule of PROTOCOL.md and the case-insensitive key that identifies a user."""

from __future__ import annotations

import re

__all__ = ["MAX_NAME", "is_valid_name", "name_key"]

#: Longest user name, in characters.
MAX_NAME = 32

_NAME = re.compile(rf"[A-Za-z0-9_.\-]{{1,{MAX_NAME}}}")


def is_valid_name(name: object) -> bool:
    """True when ``name`` is a str of 1-32 characters from ``A-Z a-z 0-9 _ . -``."""
    return isinstance(name, str) and _NAME.fullmatch(name) is not None


def name_key(name: str) -> str:
    """The key that identifies a user: names compare case-insensitively (``Joao`` is ``joao``).

    Valid names are ASCII, so ``lower()`` is exact; callers check validity first.
    """
    return name.lower()
