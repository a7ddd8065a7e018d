"""``python -m wschat serve`` as a real process (wschat/server/run.py and the ``serve`` part of
wschat/cli.py), written from PROTOCOL.md's command-line section.

Each test starts the server with ``--port 0`` in its own temporary folder, waits for the one
line it prints, and talks to it with raw ``websockets`` clients (chatkit) over real sockets.
Nothing waits a fixed time: tests wait for a printed line, a frame, a close or the exit.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme
from chatkit import (
    TIMEOUT,
    Clients,
    expect_close,
    http_get,
    ids,
    login,
    open_ws,
    publish,
    read_backlog,
    recv_json,
    recv_n,
    send_json,
    small_buffer_socket,
)
from servekit import WAIT, ServeProcess, wschat_command
from websockets.exceptions import InvalidStatus

from wschat.core import wire
from wschat.server.run import cannot_listen

#: Stops its processes with POSIX signals (skipped on Windows, see tests/conftest.py).
pytestmark = pytest.mark.posix_signals

PW = "s3nha"

Start = Callable[..., ServeProcess]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """Start ``serve --port 0 ARGS`` (in ``tmp_path`` unless ``cwd`` is given) and wait until
    it prints its line; every process still running at the end is killed."""
    started: list[ServeProcess] = []

    def run(*args: str, cwd: Path = tmp_path, port: int = 0) -> ServeProcess:
        process = ServeProcess(*args, cwd=cwd, port=port)
        started.append(process)
        return process.ready()

    yield run
    for process in started:
        process.kill()


async def stop(server: ServeProcess, sig: signal.Signals = signal.SIGTERM) -> int:
    """Signal the server from a thread (so the test's clients keep running); its exit status."""
    return await asyncio.to_thread(server.stop, sig)


def no_traceback(server: ServeProcess) -> None:
    err = server.stderr.all()
    assert not any("Traceback" in line for line in err), err


def run_serve_to_exit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``serve ARGS`` that must end by itself (a startup error)."""
    return subprocess.run(
        wschat_command("serve", "--port", "0", *args),
        cwd=cwd, capture_output=True, text=True, encoding="utf-8", timeout=WAIT, check=False,
    )


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The process failed with exactly one line on stderr, nothing on stdout, no traceback."""
    assert done.returncode != 0, done
    assert done.stdout == "", done
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("wschat serve: "), done.stderr
    return lines[0]


# --------------------------------------------------------------------------- the printed line


async def test_prints_one_line_once_it_accepts_connections(start: Start, clients: Clients) -> None:
    server = start("--db", ":memory:")
    assert server.port > 0
    assert server.line == f"wschat listening on ws://127.0.0.1:{server.port}/ws"
    # Accepting right after the line: no retry, no wait.
    ana, welcome = await clients.login(server.url, "ana", PW)
    assert welcome["user"] == "ana"
    await publish(ana, "oi")
    await clients.aclose()
    assert await stop(server) == 0
    assert server.stdout.all() == [server.line]  # exactly one line, ever
    err = server.stderr.all()
    assert any("ana" in line for line in err), err  # connections are logged on stderr
    assert not any("Traceback" in line for line in err), err


def test_healthz_and_root_over_http(start: Start) -> None:
    server = start("--db", ":memory:")
    assert http_get(server.http_url + "healthz")[0::2] == (200, b"ok\n")
    status, headers, _ = http_get(server.http_url)
    assert status == 200 and headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("command", ["serve", "replica"])
def test_port_in_use_names_the_port_and_what_to_try(tmp_path: Path, command: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run(
            wschat_command(command, "--port", str(port)),
            cwd=tmp_path, capture_output=True, text=True, encoding="utf-8", timeout=WAIT,
            check=False,
        )
    assert done.returncode == 1 and done.stdout == "", done
    assert done.stderr == (
        f"wschat {command}: port {port} on 127.0.0.1 is already in use by another program: "
        "choose another with --port N, or --port 0 to take a free one\n"
    )
    assert list(tmp_path.iterdir()) == []  # it bound before opening a store: no wschat.db left


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("192.0.2.1", "not an address of this machine; use 127.0.0.1 (this machine only), "
                      "0.0.0.0 (every interface) or one of this machine's addresses"),
        ("bad..host", "not a valid host name"),
    ],
)
def test_a_host_it_cannot_listen_on_is_named(tmp_path: Path, host: str, why: str) -> None:
    # 192.0.2.1 is a documentation address (RFC 5737): never one of this machine's.
    done = run_serve_to_exit("--host", host, "--db", ":memory:", cwd=tmp_path)
    assert one_line_error(done) == f"wschat serve: cannot listen on --host {host}: {why}"


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
         "cannot listen on --host h.invalid: name not found (Name or service not known); use "
         "127.0.0.1 (this machine only), 0.0.0.0 (every interface) or one of this machine's "
         "addresses"),
        (PermissionError(errno.EACCES, "error while attempting to bind on address"),
         "no permission to listen on port 80 of h.invalid (ports below 1024 need administrator "
         "rights): use --port N with N above 1023, or --port 0"),
        (PermissionError(errno.EACCES, "Permission denied", "cert.pem"), None),  # a file's
        (OSError(errno.EIO, "Input/output error"), None),
    ],
)
def test_cannot_listen_names_only_binding_problems(error: OSError, line: str | None) -> None:
    assert cannot_listen(error, "h.invalid", 80) == line


