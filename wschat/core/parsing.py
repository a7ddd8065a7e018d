"""Client frames in: one text frame becomes exactly one client request. No I/O.

What stays with the server: binary frames, frame size, the login phase (a first frame that is
not ``Login`` nor a ``Rejected`` with ``from_login`` is ``login_required``; after ``welcome``
either of those is answered with :func:`~wschat.core.requests.already_logged_in`), whether a name
is registered, rate limits.

Rules this module adds where PROTOCOL.md is silent (see the docstrings below):

- ``null`` is the same as an absent optional field (``to``, ``ref``, ``before``, ``limit``,
  ``password``, ``token``, ``resume``); unknown extra fields are ignored.
- Strings that come back to clients or reach a store (``text``, ``ref``, ``password``, ``token``,
  ``resume``, ``before``) must be encodable as UTF-8: a JSON escape such as ``"\\ud800"`` makes a
  lone surrogate, which no WebSocket frame or database can carry, so it is ``invalid_message``.
- Integers of more than 4,300 digits (CPython's default limit) are "huge numbers".
"""

from __future__ import annotations

import json
import math
from typing import Final, NoReturn

from wschat.core.commands import parse_command, parse_login_line
from wschat.core.names import is_valid_name

from .requests import (
    DEFAULT_HISTORY_LIMIT,
    INVALID,
    MAX_HISTORY_LIMIT,
    MAX_PASSWORD,
    MAX_REF,
    MAX_TOKEN,
    ClientRequest,
    Drop,
    HistoryRequest,
    Login,
    Logout,
    ReadMark,
    Rejected,
    Resume,
    Send,
    TypingRequest,
    WhoRequest,
    check_password,
    check_text,
    invalid_name,
    is_utf8_safe,
    shown,
    unknown_user,
)

__all__ = ["parse_frame"]

# Longer integer literals are rejected as "huge numbers" whatever the interpreter's
# int_max_str_digits setting is, so the rule does not depend on the environment.
_MAX_INT_DIGITS: Final = 4300


# --------------------------------------------------------------------------- parsing


class _BadNumber(ValueError):
    """A JSON number too large to hold: 1e999 (overflows to inf) or a huge integer."""


class _NotStrictJSON(Exception):
    """NaN, Infinity or -Infinity: not strict JSON, so PROTOCOL.md makes the frame a chat line."""


def _no_constant(name: str) -> NoReturn:
    raise _NotStrictJSON(name)


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e999 overflows to inf
        raise _BadNumber(literal)
    return value


def _bounded_int(literal: str) -> int:
    if len(literal) > _MAX_INT_DIGITS:
        raise _BadNumber("huge integer")
    return int(literal)


_DECODER: Final = json.JSONDecoder(
    parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant
)
_JSON_SPACE: Final = " \t\n\r"

#: The client frames of PROTOCOL.md. There is no JSON help frame: help is the command ``/help``.
_TYPES: Final = "login, send, who, history, logout, read, typing, drop"


def parse_frame(text: str) -> ClientRequest:
    """Parse one text frame into one client request. Never raises.

    A text that decodes as strict JSON to an object is a protocol frame; a JSON-looking
    text (``{`` after JSON white space) that is refused only for a number too large to hold
    (``1e999``, an integer of over 4,300 digits) or nesting too deep is ``invalid_message``.
    Every other text (broken JSON, JSON with NaN or Infinity, ``42``, ``[1]``, plain lines)
    is a chat line, handled as
    ``{"type": "send", "text": <frame>}``; a plain ``/login NAME PASSWORD`` line is a
    ``Login``. The caller applies the login-phase rules (see the module docstring).
    """
    if text.lstrip(_JSON_SPACE).startswith("{"):
        try:
            obj = _DECODER.decode(text)
        except (json.JSONDecodeError, _NotStrictJSON):
            pass  # broken or non-strict JSON: PROTOCOL.md makes it a chat line
        except ValueError:  # _BadNumber, or any other number conversion failure
            detail = "JSON inválido: números grandes demais não são aceitos"
            return Rejected(INVALID, detail, None)
        except RecursionError:
            return Rejected(INVALID, "JSON aninhado demais", None)
        else:
            if isinstance(obj, dict):
                return _parse_object(obj)
    if text.startswith("/"):
        login = parse_login_line(text)
        if login is not None:
            return login
    return _parse_send(text, None, None)


