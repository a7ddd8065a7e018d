"""The exercises at the end of notebook 02_pratica: one checker per exercise.

Each checker takes the reader's ``resposta`` as it is (any type), never raises, and returns a
:class:`~wschat.teaching.exercises.Verdict` in Brazilian Portuguese. The facts they check are
the notebook's: what :func:`wschat.teaching.probe.probe` returns, the exit codes of
``python -m wschat probe`` (docs/probe.md), and how websocket-client's ``create_connection``
treats the URL's scheme and its ``timeout``.
"""

from __future__ import annotations

import re

from wschat.teaching.exercises import Verdict, correct, not_yet
from wschat.teaching.replica import GREETING

__all__ = [
    "verificar_linha_que_espera",
    "verificar_probe_com_eco",
    "verificar_probe_sem_mensagem",
    "verificar_ws_e_wss",
]

_EMPTY = "Escreva sua resposta no lugar de None e rode a célula de novo."


def _pair(value: object) -> tuple[object, object] | None:
    """The two items of a tuple or list of two; else None."""
    if isinstance(value, tuple | list) and len(value) == 2:
        return value[0], value[1]
    return None


def _whole(value: object) -> int | None:
    """An int, or a str of digits, as an int; else None (bool is not a number here)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _seconds(value: object) -> float | None:
    """A number of seconds: an int or float, or a str like "60" or "60 s"; else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:[.,]\d+)?)\s*(?:s|seg|segundos?)?\s*", value.lower())
        if match is not None:
            return float(match.group(1).replace(",", "."))
    return None


