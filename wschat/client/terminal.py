"""``python -m wschat chat URL --user NAME [--password P]``: chat from a terminal.

Each line typed is sent as it is: plain text goes to everyone; ``/msg NAME TEXT``, ``/who``,
``/help`` (and ``/logout``) are the server's commands; ``/cair`` asks the server to cut this
connection without a close (PROTOCOL.md v4 ``drop``), and the client comes back by itself. ``/quit`` or the end of the input
closes the client, after waiting briefly for what was sent to be confirmed. Events are printed
one per line::

    [12:03:05] ana: oi a todos
    [12:03:06] ana → joao (privado): oi
    * joao entrou
    * joao está digitando…
    online: ana, joao
    ! erro unknown_user: nenhum usuário chamado 'x'
    * reconectado (sem perdas)

After login it prints how many messages are unread (``* 3 mensagens não lidas``; 10,000 or
more as ``10.000+``). The messages it shows are read: once the events that came in a burst
are printed, it marks the newest message shown as read (``mark_read``), which every other
session of the user (a browser tab) follows. It does not send typing notices (a terminal
line is sent whole), but it shows those of others.

Reconnecting is the :class:`~wschat.client.ChatClient`'s job. Standard input is read by a
thread that feeds an asyncio queue, which works on every platform (Windows has no
asyncio pipes for the console). Problems are one line on stderr: exit 1 for a refused login
or a server that cannot be reached (the line names the cause and the likely fix:
:mod:`wschat.client.connect_failure`), 2 for bad arguments, 130 for Ctrl+C; never a
traceback. The URL is read by :func:`~wschat.core.urls.chat_url`: ``127.0.0.1:8765`` means
``ws://127.0.0.1:8765/ws``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import os
import sys
import threading
import time
import unicodedata
from collections.abc import Callable

from websockets.exceptions import WebSocketException

from wschat.client.chat_client import (
    ChatClient,
    ChatClientError,
    ConnectionLost,
    DropRefused,
    LoginError,
)
from wschat.client.connect_failure import describe_connect_failure
from wschat.client.events import (
    Disconnected,
    ErrorEvent,
    Event,
    Help,
    History,
    Message,
    Presence,
    Read,
    Reconnected,
    TypingNotice,
    Users,
)
from wschat.core.defaults import UNREAD_CAP
from wschat.core.model import is_later
from wschat.core.urls import InvalidURL, chat_url

__all__ = ["PASSWORD_ENV", "format_event", "format_unread", "run_cli"]

#: Environment variable read for the password when ``--password`` is not given.
PASSWORD_ENV = "WSCHAT_PASSWORD"

#: Seconds ``/quit`` and end of input wait for sent lines to be confirmed by the server.
QUIT_GRACE = 5.0

_PROG = "wschat chat"


def run_cli(args: argparse.Namespace) -> int:
    """Run the terminal chat with ``args.url``, ``args.user``, ``args.password``; return the
    exit status."""
    _tolerant_streams()
    try:
        url = chat_url(args.url)
    except InvalidURL as error:
        _fail(str(error))
        return 2
    password = args.password or os.environ.get(PASSWORD_ENV)
    if not password:
        if not sys.stdin.isatty():
            _fail(f"sem senha: use --password ou {PASSWORD_ENV} (a entrada não é um terminal)")
            return 2
        try:
            password = getpass.getpass(f"senha de {args.user}: ")
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 130
        if not password:
            _fail("sem senha")
            return 2
    # The client logs what it skips (a malformed frame...) for programs; here every problem
    # is the one line below, in Portuguese, so those records go nowhere.
    logging.getLogger("wschat").addHandler(logging.NullHandler())
    try:
        return asyncio.run(_chat(url, args.user, password))
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # last resort: one line, never a traceback
        _fail(f"erro inesperado: {error!r}")
        return 1


def format_event(event: Event) -> str | None:
    """One event as the line (or lines, for help) the terminal shows; None for an event it
    does not show (a ``read`` position that moved)."""
    match event:
        case Message():
            return _format_message(event)
        case Presence(user=user, online=online):
            return f"* {user} {'entrou' if online else 'saiu'}"
        case TypingNotice(user=user, to=to):
            return f"* {user} está digitando…" + (" (para você)" if to is not None else "")
        case Read():
            return None
        case Users(online=online):
            return f"online: {', '.join(online) or '(ninguém)'}"
        case Help(text=text):
            return _clean(text, keep_newlines=True)
        case History(messages=messages, more=more):
            lines = [_format_message(m) for m in messages]
            lines.append("* (há mensagens mais antigas)" if more else "* (início do histórico)")
            return "\n".join(lines)
        case ErrorEvent(code=code, detail=detail):
            return f"! erro {code}: {_clean(detail)}"
        case Disconnected(code=code):
            return f"* conexão perdida ({code}); reconectando…"
        case Reconnected(welcome=welcome):
            how = "sem perdas" if welcome.recovered else "histórico recarregado"
            return f"* reconectado ({how})"
    raise AssertionError(f"unknown event {event!r}")


def format_unread(count: int) -> str:
    """The line shown after login: how many messages are unread (``10.000+`` at the cap)."""
    if count >= UNREAD_CAP:
        return f"* {UNREAD_CAP:,}+ mensagens não lidas".replace(",", ".")
    if count == 1:
        return "* 1 mensagem não lida"
    return f"* {count} mensagens não lidas"


def _format_message(message: Message) -> str:
    stamp = _clock(message.ts)
    text = _clean(message.text)
    if message.to is None:
        return f"[{stamp}] {message.sender}: {text}"
    return f"[{stamp}] {message.sender} → {message.to} (privado): {text}"


def _clock(ts: float) -> str:
    try:
        return time.strftime("%H:%M:%S", time.localtime(ts))
    except (OverflowError, OSError, ValueError):
        return "??:??:??"


def _clean(text: str, *, keep_newlines: bool = False) -> str:
    """Text from other users made safe for a terminal: control characters (escape sequences
    could move the cursor or rewrite the screen) shown as ``\\xNN``; a line break in a
    message becomes an indented continuation line."""
    out: list[str] = []
    for ch in text:
        if ch == "\n":
            out.append("\n" if keep_newlines else "\n    ")
        elif ch != "\t" and unicodedata.category(ch) == "Cc":
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def _fail(message: str) -> None:
    print(f"{_PROG}: {message}", file=sys.stderr, flush=True)


def _tolerant_streams() -> None:
    """A terminal that cannot show ``→`` or a user's emoji gets ``?``, not a traceback."""
    for stream in (sys.stdout, sys.stderr, sys.stdin):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):
                reconfigure(errors="replace")


