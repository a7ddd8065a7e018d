"""The compiled fan-out (wschat/server/_fanout.c): it compiles cleanly, and what it relies on
in the event loops still holds on the installed asyncio and uvloop.

The direct ``send()`` of ``_fanout.put_each`` (docs/decisions.md, "The fan-out's inner loop in
C") relies on two things that no public API promises:

- the plain TCP transports are the private classes named in
  ``wschat.server.writer._PLAIN_TRANSPORTS`` (asyncio's ``_SelectorSocketTransport``, uvloop's
  ``TCPTransport``), with a ``socket`` extra whose ``fileno()`` is the connection's descriptor;
  if a release renames them, ``direct_fd`` silently gives -1 and the C loop loses its point;
- a transport reports ``is_closing()`` before its descriptor is closed, whichever way it ends
  (``close()``, ``abort()``, the peer's reset): the C loop sends only while ``is_closing()`` is
  False, so that the number cannot belong to another connection yet. If a release closed the
  descriptor first, a direct send could write one client's bytes into another's socket.

Each is checked here on real loopback connections, so an upgrade that breaks one fails here.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import socket
import struct
import subprocess
import sysconfig
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import cast

import pytest

from wschat.server.writer import _PLAIN_TRANSPORTS

SOURCE = Path(__file__).resolve().parents[2] / "wschat" / "server" / "_fanout.c"

try:
    import uvloop
except ImportError:  # Windows, or the test extra not installed: asyncio's loop only
    uvloop = None  # type: ignore[assignment]

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.SelectorEventLoop}
if uvloop is not None:
    LOOPS["uvloop"] = uvloop.new_event_loop


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _compiler() -> list[str] | None:
    """The C compiler this Python builds extensions with (sysconfig's CC), else ``cc``."""
    configured = shlex.split(sysconfig.get_config_var("CC") or "")
    if configured and shutil.which(configured[0]):
        return configured
    return [found] if (found := shutil.which("cc")) else None


@pytest.mark.skipif(os.name != "posix", reason="the compiled fan-out is built on POSIX only")
def test_fanout_c_compiles_with_every_warning_as_an_error(tmp_path: Path) -> None:
    compiler = _compiler()
    if compiler is None:
        reason = ("NO C COMPILER: wschat/server/_fanout.c was NOT compiled with -Wall -Wextra"
                  " -Werror (install gcc or clang)")
        if _ci():
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    command = [*compiler, "-Wall", "-Wextra", "-Werror", "-fPIC",
               "-I", sysconfig.get_paths()["include"], "-c", str(SOURCE),
               "-o", str(tmp_path / "_fanout.o")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{shlex.join(command)}\n{done.stderr}"


class _Server(asyncio.Protocol):
    """The accepting side: keeps the transport of each connection it is handed."""

    def __init__(self, accepted: asyncio.Queue[asyncio.Transport]) -> None:
        self.accepted = accepted

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods
        self.accepted.put_nowait(cast(asyncio.Transport, transport))


async def _one_connection() -> tuple[asyncio.Transport, socket.socket, asyncio.Server]:
    """A loopback TCP connection: the server's transport, the client's plain socket, and the
    server (to close)."""
    accepted: asyncio.Queue[asyncio.Transport] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Server(accepted), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = socket.socket()
    client.setblocking(False)
    await loop.sock_connect(client, ("127.0.0.1", port))
    return await asyncio.wait_for(accepted.get(), 10), client, server


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _run(loop: str, scenario: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), 30)

    with asyncio.Runner(loop_factory=LOOPS[loop]) as runner:
        runner.run(bounded())


@pytest.mark.parametrize("loop", LOOPS)
def test_the_plain_tcp_transport_is_the_class_the_direct_send_expects(loop: str) -> None:
    async def scenario() -> None:
        transport, client, server = await _one_connection()
        try:
            kind = f"{type(transport).__module__}.{type(transport).__qualname__}"
            assert kind in _PLAIN_TRANSPORTS, (
                f"{loop}'s TCP transport is now {kind}: update writer._PLAIN_TRANSPORTS and"
                " check that _fanout.c's assumptions (docs/decisions.md) still hold for it")
            fd = transport.get_extra_info("socket").fileno()
            with socket.socket(fileno=os.dup(fd)) as same:  # the connection's own socket
                assert same.getpeername() == client.getsockname()
            assert transport.is_closing() is False and transport.get_write_buffer_size() == 0
        finally:
            transport.close()
            client.close()
            server.close()

    _run(loop, scenario)


async def _end_by_reset(transport: asyncio.Transport, client: socket.socket) -> None:
    # SO_LINGER 0: the client's close sends RST; the server's loop meets it on its next read.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


async def _end_by_close(transport: asyncio.Transport, client: socket.socket) -> None:
    transport.close()


async def _end_by_abort(transport: asyncio.Transport, client: socket.socket) -> None:
    transport.abort()


ENDINGS = {"close": _end_by_close, "abort": _end_by_abort, "peer reset": _end_by_reset}


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("loop", LOOPS)
def test_a_transport_is_closing_before_its_descriptor_is_closed(loop: str, ending: str) -> None:
    async def scenario() -> None:
        transport, client, server = await _one_connection()
        try:
            fd = transport.get_extra_info("socket").fileno()
            assert _is_open(fd) and not transport.is_closing()
            await ENDINGS[ending](transport, client)
            if ending != "peer reset":
                # The call itself sets the flag, and the descriptor is closed later.
                assert transport.is_closing() and _is_open(fd)
            # Every turn of the loop until the descriptor is gone: whenever it is closed,
            # the transport already says it is closing.
            while _is_open(fd):
                await asyncio.sleep(0)
            assert transport.is_closing()
        finally:
            client.close()
            server.close()

    _run(loop, scenario)
