"""Notebook 05's exercises (05_escala): which architecture loses a message when a node
restarts, and how many deliveries a broadcast makes across nodes.

Each checker takes what the reader wrote as ``resposta`` and returns a
:class:`~wschat.teaching.exercises.Verdict` in Brazilian Portuguese; it never raises.
"""

from __future__ import annotations

import math
import re

from wschat.teaching.exercises import Verdict, correct, not_yet

__all__ = ["verificar_entregas", "verificar_reinicio"]

_EMPTY = "Escreva sua resposta no lugar do None e rode a célula de novo."
_LETTERS = frozenset("abc")


def _letters(value: object) -> frozenset[str] | None:
    """The architectures named in ``value``: "ab", "a, b", ["a", "b"], {"b"}...; None when it
    names something else than a, b or c (an empty answer is the empty set)."""
    parts: list[object]
    if isinstance(value, str):
        parts = list(re.sub(r"[\s,;()/e]+|\band\b", " ", value.lower()).replace(" ", ""))
    elif isinstance(value, list | tuple | set | frozenset):
        parts = list(value)
    else:
        return None
    found: set[str] = set()
    for part in parts:
        if not isinstance(part, str) or part.strip().lower() not in _LETTERS:
            return None
        found.add(part.strip().lower())
    return frozenset(found)


def verificar_reinicio(resposta: object) -> Verdict:
    """Exercise 1: node B restarts while Ana (on A) posts; João resumes on B. He never gets
    the message with (a) a log per node and nothing shared, and (b) a log per node plus Pub/Sub
    between nodes; with (c), a Redis Stream, the resume replays it. The answer is "ab"."""
    if resposta is None:
        return not_yet(_EMPTY)
    letters = _letters(resposta)
    if letters is None:
        return not_yet('Responda só com letras entre a, b e c, como "b" ou "bc".')
    if not letters:
        return not_yet("Em alguma delas ele perde, sim: o nó B esteve fora quando a mensagem "
                       "passou. Onde ela ficou guardada em cada arquitetura?")
    if "c" in letters:
        return not_yet("Confira a (c): enquanto o nó B estava fora, onde a mensagem da Ana ficou "
                       "guardada? O resume do João pede o quê, e a quem?")
    if "a" not in letters:
        return not_yet("Confira a (a): mesmo sem reinício, por que caminho a mensagem da Ana, "
                       "gravada só no nó A, chegaria a uma sessão do nó B?")
    if "b" not in letters:
        return not_yet("Confira a (b): quem estava assinando o canal do Pub/Sub no instante em "
                       "que a mensagem passou? Alguém a guardou para o nó B?")
    return correct("Sem nada em comum, a mensagem nunca sai do nó A; com Pub/Sub, ela passou "
                   "enquanto o B estava fora e ninguém a guardou. Só o log compartilhado a "
                   "devolve no resume, depois do último id que o João viu.")


def _whole(value: object) -> int | None:
    """A whole number as the reader may write it: 3000, 3000.0, "3000", "3.000"; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        digits = value.strip().replace(".", "").replace(" ", "").replace("_", "")
        return int(digits) if digits.isdigit() else None
    return None


def verificar_entregas(resposta: object) -> Verdict:
    """Exercise 2: 1,000 users online with 3 tabs each on 4 nodes; Ana posts in public. The
    answer is ``(a, b, c)``: (a) 3,000 deliveries (every session, Ana's own included), (b) 4
    reads of the entry from the stream (each node reads every entry once), (c) 6 deliveries
    for a private message from Ana to João (the 3 sessions of each)."""
    if resposta is None:
        return not_yet(_EMPTY)
    if not isinstance(resposta, list | tuple) or len(resposta) != 3:
        return not_yet("Responda com três números: (a, b, c).")
    numbers = [_whole(v) for v in resposta]
    if any(n is None for n in numbers):
        return not_yet("Responda com três números inteiros: (a, b, c).")
    a, b, c = numbers
    if a != 3000:
        if a == 2997:
            return not_yet("Confira (a): uma pública vai para quais sessões? Releia a regra do "
                           "roteamento (notebook 04, seção 2), com atenção a quem enviou.")
        return not_yet("Confira (a): uma entrega é um quadro escrito numa conexão. Quantas "
                       "conexões abertas existem, e quais delas recebem uma pública?")
    if b == 3:
        return not_yet("Confira (b): o nó que gravou a entrada também a lê do stream, ou entrega "
                       "às suas sessões direto? Releia a arquitetura da seção 4.")
    if b != 4:
        return not_yet("Confira (b): cada nó lê o stream para entregar às suas sessões. Ele lê "
                       "uma vez por sessão, ou uma vez para todas as que tem?")
    if c != 6:
        return not_yet("Confira (c): uma privada vai para as sessões de quem enviou e de quem "
                       "recebe. Quantas conexões cada um tem?")
    return correct("Uma pública chega a todas as sessões, as da Ana também; cada nó lê cada "
                   "entrada do stream uma vez, mesmo sem ter a quem entregá-la, e é isso que "
                   "vira gargalo com muitos nós (seção 5). A privada vai só às sessões dos dois.")
