"""The wire protocol of PROTOCOL.md: client frames in, server frames out. No I/O.

``parse_frame`` turns one text frame into exactly one client event (a frozen dataclass);
a frame that breaks a rule becomes ``Rejected``, the error to send back, so the caller never
needs a ``try``. The ``*_frame`` encoders build the server's frames as compact JSON strings.

What stays with the server: binary frames, frame size, the login phase (a first frame that is
not ``Login`` nor a ``Rejected`` with ``from_login`` is ``login_required``; after ``welcome``
either of those is answered with :func:`already_logged_in`), whether a name is registered,
rate limits.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, NoReturn

from .model import Entry
from .names import is_valid_name

__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "HELP_TEXT",
    "INVALID",
    "MAX_HISTORY_LIMIT",
    "MAX_PASSWORD",
    "MAX_REF",
    "MAX_TEXT",
    "MAX_TOKEN",
    "ClientEvent",
    "Help",
    "HistoryRequest",
    "Login",
    "Logout",
    "Rejected",
    "Resume",
    "Send",
    "Who",
    "already_logged_in",
    "check_password",
    "check_text",
    "encode",
    "error_frame",
    "help_frame",
    "history_frame",
    "invalid_name",
    "is_utf8_safe",
    "message_frame",
    "parse_frame",
    "presence_frame",
    "rejected_frame",
    "shown",
    "unknown_user",
    "users_frame",
    "welcome_frame",
]

#: Longest message text, in code points.
MAX_TEXT: Final = 4000
#: Longest client ``ref``, in code points.
MAX_REF: Final = 64
#: Longest password, in code points.
MAX_PASSWORD: Final = 1024
#: Longest token, in code points (ours are far shorter; this only bounds garbage).
MAX_TOKEN: Final = 256
#: Largest ``limit`` of a ``history`` request.
MAX_HISTORY_LIMIT: Final = 200
#: ``limit`` of a ``history`` request that gives none.
DEFAULT_HISTORY_LIMIT: Final = 50

# Longer integer literals are rejected as "huge numbers" whatever the interpreter's
# int_max_str_digits setting is, so the rule does not depend on the environment.
_MAX_INT_DIGITS: Final = 4300

#: The code of most rejections.
INVALID: Final = "invalid_message"


# --------------------------------------------------------------------------- client events


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a reconnecting client left off: the store's ``epoch`` and the last id it saw."""

    epoch: str
    after: str


@dataclass(frozen=True, slots=True)
class Login:
    """A login attempt. Exactly one of ``password`` and ``token`` is set; ``user`` is valid.

    ``ref`` only matters after ``welcome``: the error a second login gets carries it.
    """

    user: str
    password: str | None
    token: str | None
    resume: Resume | None
    ref: str | None = None


@dataclass(frozen=True, slots=True)
class Send:
    """A message to store and deliver.

    ``text`` passed the text checks (1-4,000 code points, not only white space); ``to`` is a
    valid name as the client wrote it (the server checks that it is registered) or None for
    a public message. ``/msg`` is already parsed into ``to`` and ``text``.
    """

    text: str
    to: str | None
    ref: str | None


@dataclass(frozen=True, slots=True)
class Who:
    """A request for the list of online users (``/who``)."""

    ref: str | None


@dataclass(frozen=True, slots=True)
class Help:
    """A request for the help text (``/help``)."""

    ref: str | None


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """Older visible messages before id ``before`` (newest ones if None); 1 <= limit <= 200."""

    before: str | None
    limit: int
    ref: str | None


