"""Notebook 02_pratica: it runs top to bottom offline, and what its cells leave behind holds.

Each ``check_*`` function runs in the notebook's kernel after the notebook (tests/nbkit.py):
its parameters name the notebook's variables. The notebook keeps the few visible ``assert``s
that state its lessons; everything else its text relies on is checked here, including every
statement of docs/jupyter-and-asyncio.md, in a real Jupyter kernel on each Python. The
notebook stops its replica at the end, so checks that need a server start their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbkit import Run

NOTEBOOK = "02_pratica"
PATH = Path(__file__).resolve().parents[2] / "notebooks" / f"{NOTEBOOK}.ipynb"


def test_runs_without_errors(notebook_run: Run) -> None:
    assert notebook_run.errors() == []


def test_check(notebook_run: Run, check: Any) -> None:
    notebook_run.assert_held(check)


def test_the_script_in_the_prose_is_the_five_line_answer() -> None:
    notebook = nbformat.read(PATH, as_version=4)
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    script = (
        'import websocket\n\nURL = "wss://websocket-fh6l.onrender.com/"\n'
        "ws = websocket.create_connection(URL, timeout=60)\nprint(ws.recv())\nws.close()\n"
    )
    assert f"```python\n{script}```" in prose


def test_the_browser_client_is_six_lines_of_javascript() -> None:
    notebook = nbformat.read(PATH, as_version=4)
    prose = "\n".join(c.source for c in notebook.cells if c.cell_type == "markdown")
    block = prose.split("```javascript\n", 1)[1].split("```", 1)[0]
    lines = block.strip().splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("const ws = new WebSocket(") and "ws.onmessage" in block


def test_every_exercise_has_a_hidden_solution_that_calls_its_checker() -> None:
    notebook = nbformat.read(PATH, as_version=4)
    hidden = [c for c in notebook.cells if "solucao" in c.metadata.get("tags", [])]
    assert len(hidden) == 4
    for cell in hidden:
        assert cell.metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
        assert "verificar_" in cell.source


# ----------------------------------------------------------------------------- the script


def check_the_script_read_the_greeting(message: str, replica: Any, origin: str) -> None:
    from wschat import GREETING

    if replica is not None:  # the replica checks what the reports describe, not the real server
        assert origin == "(réplica local)"
        assert message == GREETING == "Olá mundo! LTIS 2025"
        assert not replica.running  # stopped after the last read


def check_the_greeting_handler_shown_is_the_replicas_own(handler_source: str) -> None:
    import inspect

    from wschat.teaching.replica import handle_connection, serve_replica

    assert handler_source == inspect.getsource(handle_connection)
    assert "handle_connection" in inspect.getsource(serve_replica)  # the function served
    assert len(handler_source.strip().splitlines()) <= 10  # a few lines a reader can take in


# ------------------------------------------------------------------------------ the probe


def check_the_probe_of_the_bare_host_gave_a_result_or_one_named_error(
    real: Any, real_error: Any, progress: list[str], URL: str
) -> None:
    import time

    from wschat import ProbeError, is_offline, probe
    from wschat.core.urls import normalize_url
    from wschat.teaching.probe_ptbr import MEANINGS

    assert normalize_url("websocket-fh6l.onrender.com") == URL  # the bare host is the script's URL
    assert (real is None) != (real_error is None)  # a result or an error, never both
    assert len(progress) <= 1  # at most one notice, never a flood
    if real_error is not None:
        assert real_error.kind in MEANINGS  # the notebook printed its meaning in Portuguese
    if is_offline():
        assert real_error is not None and real_error.kind == "offline"
        assert progress == []  # refused at once: no notice
        started = time.monotonic()
        try:
            probe("websocket-fh6l.onrender.com")
        except ProbeError as error:
            assert error.kind == "offline"
        assert time.monotonic() - started < 3  # refused without waiting


def check_the_probe_read_the_greeting(result: Any, message: str) -> None:
    from wschat import GREETING

    assert message == GREETING
    assert [m.data for m in result.messages] == [message]
    assert not result.messages[0].binary


def check_the_server_does_not_echo(echo_test: Any) -> None:
    assert echo_test.timed_out  # the timeout, not count=2, ended the read


def check_the_command_line_printed_the_message_and_one_line_failures(
    ok: Any, bad: Any, message: str
) -> None:
    assert ok.returncode == 0 and ok.stdout.strip() == message
    assert bad.returncode == 4  # connection refused
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("wschat probe: connection refused by 127.0.0.1:")


# ------------------------------------------------------------------- the websockets clients


def check_both_websockets_clients_read_the_greeting(sync_message: str, async_message: str,
                                                    message: str) -> None:
    assert sync_message == async_message == message


def check_the_sync_client_reads_in_a_thread_of_its_own_and_pings_every_20_s() -> None:
    import inspect
    import threading

    from websockets.sync.client import connect

    from wschat import GREETING, Replica

    with Replica() as replica:
        before = threading.active_count()
        with connect(replica.url, open_timeout=10) as connection:
            inside = threading.active_count()
            assert connection.recv(timeout=10) == GREETING
    assert inside > before  # the synchronous client reads the network in a thread of its own
    assert inspect.signature(connect).parameters["ping_interval"].default == 20


# ----------------------------------------------- docs/jupyter-and-asyncio.md, in a real kernel
# These run last, in this order: the last one patches asyncio for the whole kernel.


async def check_asyncio_run_fails_in_a_cell_and_await_or_to_thread_work() -> None:
    import asyncio

    import websocket
    from websockets.asyncio.client import connect

    from wschat import GREETING, Replica

    async def read_once(address: str) -> str:
        async with connect(address, open_timeout=10) as connection:
            return await connection.recv(decode=True)

    def read_blocking(address: str) -> str:
        ws = websocket.create_connection(address, timeout=10)
        try:
            greeting = ws.recv()
            assert isinstance(greeting, str)
            return greeting
        finally:
            ws.close()

    with Replica() as replica:
        coroutine = read_once(replica.url)
        try:
            asyncio.run(coroutine)
        except RuntimeError as error:
            assert str(error) == "asyncio.run() cannot be called from a running event loop"
        else:
            raise AssertionError("asyncio.run() worked inside the kernel's running loop")
        finally:
            coroutine.close()
        assert await read_once(replica.url) == GREETING
        assert await asyncio.to_thread(read_blocking, replica.url) == GREETING


async def check_nest_asyncio_patches_the_whole_kernel() -> None:
    import asyncio
    import importlib.metadata
    import inspect
    import sys

    import nest_asyncio
    from websockets.asyncio.client import connect

    from wschat import GREETING, Replica

    async def read_once(address: str) -> str:
        async with connect(address, open_timeout=10) as connection:
            return await connection.recv(decode=True)

    def read_once_sync(address: str) -> str:
        return asyncio.run(read_once(address))

    run_before = inspect.signature(asyncio.run)
    nest_asyncio.apply()
    with Replica() as replica:
        assert read_once_sync(replica.url) == GREETING  # asyncio.run now works inside the loop
    assert asyncio.run.__module__ == "nest_asyncio"  # asyncio.run of the whole kernel replaced
    assert getattr(type(asyncio.get_running_loop()), "_nest_patched", False)  # the loop's class, not one object
    run_after = inspect.signature(asyncio.run)
    if sys.version_info >= (3, 12):  # the argument the replacement lacks
        assert "loop_factory" in run_before.parameters
        assert "loop_factory" not in run_after.parameters
        coroutine = asyncio.sleep(0)
        try:
            asyncio.run(coroutine, loop_factory=asyncio.new_event_loop)  # type: ignore[call-arg]
        except TypeError:
            pass
        else:
            raise AssertionError("the patched asyncio.run accepted loop_factory")
        finally:
            coroutine.close()
    else:  # on 3.11, the default of debug changes
        assert run_before.parameters["debug"].default is None
        assert run_after.parameters["debug"].default is False
    assert importlib.metadata.version("nest_asyncio") == "1.6.0"  # the last release
    kernel = importlib.metadata.version("ipykernel")
    needs = [r for r in importlib.metadata.requires("ipykernel") or [] if r.startswith("nest")]
    if tuple(int(part) for part in kernel.split(".")[:2]) >= (7, 3):
        assert any(r.startswith("nest-asyncio2") for r in needs)  # ipykernel 7.3+ uses the fork