def _parse_object(obj: dict[str, object]) -> ClientRequest:
    raw_ref = obj.get("ref")
    if raw_ref is not None and not _is_ref(raw_ref):
        # A login with a bad ref is still a login attempt (invalid_message, not login_required).
        return Rejected(
            INVALID,
            f'"ref" deve ser um texto de até {MAX_REF} caracteres',
            None,
            from_login=obj.get("type") == "login",
        )
    ref = raw_ref if isinstance(raw_ref, str) else None
    kind = obj.get("type")
    if not isinstance(kind, str):
        return Rejected(INVALID, f'mensagem JSON sem "type" (texto); tipos: {_TYPES}', ref)
    if kind == "send":
        return _parse_send_object(obj, ref)
    if kind == "login":
        return _parse_login(obj, ref)
    if kind == "who":
        return WhoRequest(ref)
    if kind == "history":
        return _parse_history(obj, ref)
    if kind == "logout":
        return Logout(ref)
    if kind == "read":
        return _parse_read(obj, ref)
    if kind == "typing":
        return _parse_typing(obj, ref)
    if kind == "drop":
        return Drop(ref)
    detail = f"tipo desconhecido: '{shown(kind)}'; tipos: {_TYPES} (ajuda: envie o texto /help)"
    return Rejected(INVALID, detail, ref)


def _is_ref(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_REF and is_utf8_safe(value)


def _parse_send_object(obj: dict[str, object], ref: str | None) -> ClientRequest:
    text = obj.get("text")
    if not isinstance(text, str):
        return Rejected(INVALID, '"text" deve ser um texto', ref)
    to = obj.get("to")
    if to is not None and not isinstance(to, str):
        return Rejected(INVALID, '"to" deve ser um nome (texto) ou null', ref)
    return _parse_send(text, to, ref)


def _parse_send(text: str, to: str | None, ref: str | None) -> ClientRequest:
    if to is None and text.startswith("/"):
        return parse_command(text, ref)
    if to is not None and not is_valid_name(to):
        return unknown_user(to, ref)
    bad = check_text(text, ref)
    if bad is not None:
        return bad
    return Send(text, to, ref)


def _parse_login(obj: dict[str, object], ref: str | None) -> Login | Rejected:
    def bad(detail: str) -> Rejected:
        return Rejected(INVALID, detail, ref, from_login=True)

    user = obj.get("user")
    if not isinstance(user, str):
        return bad('"user" deve ser um nome (texto)')
    if not is_valid_name(user):
        return invalid_name(ref)
    password, token = obj.get("password"), obj.get("token")
    if (password is None) == (token is None):
        return bad('envie "password" ou "token" (um dos dois, não ambos)')
    if password is not None:
        if not isinstance(password, str):
            return bad(f'"password" deve ser um texto de 1 a {MAX_PASSWORD} caracteres')
        wrong = check_password(password, ref)
        if wrong is not None:
            return wrong
    elif not (
        isinstance(token, str) and 1 <= len(token) <= MAX_TOKEN and is_utf8_safe(token)
    ):
        return bad(f'"token" deve ser um texto de 1 a {MAX_TOKEN} caracteres')
    raw_resume = obj.get("resume")
    resume = None
    if raw_resume is not None:
        epoch = raw_resume.get("epoch") if isinstance(raw_resume, dict) else None
        after = raw_resume.get("after") if isinstance(raw_resume, dict) else None
        if not (
            isinstance(epoch, str)
            and isinstance(after, str)
            and is_utf8_safe(epoch)
            and is_utf8_safe(after)
        ):
            return bad('"resume" deve ser um objeto com "epoch" e "after" (textos) ou null')
        resume = Resume(epoch, after)
    return Login(
        user,
        password if isinstance(password, str) else None,
        token if isinstance(token, str) else None,
        resume,
        ref,
    )


def _parse_history(obj: dict[str, object], ref: str | None) -> HistoryRequest | Rejected:
    before = obj.get("before")
    if before is not None and not (isinstance(before, str) and is_utf8_safe(before)):
        return Rejected(INVALID, '"before" deve ser um id (texto) ou null', ref)
    limit = obj.get("limit")
    if limit is None:
        limit = DEFAULT_HISTORY_LIMIT
    # bool is a subclass of int, but true is not a count.
    if type(limit) is not int or not 1 <= limit <= MAX_HISTORY_LIMIT:
        return Rejected(INVALID, f'"limit" deve ser um inteiro de 1 a {MAX_HISTORY_LIMIT}', ref)
    return HistoryRequest(before, limit, ref)


def _parse_read(obj: dict[str, object], ref: str | None) -> ReadMark | Rejected:
    """``{"type": "read", "id": ID}``: ``id`` must be a UTF-8 safe string (the server checks
    that it names a message the user can see)."""
    entry_id = obj.get("id")
    if not (isinstance(entry_id, str) and entry_id and is_utf8_safe(entry_id)):
        return Rejected(INVALID, '"id" deve ser o id (texto) de uma mensagem', ref)
    return ReadMark(entry_id, ref)


def _parse_typing(obj: dict[str, object], ref: str | None) -> TypingRequest | Rejected:
    """``{"type": "typing"}`` or ``{"type": "typing", "to": NAME}``; an invalid name is
    ``unknown_user`` (like a ``send``), a ``to`` that is not a string ``invalid_message``."""
    to = obj.get("to")
    if to is None:
        return TypingRequest(None, ref)
    if not isinstance(to, str):
        return Rejected(INVALID, '"to" deve ser um nome (texto) ou null', ref)
    if not is_valid_name(to):
        return unknown_user(to, ref)
    return TypingRequest(to, ref)
