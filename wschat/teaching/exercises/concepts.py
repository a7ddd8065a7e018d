"""The exercises at the end of notebook 01_conceitos: one checker per exercise.

Each checker takes the reader's ``resposta`` as it is (any type), never raises, and returns a
:class:`~wschat.teaching.exercises.Verdict` in Brazilian Portuguese. The facts they check are
the notebook's: the opening handshake's accept value (RFC 6455 §4.2.2), the wait of a polling
client, the first two bytes of a frame (§5.2), and the close code no frame carries (§7.1.5).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re

from wschat.core import wire
from wschat.teaching.exercises import Verdict, correct, not_yet

__all__ = [
    "EXERCISE_KEY",
    "verificar_accept",
    "verificar_bytes_do_quadro",
    "verificar_codigo_sem_close",
    "verificar_espera_do_polling",
]

#: The ``Sec-WebSocket-Key`` of exercise 1: base64 of the 16 bytes ``wschat-exercicio``.
EXERCISE_KEY = "d3NjaGF0LWV4ZXJjaWNpbw=="

#: The example of RFC 6455 §1.3, which the notebook and handshake.png show worked out.
_RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="

_EMPTY = "Escreva sua resposta no lugar de None e rode a célula de novo."


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _seconds(value: object) -> float | None:
    """A duration as the reader may write it: 0.5, "0,5", "0,5 s" or "500 ms"; else None."""
    if _is_number(value):
        return float(value)  # type: ignore[arg-type]
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*(-?\d+(?:[.,]\d+)?)\s*(ms|s|seg|segundos?)?\s*", value.lower())
    if match is None:
        return None
    number = float(match.group(1).replace(",", "."))
    return number / 1000 if match.group(2) == "ms" else number


def _pair(value: object) -> tuple[object, object] | None:
    """The two items of a tuple or list of two; else None."""
    if isinstance(value, tuple | list) and len(value) == 2:
        return value[0], value[1]
    return None


# ------------------------------------------------------------------------------ exercise 1


def verificar_accept(resposta: object) -> Verdict:
    """Exercise 1: ``resposta`` is the ``Sec-WebSocket-Accept`` a server answers to the key
    :data:`EXERCISE_KEY` (a str, or the ASCII bytes ``base64.b64encode`` returns; a leading
    ``Sec-WebSocket-Accept:`` is tolerated)."""
    if resposta is None:
        return not_yet(_EMPTY)
    if isinstance(resposta, bytes | bytearray):  # what base64.b64encode returns
        try:
            resposta = bytes(resposta).decode("ascii")
        except UnicodeDecodeError:
            return not_yet("A resposta é o texto em base64, do jeito que vai no cabeçalho.")
    if not isinstance(resposta, str) or not resposta.strip():
        return not_yet("A resposta é um texto (str) em base64, do jeito que vai no cabeçalho.")
    answer = resposta.strip()
    if answer.lower().startswith("sec-websocket-accept:"):
        answer = answer.split(":", 1)[1].strip()
    key_bytes = base64.b64decode(EXERCISE_KEY)
    with_guid = (EXERCISE_KEY + wire.GUID).encode()
    if answer == wire.accept_key(EXERCISE_KEY):
        return correct(
            "É isso que o servidor devolve para essa chave. O cliente faz a mesma conta e só "
            "aceita a conexão se os dois valores baterem."
        )
    if answer == base64.b64encode(hashlib.sha1(EXERCISE_KEY.encode()).digest()).decode():
        return not_yet("Você fez o SHA-1 só da chave: faltou juntar o GUID da RFC ao final dela.")
    if answer.lower() == hashlib.sha1(with_guid).hexdigest():
        return not_yet(
            "Isso é o SHA-1 em hexadecimal. O cabeçalho leva os 20 bytes do SHA-1 em base64."
        )
    if answer == base64.b64encode(hashlib.sha1(key_bytes + wire.GUID.encode()).digest()).decode():
        return not_yet(
            "Você decodificou a chave antes da conta. Ela entra como texto, do jeito que viaja "
            "no cabeçalho (os 24 caracteres em base64)."
        )
    if answer == wire.accept_key(_RFC_KEY):
        return not_yet("Esse é o valor do exemplo da RFC, que vem de outra chave. Use a deste exercício.")
    if answer == EXERCISE_KEY:
        return not_yet("Essa é a própria chave. O servidor devolve outra coisa, calculada a partir dela.")
    return not_yet(
        "Não bate. Confira os passos: chave + GUID (como texto), SHA-1 disso (20 bytes), "
        "e os 20 bytes em base64."
    )


# ------------------------------------------------------------------------------ exercise 2


def verificar_espera_do_polling(resposta: object) -> Verdict:
    """Exercise 2: ``resposta`` is ``(mean, worst)``, in seconds, of how long an event waits
    to reach a client that polls every second over a network with a 100 ms round trip:
    half an interval (worst: a whole one) plus the answer's way back, RTT/2 = 0.05 s."""
    if resposta is None:
        return not_yet(_EMPTY)
    pair = _pair(resposta)
    if pair is None:
        return not_yet("Responda com dois números em segundos: resposta = (média, pior_caso).")
    mean, worst = (_seconds(item) for item in pair)
    if mean is None or worst is None:
        return not_yet('Os dois valores são números, em segundos, como 0.3 ou "0,3".')
    if mean >= 100 or worst >= 100:
        return not_yet("Parece que você respondeu em milissegundos: a resposta é em segundos.")

    def near(value: float, target: float) -> bool:
        return abs(value - target) < 0.01

    if near(mean, 0.55) and near(worst, 1.05):
        return correct(
            "O evento acontece num instante qualquer entre duas consultas: espera, em média, "
            "meio intervalo (no pior caso, um inteiro), mais a volta da resposta, RTT/2. "
            "Com push, só os 0,05 s da viagem."
        )
    if near(mean, 0.5) and near(worst, 1.0):
        return not_yet("Quase: a espera até a consulta está certa, mas a resposta ainda precisa "
                       "voltar pela rede. Quanto tempo leva essa volta?")
    if near(mean, 0.6) or near(worst, 1.1):
        return not_yet("Do RTT, conte só o trecho que o evento percorre: a volta da resposta, do "
                       "servidor até o cliente.")
    if near(mean, 0.55):
        return not_yet("A média está certa. O pior caso é o do evento que acontece logo depois "
                       "de uma consulta: quanto ele espera, contando a volta da resposta?")
    if near(mean, worst) or mean > 0.9:
        return not_yet(
            "Um intervalo inteiro só espera o evento que acontece logo depois de uma consulta. "
            "Em média, quanto falta para a próxima consulta?"
        )
    if near(mean, 0.5):
        return not_yet("Na média, falta somar a volta da resposta pela rede.")
    return not_yet(
        "Pense num evento que acontece num instante sorteado entre duas consultas: quanto falta, "
        "em média, para a próxima? E some a volta da resposta pela rede."
    )