def _letter(value: object, choices: str) -> str | None:
    """One of ``choices``, written as "a", "A", "(a)" or "a) and its text"; else None."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*\(?([a-z])\)?\s*|\s*\(?([a-z])\)\s.*", value.lower(), re.DOTALL)
    letter = None if match is None else match.group(1) or match.group(2)
    return letter if letter is not None and letter in choices else None


# ------------------------------------------------------------------------------ exercise 1


def verificar_probe_com_eco(resposta: object) -> Verdict:
    """Exercise 1: against a server that greets and then echoes every message,
    ``probe(url, count=2, send="oi", timeout=1.5)`` gives ``[m.data for m in r.messages]``
    and ``r.timed_out``: ``resposta`` is that pair, ``([GREETING, "oi"], False)``."""
    if resposta is None:
        return not_yet(_EMPTY)
    pair = _pair(resposta)
    if pair is None:
        return not_yet("Responda com as duas coisas: resposta = ([mensagens...], True ou False).")
    messages, timed_out = pair
    if not isinstance(messages, list | tuple) or not all(isinstance(m, str) for m in messages):
        return not_yet("A primeira parte é uma lista de textos, como [\"...\", \"...\"].")
    if not isinstance(timed_out, bool):
        return not_yet("A segunda parte, timed_out, é True ou False.")
    messages = list(messages)
    if messages == [GREETING, "oi"] and not timed_out:
        return correct(
            "A saudação chega assim que a conexão abre e o eco do \"oi\" vem logo depois. Com "
            "duas mensagens, o count=2 já foi atingido: o probe para sem esperar o tempo esgotar."
        )
    if messages == [GREETING]:
        return not_yet(
            "Essa é a resposta do servidor do teste, que não ecoa. Este devolve o que recebe."
        )
    if messages == ["oi", GREETING]:
        return not_yet("Quem fala primeiro? O \"oi\" só é enviado depois que a conexão abre.")
    if messages in (["oi"], ["oi", "oi"]):
        return not_yet("Não esqueça a saudação: este servidor também a envia ao abrir a conexão.")
    if len(messages) == 2 and messages[0] != GREETING and messages[1] == "oi":
        return not_yet(
            "A ordem está certa. Escreva a saudação por extenso: é o mesmo texto que o servidor "
            "do teste envia."
        )
    if messages == [GREETING, "oi"]:
        return not_yet(
            "As mensagens estão certas. O timed_out diz se foi o tempo, e não o count, que "
            "encerrou a leitura: qual dos dois veio primeiro?"
        )
    return not_yet(
        "Pense na ordem: o que o servidor manda ao abrir, o que ele faz com o \"oi\", e quando "
        "o probe para de ler (count=2)."
    )


# ------------------------------------------------------------------------------ exercise 2

#: Exercise 2's choices: exit codes of ``python -m wschat probe`` (docs/probe.md).
EXIT_CHOICES = (0, 1, 6, 7, 8)


def verificar_probe_sem_mensagem(resposta: object) -> Verdict:
    """Exercise 2: two servers that deliver no message. Server A completes the handshake
    (101), sends a ping and closes with 1000; server B, still waking up, answers the
    handshake with 503, and 503 again on the probe's one retry. ``resposta`` is the pair of
    exit codes of ``python -m wschat probe`` against A and B: ``(8, 7)`` (a ping is a control
    frame, not a message, so A closed before any message; B rejected the handshake, and a
    5xx is retried once, no more)."""
    if resposta is None:
        return not_yet(_EMPTY)
    pair = _pair(resposta)
    codes = None if pair is None else (_whole(pair[0]), _whole(pair[1]))
    if codes is None or None in codes:
        return not_yet("Responda com os dois códigos: resposta = (código_de_A, código_de_B).")
    a, b = codes
    if a not in EXIT_CHOICES or b not in EXIT_CHOICES:
        return not_yet("Cada código é um destes: 0, 1, 6, 7 ou 8.")
    hints_a = {
        0: "Em A, chegou alguma mensagem? O ping é um quadro de controle: a biblioteca responde "
           "com o pong e não o entrega como mensagem.",
        1: "Em A, a conexão funcionou: o handshake deu 101, e o ping e o close são quadros "
           "normais do protocolo.",
        6: "Em A, o close chega logo, bem antes dos 60 s: não é o tempo que acaba com a leitura.",
        7: "Em A, o handshake deu certo (101): a conexão virou WebSocket antes de fechar.",
    }
    hints_b = {
        0: "Em B, nenhuma conexão abriu: o 503 veio no lugar do 101.",
        1: "Em B, o servidor respondeu, e com um status HTTP: qual código fala disso?",
        6: "Em B, o probe não fica tentando até o tempo acabar: quantas vezes ele tenta de novo "
           "depois de um 5xx?",
        8: "Em B, a conexão nem chegou a virar WebSocket: nada foi fechado depois do 101.",
    }
    hints = [hint for hint in (hints_a.get(a), hints_b.get(b)) if hint is not None]
    if not hints:
        return correct(
            "A abriu (101) e fechou sem mensagem: o ping é controle, não mensagem, e o close "
            "1000 não salva a leitura: 8. B recusou o handshake com 503; o probe tenta de novo "
            "uma vez, recebe outro 503 e desiste: 7, e a linha diz que falhou também na nova "
            "tentativa."
        )
    return not_yet(" ".join(hints))


# ------------------------------------------------------------------------------ exercise 3

#: Exercise 3's choices for what changes in the script to read ws://127.0.0.1:8765/.
SCHEME_CHOICES = {
    "a": "só a URL",
    "b": "a URL, e importar o módulo ssl para criptografar o socket",
    "c": "a URL, e trocar create_connection por outra função",
}


def verificar_ws_e_wss(resposta: object) -> Verdict:
    """Exercise 3: ``resposta`` is ``(letter, port)``: what changes in the script to read a
    local server without TLS (``"a"``: only the URL, websocket-client does TLS by itself for
    ``wss://``), and the TCP port the script connects to for the test's ``wss://`` URL,
    which names none (443)."""
    if resposta is None:
        return not_yet(_EMPTY)
    pair = _pair(resposta)
    if pair is None:
        return not_yet('Responda com a letra e a porta: resposta = ("letra", porta).')
    letter, port = _letter(pair[0], "abc"), _whole(pair[1])
    if letter is None:
        return not_yet('A primeira parte é uma das letras "a", "b" ou "c".')
    if port is None:
        return not_yet("A segunda parte é um número de porta, como 8080.")
    if letter == "b":
        return not_yet(
            "Para um servidor sem TLS não há o que criptografar; e com wss:// o websocket-client "
            "já faz o TLS sozinho, olhando o esquema da URL."
        )
    if letter == "c":
        return not_yet("A mesma função atende os dois esquemas: ela olha o começo da URL.")
    if port == 80:
        return not_yet("O 80 é a porta padrão de ws://. A URL do teste começa com wss://.")
    if port == 8765:
        return not_yet("O 8765 é a porta do servidor local. E a URL do teste, que não diz porta?")
    if port != 443:
        return not_yet("Sem porta na URL, vale a porta padrão do esquema, a mesma do https://.")
    return correct(
        "Só muda a URL: com ws:// o websocket-client abre um TCP simples; com wss:// faz o TLS "
        "antes do handshake. Sem porta na URL, wss:// usa a 443, como o https://."
    )


# ------------------------------------------------------------------------------ exercise 4

_WAITING_CALLS = {"recv", "ws.recv", "ws.recv()", "recv()", "print(ws.recv())"}
_OPENING_CALLS = {
    "create_connection", "create_connection()", "websocket.create_connection",
    "websocket.create_connection()",
}


def verificar_linha_que_espera(resposta: object) -> Verdict:
    """Exercise 4: a server accepts the connection (101) and never sends anything.
    ``resposta`` is ``(call, seconds)``: the call of the 5-line script that stays blocked
    (``"recv"``) and for at most how long before it raises (60: ``create_connection``'s
    ``timeout`` applies to every read of the socket)."""
    if resposta is None:
        return not_yet(_EMPTY)
    pair = _pair(resposta)
    if pair is None:
        return not_yet('Responda com a chamada e os segundos: resposta = ("chamada", segundos).')
    call, seconds = pair
    if not isinstance(call, str) or not call.strip():
        return not_yet('A primeira parte é o nome da chamada, como "close".')
    name = call.strip().replace(" ", "").lower()
    if name in _OPENING_CALLS:
        return not_yet(
            "O create_connection volta assim que o handshake termina (o 101), e este servidor "
            "aceita a conexão. Depois disso, o que o script espera?"
        )
    if name not in _WAITING_CALLS:
        return not_yet("Procure, no script, a chamada que espera o servidor falar.")
    seconds = _seconds(seconds)
    if seconds is None:
        return not_yet("A segunda parte é um número de segundos (ou float(\"inf\"), se achar que é para sempre).")
    if seconds == 60:
        return correct(
            "O recv() espera a primeira mensagem. O timeout=60 do create_connection vale para "
            "cada leitura do socket: depois de 60 s sem nada, o recv() levanta "
            "WebSocketTimeoutException."
        )
    if seconds == float("inf"):
        return not_yet("Seria para sempre sem o timeout. Olhe os argumentos do create_connection.")
    return not_yet("A chamada está certa. Por quanto tempo? Olhe os argumentos do create_connection.")
