"""Notebook 03's exercises (the chat): a dropped tab's close code, who receives a private
message, what a resume replays, and ``/who`` added to the minimal chat.

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
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from wschat.teaching.exercises import Verdict, correct, not_yet
from wschat.teaching.tabs import Tab

__all__ = [
    "verificar_codigo_da_queda",
    "verificar_quem_recebe",
    "verificar_replay",
    "verificar_who",
]

# --------------------------------------------------------------------------- 1. close code


def verificar_codigo_da_queda(resposta: object) -> Verdict:
    """Exercise 1: the close code a tab records when its network fails, and why.

    ``resposta`` is ``(code, letter)``: the code (int or digits) and the letter of the
    explanation in the statement: "a" the server sent it in a close frame, "b" no close frame
    arrived and each end notes it itself, "c" the browser sends it when the Wi-Fi goes.
    """
    if resposta is None:
        return not_yet("Escreva a resposta como uma dupla: resposta = (código, \"letra\").")
    if not isinstance(resposta, (tuple, list)) or len(resposta) != 2:
        return not_yet("A resposta é uma dupla: o código e a letra, por exemplo (1234, \"a\").")
    code, letter = _as_int(resposta[0]), str(resposta[1]).strip().lower()
    if code is None:
        return not_yet("O primeiro item é o código de fechamento: um número de 4 algarismos.")
    if code == 1000:
        return not_yet("1000 é o fechamento normal: os dois lados trocam quadros close. Quando o "
                       "Wi-Fi cai, algum quadro close chega a alguém?")
    if code == 1001:
        return not_yet("1001 (going away) viaja num quadro close: o servidor que desliga, ou o "
                       "navegador que sai da página, o envia. Sem rede, nada viaja.")
    if code == 1011:
        return not_yet("1011 é um erro interno. O servidor até tenta mandá-lo quando o ping fica "
                       "sem resposta, mas o quadro chega à aba?")
    if code != 1006:
        return not_yet("Esse código não é o de uma conexão que termina sem quadro close. Veja a "
                       "saída da seção 2 (aba 2 da ana) e a seção 5.")
    if letter == "a":
        return not_yet("O código está certo, a explicação não: a RFC 6455 (§7.4.1) proíbe "
                       "mandar esse código num quadro close.")
    if letter == "c":
        return not_yet("O código está certo, a explicação não: sem rede, o navegador não "
                       "consegue mandar nada ao servidor.")
    if letter != "b":
        return not_yet("O código está certo; agora escolha a explicação: \"a\", \"b\" ou \"c\".")
    return correct("1006 (fechamento anormal) nunca viaja num quadro (RFC 6455, §7.4.1): é o "
                   "que cada lado anota quando a conexão termina sem quadro close. Quando o Wi-Fi "
                   "cai de verdade, o servidor demora a perceber: só o ping sem resposta avisa, "
                   "em até uns 40 s. Depois de um 1006 o cliente reconecta; depois de um 1000, "
                   "não.")


# --------------------------------------------------------------------------- 2. who receives

#: The sessions of exercise 2: ana in two tabs, joao on a phone and a computer, bob in one tab.
SESSIONS = ("ana-1", "ana-2", "joao-celular", "joao-pc", "bob")


def verificar_quem_recebe(resposta: object) -> Verdict:
    """Exercise 2: which sessions receive ``/msg joao oi`` sent from ana's first tab.

    ``resposta`` is a collection of session names among :data:`SESSIONS`.
    """
    if resposta is None:
        return not_yet("Escreva o conjunto das sessões que recebem, por exemplo "
                       "resposta = {\"bob\"}.")
    names = _names(resposta)
    if names is None:
        return not_yet("A resposta é um conjunto de nomes de sessão, entre: "
                       + ", ".join(SESSIONS) + ".")
    unknown = names - set(SESSIONS)
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

    ``resposta`` is a list of ids (ints or digit strings).
    """
    if resposta is None:
        return not_yet("Escreva a lista dos ids, em ordem, por exemplo resposta = [42].")
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
    two, with davi online too; always close the server."""
    try:
        server = await serve(handler, "127.0.0.1", 0)
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
        return not_yet(f"A conexão com o seu servidor falhou ({type(error).__name__}): veja o "
                       "erro que ele mostrou, corrija a função who e tente de novo.")
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
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        return None
    items = list(value)
    if not items or not all(isinstance(item, str) for item in items):
        return None
    return {item.strip().lower() for item in items}
