"""No task dies silently: faults injected into a real server, seen over real sockets.

Each test breaks one step of the server on purpose (an ``append`` that raises, a fan-out that
raises, a write that raises for one session of a burst, a flusher, a keepalive or a drain
that raises, a writer that fails every time) and checks what docs/decisions.md ("Task
failures") promises: the senders get ``server_error`` with their ``ref``, a session that may
have missed a frame is closed with 1011 and loses nothing by resuming, nobody else loses
anything, the failure is counted in ``/metrics``, and the process says the truth about itself:
it goes on after one bad batch, and after a failure it cannot survive it stops loudly
(``/healthz`` 503, ``ServerThread`` raising ``ServerCrashed``, ``serve`` exiting 1).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from chatkit import (
    Clients,
    Frame,
    expect_close,
    expect_silence,
    http_get,
    ids,
    login,
    publish,
    read_backlog,
    recv_json,
    send_json,
)
from servekit import ServeProcess
from threadkit import Boom, failing_once, on_loop, resume, scrape
from websockets.asyncio.client import ClientConnection

from wschat.core.model import Draft
from wschat.server import app, writer
from wschat.server.http import route
from wschat.server.thread import ServerCrashed, ServerThread
from wschat.server.writer import put_each_py
from wschat.store import Appended

PW = "s3nha"

Serve = Callable[..., ServerThread]


def failures(server: ServerThread, task: str) -> float:
    return scrape(server)[f"wschat_task_failures_total{{task={task}}}"]


def healthz(server: ServerThread) -> tuple[int, bytes]:
    status, _, body = http_get(server.http_url + "healthz")
    return status, body.strip()


def failing_append(server: ServerThread, times: int | None, *, after: bool = False) -> Callable[[], None]:
    """A change that makes the store's ``append`` raise ``times`` times (None: always);
    ``after``: raise once the drafts are committed (the outcome a writer cannot know)."""
    store = server.chat.store
    real = store.append
    left = [times]

    async def append(drafts: Sequence[Draft]) -> list[Appended]:
        if left[0] is not None:
            if left[0] == 0:
                return await real(drafts)
            left[0] -= 1
        if after:
            await real(drafts)
        raise Boom("injected into append")

    def change() -> None:
        store.append = append  # type: ignore[method-assign]

    return change


async def two(clients: Clients, server: ServerThread) -> tuple[ClientConnection, Frame, ClientConnection, Frame]:
    ana, ana_w = await clients.login(server.url, "ana", PW)
    bob, bob_w = await clients.login(server.url, "bob", PW)
    assert await recv_json(ana) == {"type": "presence", "user": "bob", "online": True}
    return ana, ana_w, bob, bob_w


# --------------------------------------------------------------------------- one bad batch


async def test_an_append_that_raises_once_answers_its_senders_and_the_server_goes_on(
    serve: Serve, clients: Clients
) -> None:
    server = serve(rate_limit=0)
    ana, _, bob, bob_w = await two(clients, server)
    before = await publish(ana, "antes")
    assert ids([await recv_json(bob)]) == [before["id"]]

    await on_loop(server, failing_append(server, 1))
    await send_json(ana, {"type": "send", "text": "durante", "ref": "r-1"})
    error = await recv_json(ana)
    assert (error["type"], error["code"], error["ref"]) == ("error", "server_error", "r-1")
    await expect_silence(bob)  # nothing stored, nothing delivered, nobody closed
    assert await asyncio.to_thread(failures, server, "writer") == 1
    assert await asyncio.to_thread(healthz, server) == (200, b"ok")

    echo = await publish(ana, "durante", ref="r-1")  # the client's resend: stored now, once
    assert ids([await recv_json(bob)]) == [echo["id"]]
    fresh, welcome = await clients.login(server.url, "carol", PW)
    assert [m["text"] for m in await read_backlog(fresh, welcome)] == ["antes", "durante"]
    assert bob_w["user"] == "bob"


async def test_an_append_that_raises_after_committing_makes_every_session_resume(
    serve: Serve, clients: Clients
) -> None:
    """Whether a failed append committed is unknown to the writer: the bus checks the log, and
    since it moved, every session is closed with 1011; resuming, each gets it exactly once."""
    server = serve(rate_limit=0)
    ana, ana_w, bob, bob_w = await two(clients, server)
    before = await publish(ana, "antes")
    assert ids([await recv_json(bob)]) == [before["id"]]

    await on_loop(server, failing_append(server, 1, after=True))
    await send_json(ana, {"type": "send", "text": "gravada", "ref": "r-2"})
    frames = await expect_close(ana, 1011)
    assert [(f["code"], f["ref"]) for f in frames] == [("server_error", "r-2")]
    assert await expect_close(bob, 1011) == []
    assert await asyncio.to_thread(failures, server, "writer") == 1

    ana, ana_replay = await resume(clients, server.url, ana_w, before["id"])
    bob, bob_replay = await resume(clients, server.url, bob_w, before["id"])
    assert await recv_json(ana) == {"type": "presence", "user": "bob", "online": True}
    assert [m["text"] for m in ana_replay] == [m["text"] for m in bob_replay] == ["gravada"]
    echo = await publish(ana, "gravada", ref="r-2")  # the resend gets the original, not a copy
    assert echo["id"] == ana_replay[0]["id"]
    await expect_silence(bob)


async def test_a_fan_out_that_raises_answers_its_sender_and_every_session_resumes(
    serve: Serve, clients: Clients
) -> None:
    server = serve(rate_limit=0)
    ana, ana_w, bob, bob_w = await two(clients, server)
    before = await publish(ana, "antes")
    assert ids([await recv_json(bob)]) == [before["id"]]
    router = server.chat.router
    await on_loop(server, lambda: setattr(router, "_route", failing_once(router._route)))

    await send_json(ana, {"type": "send", "text": "perdida?", "ref": "r-3"})
    frames = await expect_close(ana, 1011)
    assert [(f["code"], f["ref"]) for f in frames] == [("server_error", "r-3")]
    assert await expect_close(bob, 1011) == []  # who got what is unknown: nobody is trusted
    assert await asyncio.to_thread(failures, server, "writer") == 1
    assert await asyncio.to_thread(healthz, server) == (200, b"ok")

    # The entry was committed: each resumes from the last id it saw and gets it once.
    ana, ana_replay = await resume(clients, server.url, ana_w, before["id"])
    bob, bob_replay = await resume(clients, server.url, bob_w, before["id"])
    assert await recv_json(ana) == {"type": "presence", "user": "bob", "online": True}
    assert [m["text"] for m in ana_replay] == [m["text"] for m in bob_replay] == ["perdida?"]
    echo = await publish(ana, "perdida?", ref="r-3")  # the client's resend: the original
    assert echo["id"] == ana_replay[0]["id"]
    await expect_silence(bob)


@pytest.mark.parametrize("impl", ["compiled", "pure"])
async def test_a_write_that_raises_for_one_session_closes_it_alone(
    serve: Serve, clients: Clients, impl: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if impl == "pure":
        monkeypatch.setattr(writer, "put_each", put_each_py)
    elif not writer.COMPILED:
        pytest.skip("the compiled fan-out was not built")
    server = serve(rate_limit=0)
    names = ["ana", "carol", "bob", "dave"]  # bob's write comes in the middle of the burst
    sockets = {}
    welcomes = {}
    for name in names:
        sockets[name], welcomes[name] = await clients.login(server.url, name, PW)
    for i, name in enumerate(names):
        for other in names[i + 1:]:
            assert (await recv_json(sockets[name]))["user"] == other
    sessions = server.chat.sessions

    def break_bob() -> None:
        [victim] = sessions.roster.sessions_of("bob")
        victim.ws.transport = FailingTransport(victim.ws.transport)  # type: ignore[assignment]

    await on_loop(server, break_bob)
    echo = await publish(sockets["ana"], "para todos")
    for name in ("carol", "dave"):  # written all the same, before and after bob
        assert ids([await recv_json(sockets[name])]) == [echo["id"]]
    got_live = ids(await expect_close(sockets["bob"], 1011))
    assert got_live in ([], [echo["id"]])  # the C loop fails before the send, Python after
    assert await asyncio.to_thread(failures, server, "writer") == 1
    assert await asyncio.to_thread(healthz, server) == (200, b"ok")

    bob_w = welcomes["bob"]
    after = got_live[-1] if got_live else None
    if after is None:  # bob had seen nothing yet: a plain reconnect gets the history
        bob, again = await clients.login(server.url, "bob", token=bob_w["token"])
        replay = await read_backlog(bob, again)
    else:
        bob, replay = await resume(clients, server.url, bob_w, after)
    assert got_live + ids(replay) == [echo["id"]]  # once, in all
    # The others saw bob go and come back, and nothing else.
    assert [await recv_json(sockets["carol"]) for _ in range(2)] == [
        {"type": "presence", "user": "bob", "online": online} for online in (False, True)]
    await expect_silence(sockets["carol"])


class FailingTransport:
    """A connection's transport whose buffer size cannot be read once: both loops check it
    for every write (C before its direct send, Python after the write)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failures = 1

    def get_write_buffer_size(self) -> int:
        if self.failures:
            self.failures -= 1
            raise Boom("transport broke")
        return int(self.inner.get_write_buffer_size())

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_failing_keepalive_closes_its_connection_alone(
    serve: Serve, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve()
    ana, _ = await clients.login(server.url, "ana", PW)

    async def broken_keepalive(*args: Any) -> None:
        raise Boom("injected into keepalive")

    monkeypatch.setattr(app, "keepalive", broken_keepalive)
    victim = await clients.connect(server.url)
    await expect_close(victim, 1011)
    monkeypatch.undo()
    assert await asyncio.to_thread(failures, server, "keepalive") == 1
    await publish(ana, "ainda aqui")  # everyone else is served
    assert await asyncio.to_thread(healthz, server) == (200, b"ok")


# --------------------------------------------------------------------------- fatal failures


def test_once_failed_healthz_and_new_websockets_get_503_failed() -> None:
    common: dict[str, Any] = {"origin": None, "host": "127.0.0.1", "secure": False, "allowed": ()}
    for draining in (False, True):  # a failure during a drain says so too
        healthz_reply = route("/healthz", upgrade=False, draining=draining, failed=True, **common)
        websocket = route("/ws", upgrade=True, draining=draining, failed=True, **common)
        for reply in (healthz_reply, websocket):
            assert reply is not None
            assert (reply.status, reply.body) == (HTTPStatus.SERVICE_UNAVAILABLE, "failed\n")


async def test_a_writer_that_fails_every_time_stops_the_server_loudly(
    serve: Serve, clients: Clients, tmp_path: Path
) -> None:
    db = str(tmp_path / "chat.db")
    server = serve(db=db, rate_limit=0, close_timeout=5)
    ana, _, bob, _ = await two(clients, server)
    kept = await publish(ana, "antes")
    assert ids([await recv_json(bob)]) == [kept["id"]]
    # A connection that never answers a close: the shutdown waits for it (close_timeout),
    # which leaves time to see what /healthz says meanwhile.
    laggard = await clients.connect(server.url)
    assert laggard.transport is not None
    laggard.transport.pause_reading()

    await on_loop(server, failing_append(server, None))
    for n in range(1, 3):
        await send_json(ana, {"type": "send", "text": f"falha {n}", "ref": f"r-{n}"})
        error = await recv_json(ana)
        assert (error["code"], error["ref"]) == ("server_error", f"r-{n}")
    assert await asyncio.to_thread(failures, server, "writer") == 2
    await send_json(ana, {"type": "send", "text": "falha 3", "ref": "r-3"})
    frames = await expect_close(ana, 1011)  # the third in a row: the server stops
    assert [(f["code"], f["ref"]) for f in frames] == [("server_error", "r-3")]
    await expect_close(bob, 1011)
    assert await asyncio.to_thread(healthz, server) == (503, b"failed")
    with pytest.raises(ServerCrashed, match="the writer task failed: Boom: injected") as crash:
        await asyncio.to_thread(server.join, 30)
    assert crash.value.__cause__ is not None
    assert "wschat_task_failures_total{task=\"writer\"} 3.0" in server.chat.metrics.render().decode()
    with pytest.raises(ServerCrashed):
        server.url  # noqa: B018 - the property raises: nothing can connect to a dead server

    # Nothing acknowledged was lost, nothing refused was stored.
    again = serve(db=db)
    fresh, welcome = await clients.login(again.url, "carol", PW)
    assert [m["text"] for m in await read_backlog(fresh, welcome)] == ["antes"]


async def test_a_flusher_that_raises_stops_the_server_and_a_restart_loses_nothing(
    serve: Serve, clients: Clients, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "FLUSH_CHUNK", 1)  # a broadcast to 2 sessions needs the flusher
    db = str(tmp_path / "chat.db")
    server = serve(db=db, rate_limit=0)
    names = ["ana", "bob", "carol"]
    sockets, welcomes = {}, {}
    for name in names:
        sockets[name], welcomes[name] = await clients.login(server.url, name, PW)
    for i, name in enumerate(names):
        for other in names[i + 1:]:
            assert (await recv_json(sockets[name]))["user"] == other
    before = await publish(sockets["ana"], "antes")  # the flusher still works
    for name in ("bob", "carol"):
        assert ids([await recv_json(sockets[name])]) == [before["id"]]
    chat_outbox = server.chat.outbox

    def boom() -> int:
        raise Boom("injected into the flusher")

    await on_loop(server, lambda: setattr(chat_outbox, "_flush_some", boom))
    echo = await publish(sockets["ana"], "para todos")  # bob is written at once, carol later
    assert ids([await recv_json(sockets["bob"])]) == [echo["id"]]
    assert await expect_close(sockets["carol"], 1011) == []  # it never came live
    with pytest.raises(ServerCrashed, match="the flusher task failed: Boom"):
        await asyncio.to_thread(server.join, 30)
    assert 'task_failures_total{task="flusher"} 1.0' in server.chat.metrics.render().decode()

    again = serve(db=db, port=server.port)  # the same place: carol's client resumes there
    _, replay = await resume(clients, again.url, welcomes["carol"], before["id"])
    assert ids(replay) == [echo["id"]]


async def test_a_drain_that_raises_still_closes_everyone_and_stop_says_so(
    serve: Serve, clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve()
    ana, _ = await clients.login(server.url, "ana", PW)

    async def broken_drain(*args: Any) -> None:
        raise Boom("injected into the drain")

    monkeypatch.setattr(app, "stop_serving", broken_drain)
    stopping = asyncio.create_task(asyncio.to_thread(server.stop))
    await expect_close(ana, 1001)  # the fallback: everyone at once
    with pytest.raises(ServerCrashed, match="the drain task failed: Boom"):
        await stopping


FAULTY_SERVE = """
import sys
from wschat.store.sqlite import SQLiteStore

async def append(self, drafts):
    raise RuntimeError("disco em chamas")

SQLiteStore.append = append
from wschat.cli import main
sys.exit(main(sys.argv[1:]))
"""


async def test_serve_whose_writer_cannot_go_on_exits_1_with_one_line(tmp_path: Path) -> None:
    server = await asyncio.to_thread(lambda: ServeProcess(
        "--db", ":memory:", "--rate-limit", "0", cwd=tmp_path,
        launcher=("-c", FAULTY_SERVE)).ready())
    try:
        ws, _ = await login(server.url, "ana", PW)
        for n in range(2):  # one batch each
            await send_json(ws, {"type": "send", "text": "oi", "ref": f"r-{n}"})
            assert (await recv_json(ws))["ref"] == f"r-{n}"
        await send_json(ws, {"type": "send", "text": "oi", "ref": "r-2"})
        frames = await expect_close(ws, 1011)
        assert [(f["code"], f["ref"]) for f in frames] == [("server_error", "r-2")]
        assert await asyncio.to_thread(server.wait) == 1
        stderr = await asyncio.to_thread(server.stderr.all)
        assert stderr[-1] == "wschat serve: stopped: the writer task failed: RuntimeError: disco em chamas"
        assert any(line.startswith("Traceback") for line in stderr)  # logged where it happened
    finally:
        await asyncio.to_thread(server.kill)