@dataclass(frozen=True, slots=True)
class Logout:
    """End this session and revoke its token (``/logout``)."""

    ref: str | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame that broke a rule: send ``error_frame(code, detail, ref)`` back.

    ``detail`` is short Brazilian Portuguese for the user. ``from_login`` is True when the
    frame was a login attempt (a ``login`` object or a ``/login`` line): during the login
    phase the server sends this error and closes with 4001; any other rejected first frame
    is ``login_required`` instead.
    """

    code: str
    detail: str
    ref: str | None
    from_login: bool = False


ClientEvent = Login | Send | Who | Help | HistoryRequest | Logout | Rejected


# --------------------------------------------------------------------------- shared checks


def is_utf8_safe(text: str) -> bool:
    """True when ``text`` has no lone surrogate, so it can go into a frame or a database."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(text: str, limit: int = 40) -> str:
    """``text`` made safe to quote in an error detail: at most ``limit`` code points, no
    lone surrogates (replaced by ``?``), with an ellipsis when cut."""
    cut = text if len(text) <= limit else text[:limit] + "…"
    return cut.encode("utf-8", "replace").decode("utf-8")


def check_text(text: str, ref: str | None) -> Rejected | None:
    """The text checks of a message (for ``/msg``, the part after the name).

    More than ``MAX_TEXT`` code points is ``too_long``; empty, only white space, or not
    encodable as UTF-8 is ``invalid_message``. Returns None when the text is fine.
    """
    if len(text) > MAX_TEXT:
        return Rejected(
            "too_long", f"mensagem longa demais: {len(text)} caracteres (máximo {MAX_TEXT})", ref
        )
    if not text or text.isspace():
        return Rejected(INVALID, "mensagem vazia: escreva algum texto", ref)
    if not is_utf8_safe(text):
        return Rejected(INVALID, "texto com caracteres inválidos (surrogates isolados)", ref)
    return None


def unknown_user(name: str, ref: str | None) -> Rejected:
    """The ``unknown_user`` error for ``name`` (used for invalid and for unregistered names)."""
    return Rejected("unknown_user", f"nenhum usuário chamado '{shown(name)}'", ref)


def invalid_name(ref: str | None = None) -> Rejected:
    """The ``invalid_name`` error of a login attempt."""
    detail = "nome inválido: use de 1 a 32 caracteres entre A-Z a-z 0-9 _ . -"
    return Rejected("invalid_name", detail, ref, from_login=True)


def check_password(password: str, ref: str | None = None) -> Rejected | None:
    """None when ``password`` has 1-1,024 code points and is UTF-8 safe; else the error."""
    if 1 <= len(password) <= MAX_PASSWORD and is_utf8_safe(password):
        return None
    detail = f'"password" deve ser um texto de 1 a {MAX_PASSWORD} caracteres'
    return Rejected(INVALID, detail, ref, from_login=True)


def already_logged_in(ref: str | None = None) -> Rejected:
    """The answer to a login attempt after ``welcome`` (a ``Login`` or a login ``Rejected``)."""
    return Rejected(INVALID, "você já entrou; para trocar de usuário, use /logout", ref)


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
_TYPES: Final = "login, send, who, history, logout"


def parse_frame(text: str) -> ClientEvent:
    """Parse one text frame into one client event. Never raises.

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
        from .commands import parse_login_line  # commands imports this module's events

        login = parse_login_line(text)
        if login is not None:
            return login
    return _parse_send(text, None, None)


def _parse_object(obj: dict[str, object]) -> ClientEvent:
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
        return Who(ref)
    if kind == "history":
        return _parse_history(obj, ref)
    if kind == "logout":
        return Logout(ref)
    detail = f"tipo desconhecido: '{shown(kind)}'; tipos: {_TYPES} (ajuda: envie o texto /help)"
    return Rejected(INVALID, detail, ref)


def _is_ref(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_REF and is_utf8_safe(value)


def _parse_send_object(obj: dict[str, object], ref: str | None) -> ClientEvent:
    text = obj.get("text")
    if not isinstance(text, str):
        return Rejected(INVALID, '"text" deve ser um texto', ref)
    to = obj.get("to")
    if to is not None and not isinstance(to, str):
        return Rejected(INVALID, '"to" deve ser um nome (texto) ou null', ref)
    return _parse_send(text, to, ref)


def _parse_send(text: str, to: str | None, ref: str | None) -> ClientEvent:
    if to is None and text.startswith("/"):
        from .commands import parse_command  # commands imports this module's events

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


# --------------------------------------------------------------------------- encoders

# Built once: json.dumps with non-default options builds a new encoder on every call.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

HELP_TEXT: Final = """\
Comandos:
  /msg NOME TEXTO   mensagem privada: só você e NOME a veem
  /who              quem está online
  /help             esta ajuda
  /logout           sair (e invalidar o token desta sessão)
