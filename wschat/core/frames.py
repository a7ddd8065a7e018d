"""Server frames out: the ``*_frame`` encoders build each server frame as compact JSON. No I/O."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from wschat.core.model import Entry

from .requests import Rejected

__all__ = [
    "HELP_TEXT",
    "error_frame",
    "help_frame",
    "history_frame",
    "message_frame",
    "presence_frame",
    "read_frame",
    "rejected_frame",
    "typing_frame",
    "users_frame",
    "welcome_frame",
]

# --------------------------------------------------------------------------- encoders

# Built once: json.dumps with non-default options builds a new encoder on every call.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)

HELP_TEXT: Final = """\
Comandos:
  /msg NOME TEXTO   mensagem privada: só você e NOME a veem
  /who              quem está online
  /help             esta ajuda
  /logout           sair (e invalidar o token desta sessão)
  /cair             derruba esta conexão sem close (1006), para ver a reconexão
Qualquer outra linha vai para todos os usuários online.

Em JSON:
  {"type":"send","text":"oi a todos","ref":"c-1"}
  {"type":"send","text":"oi","to":"NOME"}
  {"type":"who"}   {"type":"logout"}   {"type":"drop"}
  {"type":"history","before":"ID","limit":50}
  {"type":"read","id":"ID"}   marca como lidas as mensagens até ID (em todas as suas abas)
  {"type":"typing"}   {"type":"typing","to":"NOME"}   "estou digitando" (no máximo 1 por segundo)
"ref" (opcional, até 64 caracteres) volta só para você, na mensagem ou no erro.
Reenviar um "send" com o mesmo "ref" (por exemplo, depois de reconectar) não duplica:
se ele já foi aceito, a mensagem original volta para você."""


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
    read: str | None,
    unread: int,
) -> str:
    """The ``welcome`` frame that answers a successful login (``read``: the user's read
    position, ``unread``: visible messages from others after it, up to ``last``, capped)."""
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
            "read": read,
            "unread": unread,
        }
    )


def presence_frame(user: str, online: bool) -> str:
    """A ``presence`` frame: ``user``'s first session opened (True) or last one closed."""
    return _ENCODER.encode({"type": "presence", "user": user, "online": online})


def read_frame(entry_id: str) -> str:
    """A ``read`` frame: the user's read position moved to ``entry_id`` (to every session of
    that user)."""
    return _ENCODER.encode({"type": "read", "id": entry_id})


def typing_frame(user: str, to: str | None = None) -> str:
    """A ``typing`` frame: ``user`` is typing, to everyone (``to`` None) or to ``to`` alone."""
    frame: dict[str, object] = {"type": "typing", "user": user}
    if to is not None:
        frame["to"] = to
    return _ENCODER.encode(frame)


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
