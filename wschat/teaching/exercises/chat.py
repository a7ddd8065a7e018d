"""Notebook 03's exercises (the chat): whether a client reconnects after three kinds of close,
who receives a private message, what a resume replays, and ``/who`` added to the minimal chat.

Each ``verificar_*`` takes the reader's ``resposta`` and returns a
:class:`~wschat.teaching.exercises.Verdict` in Brazilian Portuguese; none raises for a wrong or
malformed answer. :func:`verificar_who` runs the reader's server function for real: on
127.0.0.1, on a free port, in a thread of its own with its own event loop (the notebook's loop
is busy running the cell that called it), against real clients, within a few seconds; the
server is closed before it returns, whatever the reader's code does.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import threading
import traceback
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.server import ServerConnection, serve
from websockets.frames import CloseCode

from wschat.core import defaults
from wschat.teaching.exercises import Verdict, correct, not_yet
from wschat.teaching.ptbr import number
from wschat.teaching.tabs import Tab

__all__ = [
    "verificar_quem_recebe",
    "verificar_reconexao",
    "verificar_replay",
    "verificar_who",
]

# --------------------------------------------------------------------------- 1. reconnect or not

#: Exercise 1's cases: how a connection ends -> (the close code the client records, whether it
#: reconnects by itself). The answer key is the real client's (tests/teaching check it).
RECONNECT_CASES: dict[str, tuple[int, bool]] = {
    "wifi": (1006, True), "sair": (1000, False), "senha": (4001, False)}

_YES = {"sim", "s", "yes", "true", "reconecta", "volta"}
_NO = {"não", "nao", "n", "no", "false", "não reconecta", "nao reconecta"}

#: How long a real network failure takes to be noticed by the server, at most: one ping
#: interval, then the wait for its pong.
_NOTICED_WITHIN = defaults.PING_INTERVAL + defaults.PING_TIMEOUT


def verificar_reconexao(resposta: object) -> Verdict:
    """Exercise 1: for three ways a connection ends, the close code the client records and
    whether it reconnects by itself.

    ``resposta`` maps ``"wifi"`` (the network fails), ``"sair"`` (the user logs out) and
    ``"senha"`` (the login had a wrong password) to ``(code, reconnects)``: the code an int or
    digits, ``reconnects`` a bool or "sim"/"não".
    """
    if resposta is None:
        return not_yet('Escreva um dicionário com os três casos: resposta = {"wifi": (código, '
                       'True ou False), "sair": (...), "senha": (...)}.')
    answers = _cases(resposta)
    if isinstance(answers, str):
        return not_yet(answers)
    (wifi, wifi_back), (out, out_back), (refused, refused_back) = (
        answers["wifi"], answers["sair"], answers["senha"])
    if wifi != 1006:
        return not_yet(_WIFI_HINTS.get(wifi, "wifi: que código um lado anota quando a conexão "
                                             "termina sem nenhum quadro close? (seção 2)"))
    if out != 1000:
        return not_yet(_OUT_HINTS.get(out, "sair: sair de propósito é o fechamento normal, "
                                           "com close dos dois lados. Qual é o código dele?"))
    if refused != 4001:
        return not_yet(_REFUSED_HINTS.get(refused, "senha: que código o servidor usa para "
                                                   "\"login recusado\"? (seção 7)"))
    if not wifi_back:
        return not_yet("wifi: sem reconectar, a aba fica fora até alguém recarregar a página. "
                       "E o teste pede que quem cai e volta continue recebendo.")
    if out_back:
        return not_yet("sair: o usuário pediu para sair. Se o cliente voltasse sozinho, como "
                       "ele sairia?")
    if refused_back:
        return not_yet("senha: tentar de novo com a mesma senha daria o mesmo erro, para "
                       "sempre (e o servidor limita as tentativas que falham).")
    return correct("1006 é o único dos três que nenhum lado envia (RFC 6455, §7.4.1): cada "
                   "lado o anota quando a conexão termina sem close, e é o único em que o "
                   "cliente volta sozinho. Depois de 1000 o usuário quis sair; depois de 4001, "
                   "tentar de novo só repetiria o erro. Numa queda de Wi-Fi de verdade, o "
                   "servidor só percebe quando um ping fica sem resposta: em até "
                   f"{number(_NOTICED_WITHIN)} s.")


_WIFI_HINTS = {
    1000: "wifi: 1000 é o fechamento normal, em que os dois lados trocam quadros close. Quando "
          "a rede cai, algum close chega a alguém?",
    1001: "wifi: 1001 (going away) viaja num quadro close: o servidor que desliga, ou o "
          "navegador que sai da página, o envia. Sem rede, nada viaja.",
    1011: "wifi: 1011 é um erro interno. O servidor até tenta mandá-lo quando o ping fica sem "
          "resposta, mas esse quadro chega à aba?",
}
_OUT_HINTS = {
    1006: "sair: ao sair, os dois lados trocam quadros close; a conexão não termina sem close.",
    1001: "sair: 1001 (going away) é de quem vai embora sem ter pedido para sair, como o "
          "servidor que desliga. Aqui o usuário pediu: qual é o fechamento normal?",
}
_REFUSED_HINTS = {
    1008: "senha: 1008 é o código da RFC para violação de política. O nosso protocolo usa um "
          "código próprio, da faixa que a RFC deixa às aplicações (seção 7).",
    1006: "senha: quando a senha está errada, o servidor responde e fecha com um quadro close. "
          "Que código vem nele? (seção 7)",
}


def _cases(value: object) -> dict[str, tuple[int, bool]] | str:
    """The reader's three cases, normalised, or the hint that says what is malformed."""
    shape = ('A resposta é um dicionário com os três casos, por exemplo {"wifi": (1234, True), '
             '"sair": (1234, False), "senha": (1234, False)}.')
    if not isinstance(value, dict):
        return shape
    given = {str(key).strip().lower(): item for key, item in value.items()}
    cases: dict[str, tuple[int, bool]] = {}
    for name in RECONNECT_CASES:
        if name not in given:
            return f'Falta o caso "{name}". ' + shape
        item = given[name]
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            return f'{name}: escreva uma dupla (código, True ou False), por exemplo (1234, True).'
        code, back = _as_int(item[0]), _as_bool(item[1])
        if code is None:
            return f"{name}: o primeiro item é o código de fechamento, um número de 4 algarismos."
        if back is None:
            return f"{name}: o segundo item diz se o cliente reconecta sozinho: True ou False."
        cases[name] = (code, back)
    return cases


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _YES:
            return True
        if word in _NO:
            return False
    return None