# ------------------------------------------------------------------------------ exercise 3


def _two_bytes(value: object) -> tuple[int, int] | None:
    """Two byte values from bytes, two ints, or text in hex ("81 84", "0x81, 0x84") or bits
    ("10000001 10000100", "0b10000001 0b10000100")."""
    if isinstance(value, bytes | bytearray) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, tuple | list) and len(value) == 2:
        if all(isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 255
               for item in value):
            return value[0], value[1]
        return None
    if isinstance(value, str):
        text = value.lower().replace(",", " ")
        bits = text.replace("0b", " ").split()
        if len(bits) == 2 and all(re.fullmatch(r"[01]{8}", token) for token in bits):
            return int(bits[0], 2), int(bits[1], 2)  # "10000001 10000100", with or without 0b
        tokens = text.replace("0x", " ").split()
        if len(tokens) == 1 and len(tokens[0]) == 4:  # "8184"
            tokens = [tokens[0][:2], tokens[0][2:]]
        if len(tokens) == 2 and all(re.fullmatch(r"[0-9a-f]{1,2}", token) for token in tokens):
            return int(tokens[0], 16), int(tokens[1], 16)
    return None


#: The message of exercise 3: 3 characters, 4 bytes in UTF-8 ("á" takes two).
EXERCISE_TEXT = "olá"


