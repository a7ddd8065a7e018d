"""The terminal chat client, ``python -m wschat chat URL --user NAME`` (wschat/client/terminal.py).

The client runs as a real subprocess with its standard input piped (so it is never a
terminal); the server is real too: a ``ServerThread`` on a free loopback port, or
``python -m wschat serve`` processes where the test restarts the server. The other users are
raw ``websockets`` clients (chatkit), which see exactly what the server sends. Every wait is
for an event (a printed line, a frame, the exit) with a timeout that only bounds a failure.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from chatkit import Clients, expect_silence, publish, read_backlog, recv_json, send_json
from servekit import WAIT, ServeProcess, WschatProcess, wschat_command

from wschat import GREETING, Replica
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
    Welcome,
)
from wschat.client.terminal import PASSWORD_ENV, format_event, format_unread
from wschat.server.thread import ServerThread

PW = "s3nha"

#: A message line as the client prints it: ``[HH:MM:SS] rest``.
STAMP = r"\[\d\d:\d\d:\d\d\] "


def said(rest: str) -> Callable[[str], bool]:
    """A matcher for the printed message line ``[HH:MM:SS] <rest>``."""
    pattern = re.compile(STAMP + re.escape(rest))
    return lambda line: pattern.fullmatch(line) is not None


def count_said(lines: list[str], rest: str) -> int:
    match = said(rest)
    return sum(1 for line in lines if match(line))


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread() as running:
        yield running


@pytest.fixture
def chat() -> Iterator[Callable[..., WschatProcess]]:
    """Start ``chat URL --user NAME [--password P]`` processes; all are killed at the end.

    WSCHAT_PASSWORD is removed from the environment unless ``env`` gives it.
    """
    started: list[WschatProcess] = []

    def run(
        url: str, user: str, password: str | None = PW, env: dict[str, str | None] | None = None
    ) -> WschatProcess:
        args = ["chat", url, "--user", user]
        if password is not None:
            args += ["--password", password]
        process = WschatProcess(args, env={PASSWORD_ENV: None, **(env or {})})
        started.append(process)
        return process

    yield run
    for process in started:
        process.kill()


async def line(process: WschatProcess, match: Callable[[str], bool] | str) -> str:
    """Wait (in a thread, so the test's own clients keep running) for a printed line."""
    return await asyncio.to_thread(process.stdout.wait_for, match)


async def exit_status(process: WschatProcess) -> int:
    return await asyncio.to_thread(process.wait)


def run_chat(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``chat ARGS`` with an empty, piped standard input; it must end by itself."""
    full_env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    full_env.update(env or {})
    return subprocess.run(
        wschat_command("chat", *args), input="", capture_output=True, text=True,
        encoding="utf-8", timeout=WAIT, env=full_env, check=False,
    )


def one_line_failure(done: subprocess.CompletedProcess[str], status: int) -> str:
    assert done.returncode == status, done
    assert done.stdout == "", done
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wschat chat: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


# --------------------------------------------------------------------------- format_event


def clock(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts))


TS = 1_764_090_000.5
WELCOME = Welcome("ana", "s-1", "e-1", "7", True, ("ana",), "tok")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (Message("1", "ana", None, "oi a todos", TS), f"[{clock(TS)}] ana: oi a todos"),
        (Message("2", "ana", "joao", "oi", TS, "c-1"), f"[{clock(TS)}] ana → joao (privado): oi"),
        (Message("3", "bob", None, "a\x1b[2Jb\x07", TS), f"[{clock(TS)}] bob: a\\x1b[2Jb\\x07"),
        (Message("4", "bob", None, "linha 1\nlinha 2", TS), f"[{clock(TS)}] bob: linha 1\n    linha 2"),
        (Message("5", "bob", None, "tab\taqui", 1e300), "[??:??:??] bob: tab\taqui"),
        (Presence("joao", True), "* joao entrou"),
        (Presence("joao", False), "* joao saiu"),
        (Users(("ana", "joao")), "online: ana, joao"),
        (Users(()), "online: (ninguém)"),
        (Help("Comandos:\n  /who"), "Comandos:\n  /who"),
        (
            History((Message("1", "ana", None, "velha", TS),), more=True),
            f"[{clock(TS)}] ana: velha\n* (há mensagens mais antigas)",
        ),
        (History((), more=False), "* (início do histórico)"),
        (ErrorEvent("unknown_user", "nenhum usuário chamado 'x'"), "! erro unknown_user: nenhum usuário chamado 'x'"),
        (ErrorEvent("too_long", "longo\x1b"), "! erro too_long: longo\\x1b"),
        (Disconnected(1001, "going away"), "* conexão perdida (1001); reconectando…"),
        (Reconnected(WELCOME), "* reconectado (sem perdas)"),
        (Reconnected(Welcome("ana", "s-2", "e-2", None, False, (), "t")), "* reconectado (histórico recarregado)"),
        (TypingNotice("joao"), "* joao está digitando…"),
        (TypingNotice("joao", "ana"), "* joao está digitando… (para você)"),
        (Read("7"), None),
    ],
)
def test_format_event(event: Event, expected: str | None) -> None:
    assert format_event(event) == expected


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "* 0 mensagens não lidas"), (1, "* 1 mensagem não lida"), (42, "* 42 mensagens não lidas"),
     (10_000, "* 10.000+ mensagens não lidas")],
)
def test_format_unread(count: int, expected: str) -> None:
    assert format_unread(count) == expected


# --------------------------------------------------------------------------- chatting


async def test_lines_commands_and_events(
    server: ServerThread, clients: Clients, chat: Callable[..., WschatProcess]
) -> None:
    bob, _ = await clients.login(server.url, "bob", PW)
    ana = chat(server.url, "ana")
    await line(ana, "* conectado como ana; online: ana, bob")
    assert await recv_json(bob) == {"type": "presence", "user": "ana", "online": True}

    # A plain line is a public message.
    ana.write("oi a todos")
    message = await recv_json(bob)
    assert (message["from"], message["to"], message["text"]) == ("ana", None, "oi a todos")
    await line(ana, said("ana: oi a todos"))

    ana.write("/msg bob só para você")
    message = await recv_json(bob)
    assert (message["from"], message["to"], message["text"]) == ("ana", "bob", "só para você")
    await line(ana, said("ana → bob (privado): só para você"))

    ana.write("/who")
    await line(ana, "online: ana, bob")
    ana.write("/help")
    await line(ana, "Comandos:")
    await line(ana, lambda text: text.strip().startswith("/msg NOME TEXTO"))
    ana.write("/nada")
    await line(ana, lambda text: text.startswith("! erro unknown_command: "))
    await expect_silence(bob)  # commands and errors reach nobody else

    # What others do is printed readably.
    await publish(bob, "oi ana")
    await line(ana, said("bob: oi ana"))
    await publish(bob, "psiu", to="ana")
    await line(ana, said("bob → ana (privado): psiu"))
    cid, _ = await clients.login(server.url, "cid", PW)
    await line(ana, "* cid entrou")
    await cid.close()
    await line(ana, "* cid saiu")
    for _ in range(2):
        assert (await recv_json(bob))["type"] == "presence"  # cid came and went

    ana.write("/quit")
    assert await exit_status(ana) == 0
    assert await recv_json(bob) == {"type": "presence", "user": "ana", "online": False}
    out = ana.stdout.all()
    for rest in ("ana: oi a todos", "ana → bob (privado): só para você", "bob: oi ana",
                 "bob → ana (privado): psiu"):
        assert count_said(out, rest) == 1, out
    assert ana.stderr.all() == []


async def test_shows_the_unread_count_marks_what_it_shows_as_read_and_shows_typing(
    server: ServerThread, clients: Clients, chat: Callable[..., WschatProcess]
) -> None:
    tab, welcome = await clients.login(server.url, "ana", PW)  # ana's other session
    bob, _ = await clients.login(server.url, "bob", PW)
    assert await recv_json(tab) == {"type": "presence", "user": "bob", "online": True}
    sent = [await publish(bob, f"m{i}") for i in range(3)]
    for message in sent:
        assert (await recv_json(tab))["id"] == message["id"]
    ana = chat(server.url, "ana")
    await line(ana, "* 3 mensagens não lidas")
    await line(ana, said("bob: m2"))
    # What the terminal showed is read, in every session of ana's. It marks once per burst of
    # events it printed: one notice, the newest, unless the backlog reached it in two bursts
    # (a loaded machine); the position only moves forward and ends at the newest message.
    ids = [message["id"] for message in sent]
    notices = [await recv_json(tab)]
    while notices[-1] != {"type": "read", "id": ids[-1]}:
        assert len(notices) < len(ids), notices
        notices.append(await recv_json(tab))
    marked = [notice["id"] for notice in notices if notice["type"] == "read"]
    assert len(marked) == len(notices) and marked == sorted(marked, key=ids.index), notices
    await expect_silence(tab)
    await send_json(bob, {"type": "typing"})
    await line(ana, "* bob está digitando…")
    ana.write("/quit")
    assert await exit_status(ana) == 0
    _, again = await clients.login(server.url, "ana", token=welcome["token"])
    assert (again["read"], again["unread"]) == (sent[-1]["id"], 0)


async def test_end_of_input_waits_for_what_was_sent(
    server: ServerThread, clients: Clients, chat: Callable[..., WschatProcess]
) -> None:
    bob, _ = await clients.login(server.url, "bob", PW)
    ana = chat(server.url, "ana")
    await line(ana, "* conectado como ana")
    assert (await recv_json(bob))["type"] == "presence"
    ana.write("a última linha")
    ana.close_stdin()
    assert await exit_status(ana) == 0
    message = await recv_json(bob)
    assert (message["from"], message["text"]) == ("ana", "a última linha")
    assert ana.stderr.all() == []


async def test_password_from_the_environment(
    server: ServerThread, clients: Clients, chat: Callable[..., WschatProcess]
) -> None:
    await clients.login(server.url, "ana", PW)  # registers ana: a wrong password would fail
    ana = chat(server.url, "ana", password=None, env={PASSWORD_ENV: PW})
    await line(ana, "* conectado como ana")
    ana.write("/quit")
    assert await exit_status(ana) == 0


async def test_the_browser_address_means_the_chat_endpoint(
    server: ServerThread, chat: Callable[..., WschatProcess]
) -> None:
    # People copy http://HOST:PORT/ from serve's output or the browser; the chat is at /ws.
    ana = chat(server.http_url, "ana")
    await line(ana, "* conectado como ana")
    ana.write("/quit")
    assert await exit_status(ana) == 0


async def test_logout_ends_the_session_and_exits_0(
    server: ServerThread, clients: Clients, chat: Callable[..., WschatProcess]
) -> None:
    bob, _ = await clients.login(server.url, "bob", PW)
    ana = chat(server.url, "ana")
    await line(ana, "* conectado como ana")
    assert (await recv_json(bob))["type"] == "presence"
    ana.write("/logout")
    await line(ana, "* saindo (logout)")
    assert await exit_status(ana) == 0
    assert await recv_json(bob) == {"type": "presence", "user": "ana", "online": False}
    assert ana.stderr.all() == []


async def test_cair_drops_the_connection_and_comes_back_with_what_was_missed(
    server: ServerThread, clients: Clients, chat: Callable[..., WschatProcess]
) -> None:
    bob, _ = await clients.login(server.url, "bob", PW)
    ana = chat(server.url, "ana")
    await line(ana, "* conectado como ana")
    assert (await recv_json(bob))["type"] == "presence"
    ana.write("/help")
    await line(ana, lambda text: text.strip().startswith("/cair"))
    ana.write("/cair")
    await line(ana, "* conexão perdida (1006); reconectando…")
    assert await recv_json(bob) == {"type": "presence", "user": "ana", "online": False}
    assert await recv_json(bob) == {"type": "presence", "user": "ana", "online": True}
    await publish(bob, "de volta?")
    await line(ana, said("bob: de volta?"))
    ana.write("/quit")
    assert await exit_status(ana) == 0
    out = ana.stdout.all()
    assert count_said(out, "bob: de volta?") == 1, out
    assert any(text.startswith("* reconectado") for text in out), out
    assert ana.stderr.all() == []


@pytest.mark.posix_signals
async def test_interrupt_exits_130_without_traceback(
    server: ServerThread, chat: Callable[..., WschatProcess]
) -> None:
    ana = chat(server.url, "ana")
    await line(ana, "* conectado como ana")
    ana.signal(signal.SIGINT)
    assert await exit_status(ana) == 130
    assert not any("Traceback" in text for text in ana.stderr.all())


# --------------------------------------------------------------------------- failures


async def test_refused_login_is_one_line_and_exit_1(server: ServerThread, clients: Clients) -> None:
    await clients.login(server.url, "ana", PW)
    done = await asyncio.to_thread(run_chat, server.url, "--user", "ana", "--password", "errada")
    assert one_line_failure(done, 1).startswith("wschat chat: login recusado (auth_failed)")


def test_unreachable_server_is_one_line_and_exit_1() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"ws://127.0.0.1:{port}/ws"
    done = run_chat(url, "--user", "ana", "--password", PW)
    assert one_line_failure(done, 1) == (
        f"wschat chat: não foi possível conectar a {url}: conexão recusada (o servidor está rodando?)"
    )


async def test_a_bare_local_address_is_plain_ws(
    server: ServerThread, chat: Callable[..., WschatProcess]
) -> None:
    # As a new user types it, from serve's line without the scheme: ws://, not a TLS handshake.
    ana = chat(f"127.0.0.1:{server.port}", "ana")
    await line(ana, "* conectado como ana")
    ana.write("/quit")
    assert await exit_status(ana) == 0
    assert ana.stderr.all() == []


def test_wss_to_a_plain_server_names_tls_and_suggests_ws(server: ServerThread) -> None:
    url = f"wss://127.0.0.1:{server.port}/ws"
    done = run_chat(url, "--user", "ana", "--password", PW)
    assert one_line_failure(done, 1) == (
        f"wschat chat: não foi possível conectar a {url}: o servidor não fala TLS nessa porta: "
        f"tente {server.url}"
    )


def test_ws_to_a_tls_server_suggests_wss(
    serve: Callable[..., ServerThread], tls_files: tuple[str, str]
) -> None:
    certfile, keyfile = tls_files
    tls_server = serve(certfile=certfile, keyfile=keyfile)
    url = f"ws://127.0.0.1:{tls_server.port}/ws"
    done = run_chat(url, "--user", "ana", "--password", PW)
    assert one_line_failure(done, 1) == (
        f"wschat chat: não foi possível conectar a {url}: o servidor fechou a conexão sem "
        f"responder ao handshake; se ele usa TLS nessa porta, tente {tls_server.url}"
    )


def test_another_path_on_the_chat_server_names_its_endpoint(server: ServerThread) -> None:
    url = f"ws://127.0.0.1:{server.port}/chat"
    done = run_chat(url, "--user", "ana", "--password", PW)
    assert one_line_failure(done, 1) == (
        f"wschat chat: não foi possível conectar a {url}: o servidor respondeu HTTP 404 Not "
        f"Found em vez de 101: é um servidor wschat, e o endereço do chat nele é {server.url}"
    )


def test_a_server_that_is_not_a_chat_is_named_in_one_line(replica: Replica) -> None:
    # The replica greets instead of answering the login: no log line besides the failure.
    url = f"ws://127.0.0.1:{replica.port}/ws"
    done = run_chat(f"127.0.0.1:{replica.port}", "--user", "ana", "--password", PW)
    assert one_line_failure(done, 1) == (
        f"wschat chat: não foi possível conectar a {url}: esse servidor não é um chat wschat: "
        f"respondeu ao login com {GREETING!r} (para ver o que um servidor WebSocket manda: "
        f"python -m wschat probe {url})"
    )


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/ws", "ws://", "ws://127.0.0.1:99999/ws"])
def test_bad_url_is_exit_2(url: str) -> None:
    one_line_failure(run_chat(url, "--user", "ana", "--password", PW), 2)


def test_no_password_and_no_terminal_is_exit_2(server: ServerThread) -> None:
    done = run_chat(server.url, "--user", "ana")
    assert PASSWORD_ENV in one_line_failure(done, 2)

    async def account() -> object:
        return await server.chat.store.get_account("ana")

    assert server.call(account) is None  # it did not even connect


# --------------------------------------------------------------------------- reconnection


@pytest.mark.posix_signals
async def test_reconnects_after_a_restart_and_prints_what_was_missed_once(
    clients: Clients, chat: Callable[..., WschatProcess], tmp_path: Path
) -> None:
    db = str(tmp_path / "chat.db")
    started: list[ServeProcess] = []

    def serve(port: int = 0) -> ServeProcess:
        process = ServeProcess("--db", db, cwd=tmp_path, port=port)
        started.append(process)
        return process.ready()

    async def stop(process: ServeProcess) -> None:
        assert await asyncio.to_thread(process.stop, signal.SIGTERM) == 0

    try:
        first = await asyncio.to_thread(serve)
        ana = chat(first.url, "ana")
        await line(ana, "* conectado como ana")
        ana.write("antes")
        await line(ana, said("ana: antes"))

        await stop(first)
        await line(ana, "* conexão perdida (1001); reconectando…")
        # While ana's server is down, bob talks through another server on the same file
        # (so what he sends certainly happens while ana is away), and ana types a line.
        meanwhile = await asyncio.to_thread(serve)
        bob, bob_welcome = await clients.login(meanwhile.url, "bob", PW)
        assert [m["text"] for m in await read_backlog(bob, bob_welcome)] == ["antes"]
        await publish(bob, "enquanto fora")
        await publish(bob, "só para ti", to="ana")
        ana.write("digitado sem conexão")
        await clients.aclose()
        await stop(meanwhile)

        await asyncio.to_thread(serve, first.port)  # the same port and file
        await line(ana, "* reconectado (sem perdas)")
        await line(ana, said("ana: digitado sem conexão"))  # sent once the replay is over
        ana.write("/quit")
        assert await exit_status(ana) == 0
    finally:
        for process in started:
            process.kill()

    out = ana.stdout.all()
    reconnected = out.index("* reconectado (sem perdas)")
    for rest in ("bob: enquanto fora", "bob → ana (privado): só para ti"):
        assert count_said(out, rest) == 1, out
        assert next(i for i, text in enumerate(out) if said(rest)(text)) > reconnected
    for rest in ("ana: antes", "ana: digitado sem conexão"):
        assert count_said(out, rest) == 1, out
    assert ana.stderr.all() == []

    # The log holds the line typed while away exactly once.
    audit = await asyncio.to_thread(serve)
    try:
        bob, welcome = await clients.login(audit.url, "bob", token=bob_welcome["token"])
        texts = [m["text"] for m in await read_backlog(bob, welcome)]
        assert texts == ["antes", "enquanto fora", "só para ti", "digitado sem conexão"]
        await clients.aclose()
    finally:
        audit.kill()