# --------------------------------------------------------------------------- 2. who receives

#: The sessions of exercise 2: ana in two tabs, joao on a phone and a computer, bob in one tab.
SESSIONS = ("ana-1", "ana-2", "joao-celular", "joao-pc", "bob")
_USERS = {"ana", "joao", "bob"}


def verificar_quem_recebe(resposta: object) -> Verdict:
    """Exercise 2: which sessions receive ``/msg joao oi`` sent from ana's first tab.

    ``resposta`` is a collection of session names among :data:`SESSIONS` (or one string of
    them separated by commas); case, spaces and ``_`` for ``-`` do not matter.
    """
    if resposta is None:
        return not_yet("Escreva o conjunto das sessões que recebem, por exemplo "
                       "resposta = {\"bob\"}.")
    names = _names(resposta)
    if names is None:
        return not_yet("A resposta é um conjunto de nomes de sessão, entre: "
                       + ", ".join(SESSIONS) + ".")
    unknown = names - set(SESSIONS)
    if unknown and unknown <= _USERS:
        return not_yet("Responda por sessão (cada aba ou aparelho), não por usuário: as sessões "
                       "são " + ", ".join(SESSIONS) + ".")
    if unknown:
        return not_yet(f"Não há sessão chamada {sorted(unknown)[0]!r}. As sessões são: "
                       + ", ".join(SESSIONS) + ".")
    if "bob" in names:
        return not_yet("O Bob não participa da conversa: uma privada vai só ao destinatário e "
                       "ao remetente.")
    if not {"joao-celular", "joao-pc"} <= names:
        return not_yet("O destinatário é o usuário joao, não um aparelho dele: qual dos dois "
                       "ficaria sem a mensagem, e por quê?")
    if not {"ana-1", "ana-2"} <= names:
        return not_yet("E a Ana? Se a aba em que ela não digitou ficasse sem a própria mensagem, "
                       "as duas telas dela contariam conversas diferentes.")
    return correct("Todas as sessões do destinatário e todas as do remetente, e mais ninguém: "
                   "sessions[\"joao\"] | sessions[\"ana\"] no chat mínimo.")