Qualquer outra linha vai para todos os usuários online.

Em JSON:
  {"type":"send","text":"oi a todos","ref":"c-1"}
  {"type":"send","text":"oi","to":"NOME"}
  {"type":"who"}   {"type":"logout"}
  {"type":"history","before":"ID","limit":50}
"ref" (opcional, até 64 caracteres) volta só para você, na mensagem ou no erro.
Reenviar um "send" com o mesmo "ref" (por exemplo, depois de reconectar) não duplica:
se ele já foi aceito, a mensagem original volta para você."""


def encode(obj: Mapping[str, object]) -> str:
    """Compact JSON (no spaces, UTF-8 kept as is, no NaN) of one server frame."""
    return _ENCODER.encode(obj)


def _message(entry: Entry) -> dict[str, object]:
    return {
        "type": "message",
        "id": entry.id,
        "from": entry.sender,
        "to": entry.to,
        "text": entry.text,
        "ts": entry.ts,
    }


def message_frame(entry: Entry, ref: str | None = None) -> str:
    """A ``message`` frame; give ``ref`` only for the session that sent the message.

    On the fan-out path once per entry (not per delivery): encode once and share the
    string across every session that gets the same frame.
    """
    return _with_ref(_message(entry), ref)


def _with_ref(frame: dict[str, object], ref: str | None) -> str:
    if ref is not None:
        frame["ref"] = ref
    return _ENCODER.encode(frame)


def error_frame(code: str, detail: str, ref: str | None = None) -> str:
    """An ``error`` frame (``ref`` when the frame that caused it had a valid one)."""
    return _with_ref({"type": "error", "code": code, "detail": detail}, ref)


def rejected_frame(rejected: Rejected) -> str:
    """The ``error`` frame of a ``Rejected`` event."""
    return error_frame(rejected.code, rejected.detail, rejected.ref)


def welcome_frame(
    *,
    user: str,
    session: str,
    epoch: str,
    last: str | None,
    recovered: bool,
    online: Sequence[str],
    token: str,
) -> str:
    """The ``welcome`` frame that answers a successful login."""
    return _ENCODER.encode(
        {
            "type": "welcome",
            "user": user,
            "session": session,
            "epoch": epoch,
            "last": last,
            "recovered": recovered,
            "online": list(online),
            "token": token,
        }
    )


def presence_frame(user: str, online: bool) -> str:
    """A ``presence`` frame: ``user``'s first session opened (True) or last one closed."""
    return _ENCODER.encode({"type": "presence", "user": user, "online": online})


def users_frame(online: Sequence[str], ref: str | None = None) -> str:
    """A ``users`` frame (the answer to ``/who``)."""
    return _with_ref({"type": "users", "online": list(online)}, ref)


def history_frame(entries: Sequence[Entry], more: bool, ref: str | None = None) -> str:
    """A ``history`` frame: ``entries`` as message objects (without refs), oldest first;
    ``more`` tells whether older visible messages exist."""
    return _with_ref(
        {"type": "history", "messages": [_message(e) for e in entries], "more": more}, ref
    )


def help_frame(ref: str | None = None) -> str:
    """A ``help`` frame with :data:`HELP_TEXT`."""
    return _with_ref({"type": "help", "text": HELP_TEXT}, ref)
