"""``python -m wschat probe``: what it prints, and its exit status, for each outcome."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.asyncio.server import ServerConnection, serve

from wschat import GREETING, Replica
from wschat.cli import build_parser, main
from wschat.server.thread import BackgroundServer
from wschat.teaching.probe import DEFAULT_TIMEOUT
from wschat.teaching.probe.failures import EXIT_CODES

#: Bound on any subprocess here; only reached when a test fails.
WAIT = 20


@contextmanager
def ws_server(handler: Callable[[ServerConnection], Awaitable[None]]) -> Iterator[str]:
    """A websockets server running ``handler`` on a free loopback port; yields its URL."""

    async def run(ready: Callable[[int], None], stop: asyncio.Event) -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            ready(server.sockets[0].getsockname()[1])
            await stop.wait()

    with BackgroundServer(run, host="127.0.0.1", name="test-cli-server") as server:
        yield f"ws://127.0.0.1:{server.port}/"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def run_wschat(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run(
        [sys.executable, "-m", "wschat", *args],
        capture_output=True, text=True, encoding="utf-8", timeout=WAIT, env=env, check=False,
    )


def test_probe_timeout_default_is_the_probe_s_60_s() -> None:
    # A sleeping free host (the test's server is on one) takes up to a minute to wake.
    args = build_parser().parse_args(["probe", "websocket-fh6l.onrender.com"])
    assert args.timeout == DEFAULT_TIMEOUT == 60


def test_the_command_line_defaults_are_the_packages_own() -> None:
    """Each knob is defined once, where its package lives; the command line reads it there,
    so `wschat serve`, `RedisConfig()`, `RedisStore()`, `RedisBus()`, `probe()` and
    `Replica`'s command agree (the same objects, not copies of a value)."""
    import inspect

    from wschat.cluster import redis_defaults as cluster
    from wschat.cluster.redis_bus import RedisBus
    from wschat.cluster.redis_config import RedisConfig
    from wschat.cluster.redis_store import RedisStore
    from wschat.core import defaults as core
    from wschat.server.config import ServerConfig
    from wschat.teaching import replica
    from wschat.teaching.probe import probe

    parser = build_parser()
    serve = parser.parse_args(["serve"])
    assert serve.redis_prefix is cluster.REDIS_PREFIX is RedisConfig("redis://x").prefix
    assert serve.redis_maxlen is cluster.REDIS_MAXLEN is RedisConfig("redis://x").maxlen
    assert serve.redis_max_age is cluster.REDIS_MAX_AGE is RedisConfig("redis://x").max_age
    assert serve.node_ttl is cluster.NODE_TTL is RedisConfig("redis://x").node_ttl
    store = inspect.signature(RedisStore).parameters
    assert store["prefix"].default is cluster.REDIS_PREFIX
    assert store["maxlen"].default is cluster.REDIS_MAXLEN
    assert store["max_age"].default is cluster.REDIS_MAX_AGE
    assert inspect.signature(RedisBus).parameters["node_ttl"].default is cluster.NODE_TTL
    assert not {"REDIS_PREFIX", "REDIS_MAXLEN", "REDIS_MAX_AGE", "NODE_TTL"} & set(vars(core))

    timeout = parser.parse_args(["probe", "x"]).timeout
    assert timeout is DEFAULT_TIMEOUT is inspect.signature(probe).parameters["timeout"].default
    assert parser.parse_args(["replica"]).port is replica.PORT
    assert not {"PROBE_TIMEOUT", "REPLICA_PORT"} & set(vars(core))

    # The server's own knobs: what `serve` passes on is ServerConfig's default.
    config = ServerConfig()
    for option, field in [("host", "host"), ("port", "port"), ("rate_limit", "rate_limit"),
                          ("history", "history"), ("max_replay", "max_replay"),
                          ("max_pending", "max_pending"), ("ping_interval", "ping_interval"),
                          ("ping_timeout", "ping_timeout"), ("drain", "drain")]:
        assert getattr(serve, option) == getattr(config, field), option


