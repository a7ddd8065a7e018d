"""Notebook 04's exercises (04_por_dentro): a resend with an accepted ``ref``, and the seam
between replay and new messages without skipping.

Each checker takes what the reader wrote as ``resposta`` and returns a
:class:`~wschat.teaching.exercises.Verdict` in Brazilian Portuguese; it never raises.
"""

from __future__ import annotations

import math
import re
import unicodedata

from wschat.teaching.exercises import Verdict, correct, not_yet

__all__ = ["verificar_buffer_sem_pular", "verificar_reenvio"]

_EMPTY = "Escreva sua resposta no lugar do None e rode a célula de novo."

#: The four sessions of exercise 1, and the spellings a reader may use for each.
_SESSIONS = {
    "ana1": ("ana1", "anaaba1", "aba1"),
    "ana2": ("ana2", "anaaba2", "aba2"),
    "joao": ("joao",),
    "bob": ("bob",),
}


def _plain(text: str) -> str:
    """Lower case, no accents, no spaces or punctuation: "Reunião às 15h" -> "reuniaoas15h"."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_only = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]", "", ascii_only.lower())


def _message_id(value: object) -> str | None:
    """An id as the reader may write it: "20", 20, "#20"; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        digits = value.strip().lstrip("#").strip()
        return digits if digits.isdigit() else None
    return None


def _sessions(value: object) -> set[str] | None:
    """The sessions named in ``value`` (one name, or a list, tuple or set of names); None when
    something in it is not one of the four sessions."""
    names: list[object]
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, list | tuple | set | frozenset):
        names = list(value)
    else:
        return None
    found: set[str] = set()
    for name in names:
        session = None
        if isinstance(name, str):
            plain = _plain(name)
            session = next((s for s, spellings in _SESSIONS.items() if plain in spellings), None)
        if session is None:
            return None
        found.add(session)
    return found


def _names_ana(value: object) -> bool:
    """Whether ``value`` (one name or a collection of names) says "ana" without saying which
    of her two tabs."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple | set | frozenset):
        return False
    return any(isinstance(name, str) and _plain(name) == "ana" for name in names)


def _field(answer: dict[object, object], *names: str) -> object:
    """The value of the first key of ``answer`` whose plain spelling is one of ``names``."""
    for key, value in answer.items():
        if isinstance(key, str) and _plain(key) in names:
            return value
    return None


def verificar_reenvio(resposta: object) -> Verdict:
    """Exercise 1: a resend of an accepted ``ref`` with another text ("reunião às 16h").

    The answer is a dict with ``"id"``, ``"texto"`` and ``"quem recebe"``: the server stores
    nothing and sends the original back (id "20", text "reunião às 15h") to the session that
    resent it ("ana1") and to nobody else.
    """
    if resposta is None:
        return not_yet(_EMPTY)
    if not isinstance(resposta, dict):
        return not_yet('Responda com um dicionário: {"id": ..., "texto": ..., "quem recebe": [...]}.')
    message_id = _message_id(_field(resposta, "id"))
    text = _field(resposta, "texto", "text")
    named = _field(resposta, "quemrecebe", "quem")
    who = _sessions(named)
    if who is None and _names_ana(named):
        return not_yet('A Ana tem duas abas: em "quem recebe", diga qual, "ana1" ou "ana2" '
                       "(ou as duas).")
    if message_id is None or not isinstance(text, str) or who is None:
        return not_yet('Preencha as três chaves: "id" (um número), "texto" (o texto que volta) e '
                       '"quem recebe" (uma lista com "ana1", "ana2", "joao" ou "bob").')
    if message_id != "20":
        return not_yet("Confira o id: um ref já aceito é gravado de novo, ganhando um id novo, "
                       "ou o servidor devolve algo que já está no log?")
    if "16h" in _plain(text) or "16" in _plain(text):
        return not_yet("Confira o texto: o servidor usa o quadro do reenvio, ou devolve a "
                       "mensagem que ele gravou da primeira vez?")
    if _plain(text) != _plain("reunião às 15h"):
        return not_yet("Confira o texto: ele deve ser o de uma das duas versões do enunciado.")
    if not who:
        return not_yet("Confira quem recebe: o servidor responde todo reenvio, então alguém "
                       "recebe um quadro.")
    if who != {"ana1"}:
        return not_yet("Confira quem recebe: as outras sessões já receberam a original quando "
                       "ela foi gravada. Para quem volta o ref (seção 5)?")
    return correct("O ref já aceito não é gravado de novo: a original volta, com o ref, só para "
                   "a aba que reenviou; ela vale como confirmação, e mais ninguém recebe nada.")


def _counts(value: object) -> list[int] | None:
    """Three whole numbers from a list or tuple; None otherwise."""
    if not isinstance(value, list | tuple) or len(value) != 3:
        return None
    counts: list[int] = []
    for item in value:
        if isinstance(item, bool):
            return None
        if isinstance(item, int):
            counts.append(item)
        elif isinstance(item, float) and math.isfinite(item) and item.is_integer():
            counts.append(int(item))
        elif isinstance(item, str) and item.strip().isdigit():
            counts.append(int(item.strip()))
        else:
            return None
    return counts


def verificar_buffer_sem_pular(resposta: object) -> Verdict:
    """Exercise 2: the login's buffer flushed without skipping the ids up to ``last``.

    The answer is ``[a, b, c]``, how many times m2 reaches Dani when it is stored (a) before
    her session is registered, (b) between the registration and the log read, (c) after the
    log read: ``[1, 2, 1]`` (only in (b) is it both in the log read and in the buffer).
    """
    if resposta is None:
        return not_yet(_EMPTY)
    counts = _counts(resposta)
    if counts is None:
        return not_yet("Responda com uma lista de três números inteiros, um para cada momento: "
                       "[a, b, c].")
    a, b, c = counts
    if a != 1:
        return not_yet("Confira (a): quando a m2 foi gravada, a sessão da Dani ainda não estava "
                       "registrada. A m2 está na leitura do log? E no buffer?")
    if b != 2:
        return not_yet("Confira (b): a m2 foi gravada com a sessão já registrada e antes da "
                       "leitura. Em quais dos dois lugares, leitura e buffer, ela aparece?")
    if c != 1:
        return not_yet("Confira (c): a leitura do log já tinha terminado quando a m2 foi "
                       "gravada. Ela está na leitura? E no buffer?")
    return correct("Sem pular os ids até last, só a mensagem gravada entre o registro e a "
                   "leitura chega duas vezes: ela está nos dois lugares. Pular os ids já "
                   "lidos é o que a deixa chegar uma vez só.")