def verificar_bytes_do_quadro(resposta: object) -> Verdict:
    """Exercise 3: ``resposta`` is the first two bytes of the frame a client sends with the
    text message :data:`EXERCISE_TEXT` in one frame: ``0x81 0x84`` (bytes, two ints, or hex)."""
    if resposta is None:
        return not_yet(_EMPTY)
    pair = _two_bytes(resposta)
    if pair is None:
        return not_yet('Escreva os dois bytes, por exemplo bytes([0x12, 0x34]) ou "12 34".')
    first, second = pair
    length = len(EXERCISE_TEXT.encode())
    if (first, second) == (0x81, 0x80 | length):
        return correct(
            "FIN = 1 e opcode 0x1 dão 0x81; MASK = 1 (o cliente sempre mascara) e 4 bytes, "
            "porque o á ocupa dois em UTF-8, dão 0x84. Depois deles vêm os 4 bytes da chave."
        )
    hints = []
    if first & 0x0F == 0x2:
        hints.append("O opcode 0x2 é de binário, e a mensagem é texto.")
    elif first & 0x0F != 0x1:
        hints.append("Confira o opcode de uma mensagem de texto.")
    if not first & 0x80:
        hints.append("A mensagem vai inteira num quadro só, então ele é o último (FIN).")
    if first & 0x70:
        hints.append("Sem extensão negociada, os bits RSV1-3 ficam em 0.")
    if not second & 0x80:
        hints.append("Quem envia é o cliente: confira o bit MASK.")
    if second & 0x7F == len(EXERCISE_TEXT):
        hints.append("O tamanho conta bytes em UTF-8, não caracteres.")
    elif second & 0x7F != length:
        hints.append("Confira o tamanho do payload, em bytes.")
    if not hints:
        hints.append("Confira bit a bit com a figura do quadro.")
    return not_yet(" ".join(hints))


# ------------------------------------------------------------------------------ exercise 4

#: Exercise 4's choices for *why* the code of a connection lost without a close never
#: travels in a frame; "b" is right.
WHY_CHOICES = {
    "a": "códigos de erro nunca vão num quadro",
    "b": "ele registra justamente a falta de um close",
    "c": "o close vai, mas a máscara o esconde",
}


def _choice(value: object) -> str | None:
    """The letter of a choice written as "b", "B", "(b)", or "b) and its text"; else None."""
    if not isinstance(value, str):
        return None
    match = re.fullmatch(r"\s*\(?([a-z])\)?\s*|\s*\(?([a-z])\)\s.*", value.lower(), re.DOTALL)
    if match is None:
        return None
    return match.group(1) or match.group(2)


def verificar_codigo_sem_close(resposta: object) -> Verdict:
    """Exercise 4: ``resposta`` is ``(code, letter)``: the close code an endpoint records when
    the connection ends without a close frame (1006), and the letter of
    :data:`WHY_CHOICES` that says why it never travels on the wire ("b")."""
    if resposta is None:
        return not_yet(_EMPTY)
    pair = _pair(resposta)
    if pair is None:
        return not_yet('Responda com o código e a letra: resposta = (código, "letra").')
    code, letter = pair
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code.strip())
    if not isinstance(code, int) or isinstance(code, bool):
        return not_yet("O código é um número inteiro, como os da tabela de códigos de close.")
    choice = _choice(letter)
    if choice not in WHY_CHOICES:
        return not_yet('A segunda parte é uma das letras "a", "b" ou "c".')
    if code != 1006:
        hints = {
            1000: "1000 é o fim normal, com quadros de close nos dois sentidos.",
            1001: "1001 viaja num quadro: é quem avisa que está indo embora.",
            1002: "1002 viaja num quadro: você o viu na resposta ao quadro sem máscara.",
            1005: "1005 é de um close que chegou, só que vazio. Aqui nenhum close chegou.",
        }
        return not_yet(hints.get(code, "Procure na tabela o código de uma conexão que acabou "
                                       "sem nenhum quadro de close."))
    if choice == "a":
        return not_yet(
            "O código está certo, mas o porquê não: o 1002, de erro de protocolo, viaja num "
            "quadro (você o viu na seção 2.3). O que falta quando o TCP simplesmente acaba?"
        )
    if choice == "c":
        return not_yet(
            "O código está certo, mas o porquê não: quem recebe remove a máscara e lê o close "
            "normalmente. O que falta quando o TCP simplesmente acaba?"
        )
    return correct(
        "1006 é o registro local de uma queda (Wi-Fi, cabo, processo morto): como nenhum close "
        "chegou, não há quadro que o leve. A RFC proíbe enviá-lo num close."
    )