# --------------------------------------------------------------------------- 3. replay

#: The log of exercise 3, after the id 41 that joao's computer saw: id -> (from, to).
REPLAY_LOG = {42: ("ana", None), 43: ("ana", "bob"), 44: ("bob", "joao"), 45: ("joao", None)}
_REPLAY = [42, 44, 45]


def verificar_replay(resposta: object) -> Verdict:
    """Exercise 3: the ids the server replays to joao's computer, resuming after 41, in order.

    ``resposta`` is a list of ids (ints or digit strings), or one string of them separated by
    commas or spaces.
    """
    if resposta is None:
        return not_yet("Escreva a lista dos ids, em ordem, por exemplo resposta = [42].")
    if isinstance(resposta, str) and re.fullmatch(r"[\s\[\](),\d]*\d[\s\[\](),\d]*", resposta):
        resposta = re.findall(r"\d+", resposta)
    if isinstance(resposta, (str, bytes)) or not isinstance(resposta, Iterable):
        return not_yet("A resposta é uma lista de ids, por exemplo [42, 43].")
    items = [_as_int(item) for item in resposta]
    ids = [i for i in items if i is not None]
    if len(ids) != len(items):
        return not_yet("Cada item da lista é um id: um número, como 42.")
    if len(set(ids)) != len(ids):
        return not_yet("Um id aparece duas vezes: o replay manda cada mensagem uma vez só.")
    if 43 in ids:
        return not_yet("A 43 é uma privada da Ana para o Bob: o João pode vê-la?")
    if any(i <= 41 for i in ids):
        return not_yet("O computador já mostrou até a 41: o resume pede o que veio depois dela.")
    if 45 not in ids:
        return not_yet("Falta uma mensagem que o João pode ver e que o computador nunca "
                       "recebeu. Quem escreveu cada uma, e de qual aparelho?")
    if set(ids) != set(_REPLAY):
        return not_yet("Confira cada id de 42 a 45: quem pode ver cada mensagem?")
    if ids != _REPLAY:
        return not_yet("São esses ids, mas o replay vem na ordem do log.")
    return correct("42, 44 e 45: tudo o que o João pode ver depois do 41, em ordem, uma vez "
                   "cada, inclusive o que ele mesmo escreveu em outro aparelho.")


# --------------------------------------------------------------------------- 4. /who

Handler = Callable[[ServerConnection], Awaitable[None]]

#: How long the check of the reader's server may take, and how long closing it may take
#: after that (the clients, then the server); the caller waits for both at most.
WHO_TIMEOUT = 5.0
CLOSE_TIMEOUT = 1.0


def verificar_who(resposta: object) -> Verdict:
    """Exercise 4: the minimal chat answers ``/who`` with the names online, each once, to the
    tab that asked and to no other one.

    ``resposta`` is the server function (``chat``) with ``/who`` in its ``commands``. It runs
    against real clients; a server that breaks, hangs or answers wrongly gets a hint.
    """
    if resposta is None:
        return not_yet("Escreva a função who, registre com commands[\"/who\"] = who e passe o "
                       "servidor: resposta = chat.")
    if not inspect.iscoroutinefunction(resposta):
        return not_yet("Passe a função do servidor, a mesma que vai para serve(): "
                       "resposta = chat (sem parênteses).")
    outcome: list[Verdict] = []

    def run() -> None:
        try:
            outcome.append(asyncio.run(_try_who(resposta)))
        except BaseException as error:  # never leave the reader with a silent thread
            outcome.append(not_yet(f"O teste do seu servidor falhou ({type(error).__name__}): "
                                   "rode a célula do chat mínimo de novo e tente outra vez."))

    thread = threading.Thread(target=run, name="verificar_who", daemon=True)
    thread.start()
    thread.join(WHO_TIMEOUT + 2 * CLOSE_TIMEOUT + 1.0)
    if not outcome:
        return not_yet("O servidor não respondeu a tempo: alguma linha ficou esperando para "
                       "sempre? Rode a célula do chat mínimo de novo e tente outra vez.")
    return outcome[0]


