"""Run ``python -m wschat ...`` as a real subprocess and follow what it prints.

Used by the tests of ``serve`` and of the terminal ``chat`` client. Output is read by
daemon threads into queues as it comes, so a test waits for an event (a line that matches,
the process's exit) with a timeout that only bounds a failure, and a process that logs a lot
never blocks on a full pipe.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

__all__ = ["WAIT", "LineReader", "ServeProcess", "WschatProcess", "wschat_command"]

#: Bound on anything a subprocess should do promptly; only reached when a test fails.
WAIT = 20.0

LISTENING = re.compile(r"wschat listening on (?P<scheme>wss?)://(?P<host>[^:/]+):(?P<port>\d+)/ws")


def wschat_command(*args: str) -> list[str]:
    """The command line of ``python -m wschat ARGS`` with this interpreter."""
    return [sys.executable, "-m", "wschat", *args]


class LineReader:
    """Reads a text stream line by line in a daemon thread; lines wait in a queue."""

    def __init__(self, stream: IO[str], name: str) -> None:
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []  # every line taken from the queue so far, without "\n"
        self._ended = False
        self._thread = threading.Thread(target=self._pump, args=(stream,), name=name, daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                self._lines.put(line.rstrip("\n"))
        except (OSError, ValueError):
            pass
        finally:
            self._lines.put(None)

    def next_line(self, timeout: float = WAIT) -> str | None:
        """The next line, or None at the end of the stream. AssertionError on timeout."""
        if self._ended:
            return None
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line within {timeout} s; so far: {self.seen!r}") from None
        if line is None:
            self._ended = True
            return None
        self.seen.append(line)
        return line

    def wait_for(self, match: Callable[[str], bool] | str, timeout: float = WAIT) -> str:
        """Skip lines until one matches (a predicate, or a string the line must contain)."""
        test = match if callable(match) else (lambda line: match in line)
        deadline = time.monotonic() + timeout
        while True:
            line = self.next_line(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"stream ended without a matching line; got {self.seen!r}")
            if test(line):
                return line

    def rest(self, timeout: float = WAIT) -> list[str]:
        """Every remaining line up to the end of the stream (the process must close it)."""
        deadline = time.monotonic() + timeout
        start = len(self.seen)
        while self.next_line(max(0.0, deadline - time.monotonic())) is not None:
            pass
        return self.seen[start:]

    def all(self, timeout: float = WAIT) -> list[str]:
        """Every line of the stream, once it has ended."""
        self.rest(timeout)
        return list(self.seen)


class WschatProcess:
    """``python -m wschat ARGS`` with stdin, stdout and stderr piped; killed if left running.

    ``env`` adds variables to this process's environment (a None value removes one);
    ``launcher`` replaces ``-m wschat`` (``("-c", SCRIPT)``: a script that ends in
    ``wschat.cli.main``, for a fault injected into a real ``serve`` process).
    """

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str | None] | None = None,
        launcher: Sequence[str] = ("-m", "wschat"),
    ) -> None:
        full_env = {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}
        for name, value in (env or {}).items():  # None removes a variable
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        self.process = subprocess.Popen(
            [sys.executable, *launcher, *args],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stdout = LineReader(self.process.stdout, "wschat-stdout")
        self.stderr = LineReader(self.process.stderr, "wschat-stderr")

    def write(self, line: str) -> None:
        """Type one line on the process's standard input."""
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(line + "\n")
        stdin.flush()

    def close_stdin(self) -> None:
        stdin = self.process.stdin
        if stdin is not None and not stdin.closed:
            stdin.close()

    def signal(self, sig: signal.Signals) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float = WAIT) -> int:
        """The exit status, once the process ends. AssertionError on timeout."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running after {timeout} s; stdout {self.stdout.seen!r}, "
                f"stderr {self.stderr.seen!r}"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.close_stdin()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.kill()


class ServeProcess(WschatProcess):
    """``python -m wschat serve --port 0 ARGS``; :meth:`ready` waits for its one line."""

    def __init__(
        self, *args: str, cwd: Path, port: int = 0, launcher: Sequence[str] = ("-m", "wschat")
    ) -> None:
        super().__init__(["serve", "--port", str(port), *args], cwd=cwd, launcher=launcher)
        self.line = ""
        self.port = 0
        self.scheme = ""

    def ready(self, timeout: float = WAIT) -> Self:
        """Wait for ``wschat listening on ws://HOST:PORT/ws`` (the first line on stdout)."""
        line = self.stdout.next_line(timeout)
        if line is None:
            self.wait()
            raise AssertionError(
                f"serve exited {self.process.returncode} before listening: {self.stderr.all()!r}"
            )
        found = LISTENING.fullmatch(line)
        assert found is not None, f"unexpected first line {line!r}"
        self.line = line
        self.port = int(found["port"])
        self.scheme = found["scheme"]
        return self

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}/ws"

    @property
    def http_url(self) -> str:
        return f"{'https' if self.scheme == 'wss' else 'http'}://127.0.0.1:{self.port}/"

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = WAIT) -> int:
        """Send ``sig`` and return the exit status."""
        self.signal(sig)
        return self.wait(timeout)
