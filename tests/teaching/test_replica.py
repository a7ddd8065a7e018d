"""The replica behaves as the test's server is known to: one greeting, no echo, stays open."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack
from typing import IO

import pytest
from websockets.protocol import State
from websockets.sync.client import connect

from wschat import GREETING, Replica
from wschat.teaching.probe import probe

#: How long "nothing more arrives" is watched for.
QUIET = 0.3

#: Bound on waits that only a failing test reaches.
WAIT = 20


def test_greeting_text() -> None:
    assert GREETING == "Olá mundo! LTIS 2025"


def test_sends_exactly_one_message(replica: Replica) -> None:
    result = probe(replica.url, timeout=QUIET, count=2)
    assert [m.data for m in result.messages] == [GREETING]
    assert not result.messages[0].binary
    assert result.timed_out  # waited for a second message that never came


def test_does_not_echo_and_stays_open(replica: Replica) -> None:
    with connect(replica.url, open_timeout=WAIT) as ws:
        assert ws.recv(timeout=WAIT) == GREETING
        ws.send("ping")
        with pytest.raises(TimeoutError):
            ws.recv(timeout=QUIET)
        assert ws.state is State.OPEN
        ws.close(1000)
        # The replica answered our close frame with 1000: a clean close.
        assert (ws.close_code, ws.close_reason) == (1000, "")


def test_every_client_is_greeted(replica: Replica) -> None:
    with ExitStack() as stack:
        clients = [stack.enter_context(connect(replica.url, open_timeout=WAIT)) for _ in range(4)]
        assert [client.recv(timeout=WAIT) for client in clients] == [GREETING] * 4


def test_url(replica: Replica) -> None:
    assert replica.url == f"ws://127.0.0.1:{replica.port}/"
    assert replica.port > 0


def read_line(stream: IO[str], timeout: float) -> str:
    """The next line of ``stream``, or AssertionError after ``timeout`` seconds."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        raise AssertionError(f"no line within {timeout} s") from None


@pytest.mark.posix_signals
def test_replica_command_announces_serves_and_stops_on_sigint() -> None:
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    process = subprocess.Popen(
        [sys.executable, "-m", "wschat", "replica", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", env=env,
    )
    try:
        assert process.stdout is not None
        line = read_line(process.stdout, WAIT)
        match = re.fullmatch(r"wschat replica listening on (ws://127\.0\.0\.1:(\d+)/)\n", line)
        assert match, line
        assert int(match[2]) > 0  # --port 0 printed the real port
        result = probe(match[1], timeout=WAIT)
        assert [m.data for m in result.messages] == [GREETING]
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0
    assert "Traceback" not in err
