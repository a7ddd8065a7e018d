"""Command lines: the text of a ``send`` without ``to`` that starts with ``/``. No I/O.

``/msg NAME TEXT`` (private message), ``/who``, ``/help``, ``/logout``, ``/cair`` (the
``drop`` request of PROTOCOL.md v4, for demonstrations); and, as the plain
first frame of a bare client, ``/login NAME PASSWORD``. Command words are case-insensitive.
Arguments are split at the first run of white space, and the last argument (the text, the
password) is kept exactly as written, inner and trailing white space included.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from wschat.core.names import is_valid_name
from wschat.core.requests import (
    INVALID,
    Drop,
    HelpRequest,
    Login,
    Logout,
    Rejected,
    Send,
    WhoRequest,
    already_logged_in,
    check_password,
    check_text,
    invalid_name,
    shown,
    unknown_user,
)

from .errors import ErrorCode

__all__ = ["LOGIN_USAGE", "MSG_USAGE", "parse_command", "parse_login_line"]

#: Usage hints, in the ``detail`` of the errors for malformed commands.
MSG_USAGE: Final = "uso: /msg NOME TEXTO"
LOGIN_USAGE: Final = "uso: /login NOME SENHA"

# One word, then (after one run of white space) the rest as written. Matches every string.
_WORD: Final = re.compile(r"(\S*)(?:\s+(.*))?", re.DOTALL)


def _split(text: str) -> tuple[str, str]:
    """``(first word, rest)``; rest is "" when nothing but white space follows the word."""
    match = _WORD.fullmatch(text)
    assert match is not None  # the pattern matches every string
    return match.group(1), match.group(2) or ""


#: Commands that take no arguments, and the request each one becomes (given the ref).
_BARE: Final[dict[str, Callable[[str | None], WhoRequest | HelpRequest | Logout | Drop]]] = {
    "who": WhoRequest,
    "help": HelpRequest,
    "logout": Logout,
    "cair": Drop,
}


def parse_command(
    line: str, ref: str | None
) -> Send | WhoRequest | HelpRequest | Logout | Drop | Rejected:
    """Parse a command line (``line`` starts with ``/``); ``ref`` goes on the result.

    ``/msg`` without a name or a text is ``invalid_message`` with the usage in ``detail``;
    an invalid name is ``unknown_user``; the text gets the checks of every message
    (``too_long``, empty). ``/who``, ``/help``, ``/logout`` and ``/cair`` take no arguments.
    ``/login`` here means a login after ``welcome``: ``invalid_message``. Anything else, a
    bare ``/`` included, is ``unknown_command``.
    """
    word, rest = _split(line[1:])
    command = word.lower()
    if command == "msg":
        return _parse_msg(rest, ref)
    bare = _BARE.get(command)
    if bare is not None:
        if rest:
            return Rejected(INVALID, f"uso: /{command} (sem argumentos)", ref)
        return bare(ref)
    if command == "login":
        return already_logged_in(ref)
    detail = f"comando desconhecido: '/{shown(word)}'; digite /help para ver os comandos"
    return Rejected(ErrorCode.UNKNOWN_COMMAND, detail, ref)


def _parse_msg(rest: str, ref: str | None) -> Send | Rejected:
    name, text = _split(rest)
    if not name or not text:
        return Rejected(INVALID, MSG_USAGE, ref)
    if not is_valid_name(name):
        return unknown_user(name, ref)
    bad = check_text(text, ref)
    if bad is not None:
        return bad
    return Send(text, name, ref)


def parse_login_line(line: str) -> Login | Rejected | None:
    """Parse a plain ``/login NAME PASSWORD`` line; None when ``line`` is not a /login line.

    The password is the rest of the line after one run of white space, kept as written
    (it may contain spaces). Missing parts are ``invalid_message`` with the usage; a bad
    name is ``invalid_name``; every ``Rejected`` has ``from_login`` set.
    """
    if not line.startswith("/"):
        return None
    word, rest = _split(line[1:])
    if word.lower() != "login":
        return None
    name, password = _split(rest)
    if not name or not password:
        return Rejected(INVALID, LOGIN_USAGE, None, from_login=True)
    if not is_valid_name(name):
        return invalid_name()
    bad = check_password(password)
    if bad is not None:
        return bad
    return Login(name, password, None, None)