def _start_stdin_reader(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str | None]) -> None:
    """Read stdin in a daemon thread; each line goes to ``lines``, then None at the end."""

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop already closed: nobody listens
            loop.call_soon_threadsafe(lines.put_nowait, item)

    def read() -> None:
        try:
            while line := sys.stdin.readline():
                put(line)
        except (OSError, ValueError):
            pass
        finally:
            put(None)

    threading.Thread(target=read, name="wschat-chat-stdin", daemon=True).start()


async def _chat(url: str, user: str, password: str) -> int:
    client = ChatClient(url, user, password)
    try:
        welcome = await client.connect()
    except LoginError as error:
        _fail(f"login recusado ({error.code}): {_clean(error.detail)}")
        return 1
    except (OSError, TimeoutError, WebSocketException, ChatClientError) as error:
        _fail(f"não foi possível conectar a {url}: {describe_connect_failure(error, url)}")
        return 1
    out = _printer()
    out(f"* conectado como {welcome.user}; online: {', '.join(welcome.online)}")
    out(format_unread(welcome.unread))
    out("* digite uma mensagem, ou /msg NOME TEXTO, /who, /help, /quit")

    lines: asyncio.Queue[str | None] = asyncio.Queue()
    _start_stdin_reader(asyncio.get_running_loop(), lines)
    quitting = asyncio.Event()
    shown = asyncio.create_task(_show_events(client, out, quitting))
    typed = asyncio.create_task(_send_lines(client, lines, out, quitting))
    try:
        await asyncio.wait({shown, typed}, return_when=asyncio.FIRST_COMPLETED)
        if typed.done():  # /quit or end of input: let what was sent be confirmed
            quitting.set()
            if not await client.wait_acknowledged(QUIT_GRACE):
                pending = len(client.unacknowledged)
                if pending:
                    _fail(f"{pending} envio(s) sem confirmação do servidor")
            await client.close()
            return await shown
        return shown.result()
    finally:
        typed.cancel()
        shown.cancel()
        await client.close()


async def _drop(client: ChatClient, out: Callable[[str], None]) -> None:
    """``/cair``: the server cuts this connection without a close (1006); the client comes
    back by itself and resumes, which the events printed next show."""
    try:
        await client.drop()
    except DropRefused as error:
        out(f"! o servidor recusou /cair ({error.code}): {_clean(error.detail)}")
    except RuntimeError:
        out("! sem conexão aberta agora: espere reconectar")
    except TimeoutError:
        out("! o servidor não derrubou a conexão a tempo")


def _printer() -> Callable[[str], None]:
    def out(line: str) -> None:
        print(line, flush=True)

    return out


async def _show_events(
    client: ChatClient, out: Callable[[str], None], quitting: asyncio.Event
) -> int:
    """Print every event, marking what was shown as read; the exit status once the client
    ends."""
    newest: str | None = None  # the newest message shown and not yet marked read
    try:
        async for event in client:
            line = format_event(event)
            if line is not None:
                out(line)
            if isinstance(event, Message) and is_later(event.id, newest or client.read):
                newest = event.id
            if newest is not None and client.queued == 0:  # a burst is shown: mark it once
                await client.mark_read(newest)
                newest = None
    except LoginError as error:
        _fail(f"login recusado ({error.code}): {_clean(error.detail)}")
        return 1
    except ConnectionLost as error:
        reason = f": {_clean(error.reason)}" if error.reason else ""
        _fail(f"conexão encerrada pelo servidor ({error.code}){reason}")
        return 1
    except ChatClientError as error:
        _fail(str(error))
        return 1
    if not quitting.is_set():  # the server ended the session (a typed /logout)
        out("* sessão encerrada")
    return 0


async def _send_lines(
    client: ChatClient,
    lines: asyncio.Queue[str | None],
    out: Callable[[str], None],
    quitting: asyncio.Event,
) -> None:
    """Send each typed line until ``/quit``, ``/logout``, the end of input, or the client's
    end."""
    while (line := await lines.get()) is not None:
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if line.strip().lower() == "/quit":
            return
        if line.rstrip().lower() == "/logout":  # answered only by the close: no ref comes back
            quitting.set()
            out("* saindo (logout)")
            await client.logout()
            return
        if line.strip().lower() == "/cair":  # answered only by the lost connection
            await _drop(client, out)
            continue
        try:
            await client.send(line)
        except ValueError:  # a frame over 64 KiB would make the server close the connection
            out(f"! linha longa demais para enviar ({len(line)} caracteres)")
        except ChatClientError:
            return
