"""Client requests: what one client frame asks for, as frozen dataclasses, and their checks.

:func:`wschat.core.parsing.parse_frame` turns a text frame into exactly one of these requests; a
frame that breaks a rule becomes :class:`Rejected`, the error to send back, so the caller never
needs a ``try``. The limits of PROTOCOL.md live here too. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from .errors import ErrorCode

__all__ = [
    "DEFAULT_HISTORY_LIMIT",
    "INVALID",
    "MAX_HISTORY_LIMIT",
    "MAX_PASSWORD",
    "MAX_REF",
    "MAX_TEXT",
    "MAX_TOKEN",
    "ClientRequest",
    "Drop",
    "HelpRequest",
    "HistoryRequest",
    "Login",
    "Logout",
    "ReadMark",
    "Rejected",
    "Resume",
    "Send",
    "TypingRequest",
    "WhoRequest",
    "already_logged_in",
    "check_password",
    "check_text",
    "invalid_name",
    "is_utf8_safe",
    "shown",
    "unknown_user",
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

#: The code of most rejections.
INVALID: Final = ErrorCode.INVALID_MESSAGE


# --------------------------------------------------------------------------- client requests


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
class WhoRequest:
    """A request for the list of online users (``/who``)."""

    ref: str | None


@dataclass(frozen=True, slots=True)
class HelpRequest:
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
class Drop:
    """``drop`` (or ``/cair``): abort this connection's TCP without a close frame, so the
    client sees what a network failure looks like (1006) and then reconnects and resumes.
    For demonstrations; counted by the per-user send limit (PROTOCOL.md, v4)."""

    ref: str | None


@dataclass(frozen=True, slots=True)
class ReadMark:
    """``read``: this user has read up to message ``id`` (a UTF-8 safe string, not yet
    checked against the log: the server refuses an id the user cannot see)."""

    id: str
    ref: str | None


@dataclass(frozen=True, slots=True)
class TypingRequest:
    """``typing``: the user is typing, to everyone (``to`` None) or to one user.

    ``to`` is a valid name as the client wrote it; the server checks that it is registered.
    Ephemeral: never stored, never replayed, no id.
    """

    to: str | None
    ref: str | None


@dataclass(frozen=True, slots=True)
class Rejected:
    """A frame that broke a rule: send ``error_frame(code, detail, ref)`` back.

    ``detail`` is short Brazilian Portuguese for the user. ``from_login`` is True when the
    frame was a login attempt (a ``login`` object or a ``/login`` line): during the login
    phase the server sends this error and closes with 4001; any other rejected first frame
    is ``login_required`` instead.
    """

    code: ErrorCode
    detail: str
    ref: str | None
    from_login: bool = False


ClientRequest = (
    Login
    | Send
    | WhoRequest
    | HelpRequest
    | HistoryRequest
    | Logout
    | Drop
    | ReadMark
    | TypingRequest
    | Rejected
)


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
            ErrorCode.TOO_LONG, f"mensagem longa demais: {len(text)} caracteres (máximo {MAX_TEXT})", ref
        )
    if not text or text.isspace():
        return Rejected(INVALID, "mensagem vazia: escreva algum texto", ref)
    if not is_utf8_safe(text):
        return Rejected(INVALID, "texto com caracteres inválidos (surrogates isolados)", ref)
    return None


def unknown_user(name: str, ref: str | None) -> Rejected:
    """The ``unknown_user`` error for ``name`` (used for invalid and for unregistered names)."""
    return Rejected(ErrorCode.UNKNOWN_USER, f"nenhum usuário chamado '{shown(name)}'", ref)


def invalid_name(ref: str | None = None) -> Rejected:
    """The ``invalid_name`` error of a login attempt."""
    detail = "nome inválido: use de 1 a 32 caracteres entre A-Z a-z 0-9 _ . -"
    return Rejected(ErrorCode.INVALID_NAME, detail, ref, from_login=True)


def check_password(password: str, ref: str | None = None) -> Rejected | None:
    """None when ``password`` has 1-1,024 code points and is UTF-8 safe; else the error."""
    if 1 <= len(password) <= MAX_PASSWORD and is_utf8_safe(password):
        return None
    detail = f'"password" deve ser um texto de 1 a {MAX_PASSWORD} caracteres'
    return Rejected(INVALID, detail, ref, from_login=True)


def already_logged_in(ref: str | None = None) -> Rejected:
    """The answer to a login attempt after ``welcome`` (a ``Login`` or a login ``Rejected``)."""
    return Rejected(INVALID, "você já entrou; para trocar de usuário, use /logout", ref)