# --------------------------------------------------------------------------- the database


async def test_db_defaults_to_wschat_db_and_a_restart_keeps_everything(
    start: Start, clients: Clients, tmp_path: Path
) -> None:
    first = start()  # no --db: wschat.db in the current folder
    ana, ana_welcome = await clients.login(first.url, "Ana", PW)
    bob, _ = await clients.login(first.url, "bob", "senha-do-bob")
    assert await recv_json(ana) == {"type": "presence", "user": "bob", "online": True}
    public = await publish(ana, "antes do reinício")
    await recv_json(bob)
    private = await publish(bob, "só para a ana", to="ana")
    assert (await recv_json(ana))["id"] == private["id"]
    await clients.aclose()
    assert await stop(first) == 0
    assert (tmp_path / "wschat.db").is_file()

    second = start()
    # The token is still valid, the epoch is the same, and the resume is recovered.
    ana, again = await clients.login(
        second.url, "ana", token=ana_welcome["token"],
        resume={"epoch": ana_welcome["epoch"], "after": public["id"]},
    )
    assert again["epoch"] == ana_welcome["epoch"]
    assert (again["user"], again["recovered"], again["last"]) == ("Ana", True, private["id"])
    assert ids(await read_backlog(ana, again, public["id"])) == [private["id"]]
    # The account and its password are kept: a wrong one is refused, the right one works.
    intruder = await clients.connect(second.url)
    await send_json(intruder, {"type": "login", "user": "bob", "password": "outra"})
    frames = await expect_close(intruder, 4001)
    assert [(f["type"], f["code"]) for f in frames] == [("error", "auth_failed")]
    bob, bob_welcome = await clients.login(second.url, "BOB", "senha-do-bob")
    history = await read_backlog(bob, bob_welcome)
    assert [(m["from"], m["to"], m["text"]) for m in history] == [
        ("Ana", None, "antes do reinício"),
        ("bob", "Ana", "só para a ana"),
    ]
    await clients.aclose()
    assert await stop(second) == 0


async def test_db_memory_keeps_nothing_on_disk(
    start: Start, clients: Clients, tmp_path: Path
) -> None:
    first = start("--db", ":memory:")
    ana, welcome = await clients.login(first.url, "ana", PW)
    await publish(ana, "esquecida")
    await clients.aclose()
    assert await stop(first) == 0
    assert list(tmp_path.iterdir()) == []

    second = start("--db", ":memory:")
    # A new log: another epoch, no history, and the name can be registered again.
    _, again = await clients.login(second.url, "ana", "outra-senha")
    assert again["epoch"] != welcome["epoch"]
    assert again["last"] is None


@pytest.mark.parametrize("case", ["directory", "missing folder", "not a database", "empty"])
def test_bad_db_is_one_line_and_exits_non_zero(tmp_path: Path, case: str) -> None:
    garbage = b"isto n\xc3\xa3o \xc3\xa9 um banco de dados SQLite\n" * 200
    if case == "directory":
        db = str(tmp_path)
    elif case == "missing folder":
        db = str(tmp_path / "nao-existe" / "chat.db")
    elif case == "not a database":
        (tmp_path / "texto.db").write_bytes(garbage)
        db = str(tmp_path / "texto.db")
    else:
        db = ""
    one_line_error(run_serve_to_exit("--db", db, cwd=tmp_path))
    if case == "not a database":
        assert (tmp_path / "texto.db").read_bytes() == garbage  # left exactly as it was
    if case == "missing folder":
        assert not (tmp_path / "nao-existe").exists()


