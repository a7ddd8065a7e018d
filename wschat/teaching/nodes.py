"""Notebook 05's cluster demonstration: real ``wschat serve --redis`` processes, a reader that
names what it expected, and the nodes' log explained in Portuguese.

A node is started as a child process (``python -m wschat serve --redis URL --port 0``), so that
it can be killed with SIGKILL like a machine pulled from the socket; this module imports no
Redis code, the child does. What a node logs (stderr, in English, as every log of the project)
is kept in :attr:`Node.log` instead of reaching the notebook's output, and
:func:`explain_log` says what each line means to a reader of the notebook.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, TypeVar

from wschat.client.chat_client import ChatClient
from wschat.client.events import Event
from wschat.teaching.redis_server import RedisServer, find_redis_server

__all__ = ["LOG_MEANINGS", "Node", "demo_redis", "explain_log", "next_of", "start_node"]

E = TypeVar("E", bound=Event)


def demo_redis() -> RedisServer | None:
    """A started :class:`RedisServer` for the demonstration, or None when no ``redis-server``
    6.2+ is installed (the notebook then skips the parts that need it).

    Raises :class:`RuntimeError` when none is found under ``CI=true``: there the demonstration
    must run, not be skipped in silence.
    """
    executable = find_redis_server()
    if executable is None:
        if os.environ.get("CI", "").lower() == "true":
            raise RuntimeError("CI=true and no redis-server 6.2+: the demonstration must run in CI")
        return None
    return RedisServer(executable).start()


@dataclass(eq=False)
class Node:
    """One ``wschat serve --redis`` child process: its WebSocket URL, and every line it logged
    (its stderr), in order, as the lines come."""

    process: subprocess.Popen[str]
    url: str
    log: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = field(default=None, repr=False)

    def wait(self, timeout: float = 20.0) -> int:
        """Wait until the process has exited and its log is read to the end; its exit status.

        Raises :class:`subprocess.TimeoutExpired` if it is still running after ``timeout``.
        """
        status = self.process.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
        return status

    def _keep_log(self, stderr: IO[str]) -> None:
        for line in stderr:
            self.log.append(line.rstrip("\n"))


def start_node(redis_url: str, node_ttl: float, timeout: float = 30.0) -> Node:
    """Start one ``wschat serve --redis`` node on a free port and return it once it printed the
    WebSocket URL it listens on. ``node_ttl`` is its heartbeat key's time to live, in seconds.
    The node logs errors only; they go to :attr:`Node.log`, not to this process's stderr.

    Raises :class:`RuntimeError` (and stops the process) if the node exits or prints
    something else instead of ``wschat listening on URL`` within ``timeout`` seconds.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "wschat", "serve", "--redis", redis_url, "--port", "0",
         "--node-ttl", str(node_ttl), "--log-level", "error"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
    )
    node = Node(process, "")
    if process.stderr is not None:
        node._reader = threading.Thread(target=node._keep_log, args=(process.stderr,),
                                        name=f"wschat-node-{process.pid}-log", daemon=True)
        node._reader.start()
    line = _first_line(process, timeout)
    if not line.startswith("wschat listening on "):
        process.kill()
        node.wait(10)
        raise RuntimeError(f"the node did not start: {line!r} {' '.join(node.log)[-400:]}")
    node.url = line.split()[-1]
    return node


#: What the lines a node logs in notebook 05 mean, for its reader: a fragment of the line
#: (logged in English by wschat.cluster and wschat.server) and its meaning in Portuguese.
LOG_MEANINGS: tuple[tuple[str, str], ...] = (
    ("Redis unreachable (tail)",
     "a tarefa que lê o stream perdeu o Redis e tenta de novo, esperando cada vez mais"),
    ("Redis unreachable (heartbeat)",
     "o sinal de vida do nó (heartbeat) não chegou ao Redis; também tenta de novo"),
    ("append failed",
     "não deu para gravar uma mensagem no log; quem a enviou recebeu o erro server_error"),
    ("store error",
     "um pedido ao Redis falhou; a sessão que o fez recebeu o erro server_error"),
    ("store unavailable",
     "o Redis não respondeu durante um login; a conexão foi fechada com server_error"),
)


def explain_log(lines: list[str]) -> list[str]:
    """What ``lines`` (a :attr:`Node.log`) mean, in Portuguese: one sentence per kind of line,
    in the order they first appear. A line of a kind not in :data:`LOG_MEANINGS` is kept as it
    is, marked as not translated."""
    explained: list[str] = []
    for line in lines:
        meaning = next((m for fragment, m in LOG_MEANINGS if fragment in line), None)
        sentence = meaning if meaning is not None else f"(sem tradução) {line}"
        if sentence not in explained:
            explained.append(sentence)
    return explained


def _first_line(process: subprocess.Popen[str], timeout: float) -> str:
    # A bare readline() could block forever on a node that hangs before printing.
    stdout = process.stdout
    if stdout is None:
        return "(no stdout)"
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return lines[0].strip() if lines else f"(nothing within {timeout} s)"


async def next_of(client: ChatClient, kind: type[E], timeout: float = 10.0) -> E:
    """The client's next event, which must be a ``kind``.

    Raises :class:`AssertionError` naming both types if another event comes first, and
    :class:`TimeoutError` if none comes within ``timeout`` seconds.
    """
    event = await client.recv(timeout)
    if not isinstance(event, kind):
        raise AssertionError(f"esperava {kind.__name__}, veio {event!r}")
    return event