async def _try_who(handler: Handler) -> Verdict:
    """Run ``handler`` on a free port of 127.0.0.1 and ask ``/who`` from one tab of carla's
    two, with davi online too; always close the server.

    An exception in ``handler`` is caught and named in the verdict (with the reader's line
    that raised it), instead of reaching websockets' log as an English traceback.
    """
    failures: list[Exception] = []

    async def guarded(ws: ServerConnection) -> None:
        try:
            await handler(ws)
        except Exception as error:  # the reader's code, whatever it raised
            failures.append(error)
            await ws.close(CloseCode.INTERNAL_ERROR)

    try:
        server = await serve(guarded, "127.0.0.1", 0)
    except Exception as error:  # the reader's function, whatever it is
        return not_yet(f"O servidor não subiu ({type(error).__name__}): passe resposta = chat.")
    tabs: list[Tab] = []
    try:
        async with asyncio.timeout(WHO_TIMEOUT):
            return await _ask_who(server.sockets[0].getsockname()[1], tabs)
    except TimeoutError:
        return not_yet("Alguma aba esperou uma linha que não veio: o servidor ainda manda a "
                       "linha de boas-vindas e entrega as mensagens públicas como antes?")
    except Exception as error:  # a broken connection, whatever the reader's code did
        if failures:
            return not_yet(_raised(failures[0]))
        return not_yet(f"A conexão com o seu servidor falhou ({type(error).__name__}): "
                       "corrija a função who e tente de novo.")
    finally:
        # Stop listening at once, then give the connections a moment to close cleanly.
        server.close()
        closing = asyncio.gather(*(tab.close() for tab in tabs))
        await _quietly(asyncio.wait_for(closing, CLOSE_TIMEOUT))
        await _quietly(asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT))


async def _ask_who(port: int, tabs: list[Tab]) -> Verdict:
    url = f"ws://127.0.0.1:{port}"
    for name, user in (("carla-1", "carla"), ("carla-2", "carla"), ("davi", "davi")):
        tabs.append(Tab(name, url, user))
        await tabs[-1].open()
    asker, other_tab, davi = tabs
    await asker.say("/who")
    answer = await asker.next_line()
    if "/who" in answer:
        return not_yet("O /who virou uma mensagem pública: o comando está registrado em "
                       "commands, com a barra, \"/who\"?")
    for name in ("carla", "davi"):
        count = len(re.findall(rf"\b{name}\b", answer))
        if count == 0:
            return not_yet(f"A resposta ({answer!r}) não cita todos os usuários online: falta "
                           "um deles. De onde vêm os nomes de quem está online?")
        if count > 1:
            return not_yet(f"A resposta ({answer!r}) repete um nome: quem tem duas abas é um "
                           "usuário só.")
    # The answer was written before this line is even read: whoever got it got it first.
    await davi.say("marco")
    for tab in (other_tab, davi):
        if "marco" not in await tab.next_line():
            return not_yet("A resposta do /who chegou a outras abas além da que perguntou: "
                           "para quais conexões ela deve ir?")
    return correct(f"Seu /who respondeu {answer!r}, só para a aba que perguntou: o conjunto "
                   "de conexões de destino decide quem recebe, como no /msg.")


def _raised(error: Exception) -> str:
    """What the reader's server raised, and on which of the reader's lines (the last one
    outside websockets and this module), as a hint."""
    own = (Path(websockets.__file__).parent, Path(__file__).parent)
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not any(Path(frame.filename).is_relative_to(root) for root in own)]
    where = f" na linha `{frames[-1].line}`" if frames and frames[-1].line else ""
    return (f"O seu servidor falhou ao atender o /who{where}: {type(error).__name__} "
            f"(\"{error}\", a mensagem do Python). Confira essa linha: a função who devolve "
            "(conexões, texto), como a private.")


# --------------------------------------------------------------------------- helpers


async def _quietly(step: Awaitable[Any]) -> None:
    try:
        await step
    except Exception:  # cleaning up after the reader's code: nothing more to tell them
        pass


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _names(value: object) -> set[str] | None:
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if isinstance(value, bytes) or not isinstance(value, Iterable):
        return None
    items = list(value)
    if not items or not all(isinstance(item, str) for item in items):
        return None
    names = {re.sub(r"[\s_]+", "-", item.strip().lower()) for item in items}
    return None if "" in names else names