def test_unreachable_redis_is_one_line_and_creates_no_file(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = run_serve_to_exit("--redis", f"redis://127.0.0.1:{port}/0", cwd=tmp_path)
    assert done.returncode != 0
    assert f"127.0.0.1:{port}" in one_line_error(done)
    assert list(tmp_path.iterdir()) == []  # no wschat.db either: Redis is the store


# --------------------------------------------------------------------------- signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
async def test_signal_closes_every_client_with_1001_and_exits_0(
    start: Start, clients: Clients, sig: signal.Signals
) -> None:
    server = start()
    ana1, ana = await clients.login(server.url, "ana", PW)
    ana2, _ = await clients.login(server.url, "ana", token=ana["token"])
    bob, _ = await clients.login(server.url, "bob", PW)
    waiting = await clients.connect(server.url)  # connected, not logged in yet
    for ws in (ana1, ana2):
        assert (await recv_json(ws))["type"] == "presence"
    await publish(bob, "todos online")
    await recv_n(ana1, 1)
    await recv_n(ana2, 1)

    stopping = asyncio.create_task(stop(server, sig))
    for frames in await asyncio.gather(*(expect_close(ws, 1001) for ws in (ana1, ana2, bob, waiting))):
        assert frames == []  # nothing else came before the close
    assert await stopping == 0
    assert server.stdout.all() == [server.line]
    no_traceback(server)


# --------------------------------------------------------------------------- flags


async def test_history_flag_sets_the_window(start: Start, clients: Clients) -> None:
    server = start("--db", ":memory:", "--history", "2")
    ana, welcome = await clients.login(server.url, "ana", PW)
    sent = [await publish(ana, f"m{i}") for i in range(4)]
    tab, again = await clients.login(server.url, "ana", token=welcome["token"])
    assert again["last"] == sent[-1]["id"]
    assert ids(await read_backlog(tab, again)) == ids(sent[-2:])


@pytest.mark.parametrize(("max_replay", "recovered"), [(3, True), (2, False)])
async def test_max_replay_flag(
    start: Start, clients: Clients, max_replay: int, recovered: bool
) -> None:
    server = start("--db", ":memory:", "--max-replay", str(max_replay), "--history", "1")
    ana, welcome = await clients.login(server.url, "ana", PW)
    seen = await publish(ana, "visto")
    missed = [await publish(ana, f"perdida {i}") for i in range(3)]
    tab, again = await clients.login(
        server.url, "ana", token=welcome["token"],
        resume={"epoch": welcome["epoch"], "after": seen["id"]},
    )
    assert again["recovered"] is recovered
    # Three missing: replayed within --max-replay 3; past --max-replay 2, history (1) instead.
    expected = missed if recovered else missed[-1:]
    assert ids(await read_backlog(tab, again, seen["id"])) == ids(expected)


@pytest.mark.parametrize(
    ("level", "logged"), [("info", True), ("warning", False), ("INFO", True), ("Warning", False)]
)
async def test_log_level_flag(start: Start, clients: Clients, level: str, logged: bool) -> None:
    server = start("--db", ":memory:", "--log-level", level)
    await clients.login(server.url, "ana", PW)
    await clients.aclose()
    assert await stop(server) == 0
    err = server.stderr.all()
    if logged:
        assert any("login ana" in text for text in err), err
    else:
        assert err == []


async def test_rate_limit_flag(start: Start, clients: Clients) -> None:
    # --rate-limit 0.5 allows a burst of 1, then one send every 2 s: of 4 sends in a row,
    # exactly one is taken.
    server = start("--db", ":memory:", "--rate-limit", "0.5")
    ana, _ = await clients.login(server.url, "ana", PW)
    for i in range(4):
        await send_json(ana, {"type": "send", "text": f"m{i}", "ref": f"r{i}"})
    frames = await recv_n(ana, 4)
    assert sorted((f["type"], f.get("code")) for f in frames) == [
        ("error", "rate_limited"), ("error", "rate_limited"), ("error", "rate_limited"),
        ("message", None),
    ]


async def test_rate_limit_zero_turns_the_limit_off(start: Start, clients: Clients) -> None:
    server = start("--db", ":memory:", "--rate-limit", "0")
    ana, _ = await clients.login(server.url, "ana", PW)
    count = 250  # well past the default burst of 100
    for i in range(count):
        await send_json(ana, {"type": "send", "text": f"m{i}", "ref": str(i)})
    frames = await recv_n(ana, count, timeout=10)
    assert [(f["type"], f["ref"]) for f in frames] == [("message", str(i)) for i in range(count)]


@pytest.mark.parametrize("bound", [64 * 1024, 1024**3], ids=["small", "large"])
async def test_max_pending_flag_bounds_a_slow_reader(
    start: Start, clients: Clients, bound: int
) -> None:
    server = start("--db", ":memory:", "--rate-limit", "0", "--max-pending", str(bound))
    slow, _ = await clients.login(server.url, "slow", PW, sock=small_buffer_socket(server.port))
    fast, _ = await clients.login(server.url, "fast", PW)
    assert (await recv_json(slow))["user"] == "fast"
    assert slow.transport is not None
    slow.transport.pause_reading()  # the application stops reading

    # About 10 MB, more than the kernel buffers of both ends hold (a few MiB), so the rest
    # waits in the server's own buffer: past a 64 KiB bound, far below a 1 GiB one.
    count = 600
    text = "🙂" * 4000  # 4,000 code points, 16,000 bytes of UTF-8

    async def send_all() -> list[str]:
        return [(await publish(fast, text))["id"] for _ in range(count)]

    sent = await send_all()
    slow.transport.resume_reading()
    if bound == 64 * 1024:
        frames = await expect_close(slow, 4008, timeout=10)
        got = ids(frames)
        assert got == sent[: len(got)] and len(got) < count  # a prefix: no gap, no double
        assert await recv_json(fast) == {"type": "presence", "user": "slow", "online": False}
        online = ["fast"]
    else:
        assert ids(await recv_n(slow, count, timeout=20)) == sent  # kept open, got everything
        online = ["fast", "slow"]
    await send_json(fast, {"type": "who"})  # the server goes on serving the fast reader
    assert await recv_json(fast) == {"type": "users", "online": online}


class DeafPeer:
    """A WebSocket client made by hand (wschat.core.wire) that never answers a ping, which the
    ``websockets`` client always does on its own."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.buffer = b""

    @classmethod
    async def login(cls, port: int, user: str) -> DeafPeer:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(wire.build_handshake_request(f"127.0.0.1:{port}", "/ws", key))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        wire.check_handshake_response(wire.parse_handshake_response(head), key)
        login = json.dumps({"type": "login", "user": user, "password": PW})
        writer.write(wire.encode_frame(wire.Opcode.TEXT, login, mask=os.urandom(4)))
        return cls(reader, writer)

    async def next_frame(self) -> wire.Frame:
        """The next frame from the server (AssertionError after TIMEOUT s or at EOF)."""
        while True:
            try:
                frame, used = wire.decode_frame(self.buffer, expect_masked=False)
            except wire.IncompleteFrame as missing:
                more = await asyncio.wait_for(self.reader.read(missing.needed - missing.have),
                                              TIMEOUT)
                assert more, f"the server closed the TCP connection; buffer {self.buffer!r}"
                self.buffer += more
                continue
            self.buffer = self.buffer[used:]
            return frame

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def test_ping_flags_drop_a_peer_that_does_not_answer(start: Start, clients: Clients) -> None:
    # A ping timeout long enough for a login under load (a ping may come before the welcome).
    server = start("--db", ":memory:", "--ping-interval", "0.2", "--ping-timeout", "1")
    watcher, _ = await clients.login(server.url, "watcher", PW)
    deaf = await DeafPeer.login(server.port, "deaf")
    try:
        # The keepalive runs from the handshake on, so under load a ping may come before the
        # welcome (the login's password hash takes a while): it goes unanswered all the same.
        kinds: list[wire.Opcode] = []
        while (first := await deaf.next_frame()).opcode == wire.Opcode.PING:
            kinds.append(first.opcode)
        assert json.loads(first.text())["type"] == "welcome"
        assert await recv_json(watcher) == {"type": "presence", "user": "deaf", "online": True}
        # A ping comes (the default interval is 20 s, far past the wait), goes unanswered,
        # and the server closes with 1011 once the ping timeout passes.
        while (frame := await deaf.next_frame()).opcode != wire.Opcode.CLOSE:
            kinds.append(frame.opcode)
        assert kinds and set(kinds) == {wire.Opcode.PING}, kinds
        assert wire.parse_close(frame.payload).code == 1011
    finally:
        await deaf.close()
    assert await recv_json(watcher) == {"type": "presence", "user": "deaf", "online": False}
    # The watcher's client answers every ping: it is still connected.
    await send_json(watcher, {"type": "who"})
    assert await recv_json(watcher) == {"type": "users", "online": ["watcher"]}


async def test_allow_origin_flag(start: Start, clients: Clients) -> None:
    allowed = "http://chat.example.test"
    server = start("--db", ":memory:", "--allow-origin", allowed)
    plain = start("--db", ":memory:")
    for url, origin in [
        (server.url, allowed),
        (server.url, None),  # clients that send no Origin are accepted
        (server.url, f"http://127.0.0.1:{server.port}"),  # the server's own origin
    ]:
        ws = await clients.connect(url, origin=origin)
        await send_json(ws, {"type": "login", "user": "ana", "password": PW})
        assert (await recv_json(ws))["type"] == "welcome"
    for url, origin in [(server.url, "http://outro.example.test"), (plain.url, allowed)]:
        with pytest.raises(InvalidStatus) as refused:
            await open_ws(url, origin=origin)
        assert refused.value.response.status_code == 403


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_certfile_and_keyfile_serve_wss(
    start: Start, clients: Clients, tmp_path: Path, ca: trustme.CA
) -> None:
    cert = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(certfile))
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(str(certfile), append=True)
    cert.private_key_pem.write_to_path(str(keyfile))
    server = start("--db", ":memory:", "--certfile", str(certfile), "--keyfile", str(keyfile))
    assert server.line == f"wschat listening on wss://127.0.0.1:{server.port}/ws"

    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    ana, welcome = await clients.login(server.url, "ana", PW, ssl=trusting)
    assert welcome["user"] == "ana"
    await publish(ana, "cifrado")

    def healthz() -> bytes:
        with urllib.request.urlopen(server.http_url + "healthz", context=trusting,
                                    timeout=TIMEOUT) as response:
            body: bytes = response.read()
            return body

    assert await asyncio.to_thread(healthz) == b"ok\n"
    # Really TLS: a client that does not trust the certificate is refused by its own check.
    with pytest.raises(ssl.SSLCertVerificationError):
        await login(server.url, "bob", PW, ssl=ssl.create_default_context())


@pytest.mark.parametrize("given", ["--certfile", "--keyfile"])
def test_certfile_and_keyfile_go_together(tmp_path: Path, given: str) -> None:
    done = run_serve_to_exit("--db", ":memory:", given, str(tmp_path / "x.pem"), cwd=tmp_path)
    assert done.returncode == 2
    one_line_error(done)


@pytest.mark.parametrize("case", ["missing", "not a certificate"])
def test_bad_certificate_is_one_line_and_touches_no_file(tmp_path: Path, case: str) -> None:
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    if case == "not a certificate":
        certfile.write_text("isto não é um certificado\n")
        keyfile.write_text("nem isto uma chave\n")
    before = sorted(tmp_path.iterdir())
    # No --db: the default wschat.db must not be created by a server that cannot start.
    done = run_serve_to_exit("--certfile", str(certfile), "--keyfile", str(keyfile), cwd=tmp_path)
    line = one_line_error(done)
    if case == "missing":
        assert str(certfile) in line  # the user learns which file is missing
    assert sorted(tmp_path.iterdir()) == before


def test_serve_prints_the_ws_line_and_the_address_to_open(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "wschat", "serve", "--port", "0", "--db", str(tmp_path / "c.db")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()  # bounded by the pytest timeout if it never comes
        match = re.fullmatch(r"wschat listening on ws://127\.0\.0\.1:(\d+)/ws\n", first)
        assert match, first
        port = match.group(1)
        hint = ""
        while "in a browser" not in hint:
            hint = process.stderr.readline()
            assert hint, "serve ended before printing the browser address"
        assert f"http://127.0.0.1:{port}/" in hint
        status, headers, body = http_get(f"http://127.0.0.1:{port}/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'data-testid="login-user"' in body
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert out == ""  # stdout held exactly the one line