def test_probe_as_a_process_prints_the_greeting(replica: Replica) -> None:
    done = run_wschat("probe", replica.url, "--timeout", "5")
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{GREETING}\n", "")


def test_probe_prints_the_greeting(replica: Replica, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", replica.url, "--timeout", "5"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (f"{GREETING}\n", "")


def test_json_lines_parse(replica: Replica, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", replica.url, "--json", "--timeout", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["type"] == "text"
    assert record["data"] == GREETING
    assert 0 <= record["elapsed"] < 5


def test_count_prints_that_many_lines(capsys: pytest.CaptureFixture[str]) -> None:
    async def four(connection: ServerConnection) -> None:
        for n in range(4):
            await connection.send(f"mensagem {n}")
        await connection.wait_closed()

    with ws_server(four) as url:
        assert main(["probe", url, "--count", "3", "--timeout", "5"]) == 0
    assert capsys.readouterr().out == "mensagem 0\nmensagem 1\nmensagem 2\n"


def test_fewer_messages_than_count_still_succeeds(
    replica: Replica, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["probe", replica.url, "--count", "2", "--timeout", "0.3"]) == 0
    assert capsys.readouterr().out == f"{GREETING}\n"


def test_send(capsys: pytest.CaptureFixture[str]) -> None:
    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(f"eco: {message!r}")

    with ws_server(echo) as url:
        assert main(["probe", url, "--send", "ping", "--timeout", "5"]) == 0
    assert capsys.readouterr().out == "eco: 'ping'\n"


def test_binary_messages(capsys: pytest.CaptureFixture[str]) -> None:
    async def binary(connection: ServerConnection) -> None:
        await connection.send(b"\x00\x01\xfe")
        await connection.wait_closed()

    with ws_server(binary) as url:
        assert main(["probe", url, "--timeout", "5"]) == 0
        assert capsys.readouterr().out == "<binary 3 bytes: 0001fe>\n"
        assert main(["probe", url, "--timeout", "5", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["type"] == "binary"
    assert base64.b64decode(record["data"]) == b"\x00\x01\xfe"


def test_closed_port_as_a_process_is_one_line_without_traceback() -> None:
    port = closed_port()
    url = f"ws://127.0.0.1:{port}/"
    done = run_wschat("probe", url, "--timeout", "5")
    assert done.returncode == 4
    assert done.stdout == ""
    assert done.stderr == f"wschat probe: connection refused by 127.0.0.1:{port} ({url})\n"
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.posix_signals
def test_interrupt_is_one_line_and_exit_130() -> None:
    connected = threading.Event()

    async def silent(connection: ServerConnection) -> None:
        connected.set()
        await connection.wait_closed()

    with ws_server(silent) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "wschat", "probe", url, "--timeout", "30"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert connected.wait(WAIT), "the probe never connected"
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=WAIT)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 130
    assert (out, err) == ("", "wschat probe: interrupted\n")


@pytest.mark.parametrize(
    ("server", "status", "cause"),
    [
        ("silent", 6, "timed out after 0.3 s during the wait for the first message"),
        ("closes", 8, "closed the connection before any message: close code 4000"),
    ],
)
def test_failure_kinds_have_their_own_status(
    server: str, status: int, cause: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async def silent(connection: ServerConnection) -> None:
        await connection.wait_closed()

    async def closes(connection: ServerConnection) -> None:
        await connection.close(4000, "não")

    with ws_server(silent if server == "silent" else closes) as url:
        assert main(["probe", url, "--timeout", "0.3"]) == status
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("wschat probe: ") and cause in err
    assert err.count("\n") == 1


def test_http_status_instead_of_101(capsys: pytest.CaptureFixture[str]) -> None:
    # An HTTP server that is not a WebSocket endpoint: a bare socket answering 404.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        assert main(["probe", f"ws://127.0.0.1:{port}/", "--timeout", "5"]) == 7
    finally:
        thread.join(WAIT)
        listener.close()
    err = capsys.readouterr().err
    assert err == (
        f"wschat probe: HTTP 404 Not Found instead of 101 Switching Protocols "
        f"(ws://127.0.0.1:{port}/)\n"
    )


def test_offline_mode_blocks_outside_hosts(capsys: pytest.CaptureFixture[str]) -> None:
    # conftest sets WSCHAT_OFFLINE=1: the test server's real name must not be contacted.
    assert main(["probe", "websocket-fh6l.onrender.com", "--timeout", "5"]) == 9
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "WSCHAT_OFFLINE=1" in err


@pytest.mark.parametrize("url", ["ftp://example.com/", "", "ws://exa mple.com/", "ws://h:99999/"])
def test_invalid_url_exits_2(url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", url]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("wschat probe: invalid URL: ")
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "option",
    [
        ["--timeout", "0"], ["--timeout", "-1"], ["--timeout", "abc"], ["--timeout", "nan"],
        ["--timeout", "inf"], ["--count", "0"], ["--count", "-2"], ["--count", "1.5"],
        ["--count", "x"],
    ],
)
def test_bad_option_values_are_rejected_by_argparse(
    option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["probe", "ws://127.0.0.1:1/", *option])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option[0]}" in err
    assert "Traceback" not in err


def test_serve_redis_without_redis_py_names_the_extra(tmp_path: Path) -> None:
    """redis-py is an extra: without it, ``serve --redis`` says which one, in one line."""
    code = (
        "import sys; sys.modules['redis'] = None\n"  # as if redis-py were not installed
        "from wschat.cli import main\n"
        "sys.exit(main(['serve', '--redis', 'redis://127.0.0.1:1/0', '--port', '0']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "wschat serve: --redis needs the redis extra: pip install 'wschat[redis]'"
    ]


@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--port", "70000", "a port is 0-65535"), ("--port", "-1", "a port is 0-65535"),
        ("--port", "x", "not a whole number"), ("--drain", "-1", "must be 0 or more"),
        ("--drain", "inf", "must be 0 or more"), ("--rate-limit", "nan", "must be 0 or more"),
        ("--history", "-1", "must be 0 or more"), ("--history", "2.5", "not a whole number"),
        ("--max-pending", "0", "must be 1 or more"), ("--node-ttl", "0", "must be a positive number"),
        ("--ping-timeout", "abc", "not a number"),
    ],
)
def test_serve_number_options_say_what_is_wrong(
    option: str, value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["serve", option, value])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"python -m wschat serve: error: argument {option}: {why}: {value!r}"
    )


def test_number_options_take_their_edges() -> None:
    args = build_parser().parse_args(
        ["serve", "--port", "0", "--drain", "0", "--rate-limit", "0.5", "--history", "0",
         "--max-pending", "1", "--node-ttl", "0.01"]
    )
    assert (args.port, args.drain, args.rate_limit, args.history, args.max_pending,
            args.node_ttl) == (0, 0.0, 0.5, 0, 1, 0.01)
    assert isinstance(args.port, int) and isinstance(args.drain, float)
    assert build_parser().parse_args(["replica", "--port", "65535"]).port == 65535


def test_probe_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["probe", "--help"])
    text = capsys.readouterr().out
    listed = text[text.index("exit status:"):]
    flat = " ".join(listed.split())  # summaries may wrap
    for code, (_kind, summary) in EXIT_CODES.items():
        assert f" {code} {summary}" in flat, code
    assert {0, 2, 130, 10} <= set(EXIT_CODES)


@pytest.mark.parametrize("command", ["probe", "chat"])
def test_help_says_what_a_bare_host_means(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    flat = " ".join(capsys.readouterr().out.split())
    assert "A bare host means wss://HOST/, or ws://HOST/ when it is this machine or the local" in flat
