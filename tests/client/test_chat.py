"""ChatClient against the real server (ServerThread on 127.0.0.1), and one fake server.

Synchronisation is by events only: a test waits for the event that proves a step happened
(``until``), and a reconnect that must wait for the test is held on an ``asyncio.Event``.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection, serve

from wschat.client.chat_client import ChatClient, ClientClosed, ConnectionLost, LoginError
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
    parse_event,
)
from wschat.core.names import name_key
from wschat.server.thread import ServerThread

pytestmark = pytest.mark.timeout(30)

Make = Callable[..., Awaitable[ChatClient]]


# --------------------------------------------------------------------------- helpers


def said(text: str) -> Callable[[Event], bool]:
    return lambda event: isinstance(event, Message) and event.text == text


def is_a(kind: type) -> Callable[[Event], bool]:
    return lambda event: isinstance(event, kind)


async def until(client: ChatClient, done: Callable[[Event], bool], timeout: float = 10) -> list[Event]:
    """Every event up to and including the first one for which ``done`` is true."""
    seen: list[Event] = []
    async with asyncio.timeout(timeout):
        while True:
            event = await client.recv()
            seen.append(event)
            if done(event):
                return seen


def texts(events: list[Event]) -> list[str]:
    return [e.text for e in events if isinstance(e, Message)]


def hold_reconnects(client: ChatClient) -> asyncio.Event:
    """Make ``client`` wait for the returned event before each reconnect attempt."""
    gate = asyncio.Event()

    async def wait(attempt: int) -> None:
        await gate.wait()

    client._wait_before_retry = wait  # type: ignore[method-assign]
    return gate


async def on_server(server: ServerThread, user: str, action: Callable[[Any], None]) -> None:
    """Run ``action(transport)`` on the server's side of each of ``user``'s connections."""

    async def run() -> None:
        for session in list(server.chat.sessions.roster.sessions_of(name_key(user))):
            action(session.ws.transport)

    await asyncio.to_thread(server.call, run)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(rate_limit=0, history=10) as running:
        yield running


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    """Connected clients (fast backoff), closed at the end of the test."""
    made: list[ChatClient] = []

    async def factory(url: str, user: str, password: str | None = None, **kwargs: Any) -> ChatClient:
        kwargs.setdefault("backoff", (0.01, 0.05))
        client = ChatClient(url, user, password if password is not None else f"pw-{user}", **kwargs)
        made.append(client)
        await client.connect()
        return client

    yield factory
    for client in made:
        await client.close()


# --------------------------------------------------------------------------- basics


async def test_connect_logs_in_and_returns_welcome(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "Ana")
    welcome = ana.welcome
    assert isinstance(welcome, Welcome)
    assert welcome.user == "Ana"
    assert welcome.online == ("Ana",)
    assert welcome.last is None and welcome.recovered is False
    assert welcome.token and ana.token == welcome.token
    assert ana.epoch == welcome.epoch
    assert ana.connected


async def test_close_ends_with_1000_and_records_it(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    await ana.close()
    assert ana.close_code == 1000 and not ana.connected
    with pytest.raises(ClientClosed):
        await ana.recv(timeout=1)


async def test_public_reaches_everyone_private_only_sender_and_recipient(
    server: ServerThread, make: Make
) -> None:
    ana, joao, bia = [await make(server.url, name) for name in ("ana", "joao", "bia")]
    ref = await ana.send("oi a todos")
    mine = (await until(ana, said("oi a todos")))[-1]
    assert isinstance(mine, Message) and mine.ref == ref and mine.to is None
    for other in (joao, bia):
        theirs = (await until(other, said("oi a todos")))[-1]
        assert theirs == Message(mine.id, "ana", None, "oi a todos", mine.ts, None)

    ref = await ana.private("joao", "só pra você")
    got = (await until(joao, said("só pra você")))[-1]
    assert isinstance(got, Message) and got.to == "joao" and got.private and got.ref is None
    echo = (await until(ana, said("só pra você")))[-1]
    assert isinstance(echo, Message) and echo.ref == ref
    # bia gets messages in log order: if the private one reached her, it comes before this.
    await ana.send("fim")
    assert texts(await until(bia, said("fim"))) == ["fim"]


async def test_who_lists_online_users(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    await make(server.url, "joao")
    ref = await ana.who()
    answer = (await until(ana, is_a(Users)))[-1]
    assert answer == Users(("ana", "joao"), ref)
    assert ana.unacknowledged == ()


async def test_command_lines_are_sent_as_typed(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    joao = await make(server.url, "joao")
    await ana.send("/msg joao psiu")
    got = (await until(joao, said("psiu")))[-1]
    assert isinstance(got, Message) and got.to == "joao"
    await ana.send("/help")
    assert isinstance((await until(ana, is_a(Help)))[-1], Help)
    ref = await ana.help()  # the command line /help: PROTOCOL.md has no JSON help frame
    answer = (await until(ana, is_a(Help)))[-1]
    assert isinstance(answer, Help) and answer.ref == ref and "/msg" in answer.text
    ref = await ana.send("/msg ninguem oi")
    error = (await until(ana, is_a(ErrorEvent)))[-1]
    assert error == ErrorEvent("unknown_user", "nenhum usuário chamado 'ninguem'", ref)
    assert await ana.wait_acknowledged(5)


async def test_history_pages_back_without_moving_last_id(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    sent = [f"m{i}" for i in range(5)]
    for text in sent:
        await ana.send(text)
    await until(ana, said("m4"))
    last_id = ana.last_id

    pages: list[History] = []
    before = None
    while True:
        ref = await ana.history(before=before, limit=2)
        page = (await until(ana, is_a(History)))[-1]
        assert isinstance(page, History) and page.ref == ref
        pages.append(page)
        if not page.more:
            break
        before = page.messages[0].id
    assert [len(p.messages) for p in pages] == [2, 2, 1]
    assert [m.text for p in reversed(pages) for m in p.messages] == sent
    assert ana.last_id == last_id


async def test_login_backlog_sets_last_id(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    for text in ("um", "dois"):
        await ana.send(text)
    await until(ana, said("dois"))
    joao = await make(server.url, "joao")
    assert joao.welcome is not None and joao.welcome.last == ana.last_id
    assert texts(await until(joao, said("dois"))) == ["um", "dois"]
    assert joao.last_id == ana.last_id


async def test_connection_refused_at_connect_raises_at_once() -> None:
    client = ChatClient(f"ws://127.0.0.1:{free_port()}/ws", "ana", "pw")
    with pytest.raises(OSError):
        await client.connect()
    assert not client.connected


# --------------------------------------------------------------------------- login, logout


async def test_wrong_password_raises_login_error_and_does_not_retry(
    server: ServerThread, make: Make
) -> None:
    await make(server.url, "ana", "right")
    client = ChatClient(server.url, "ana", "wrong", backoff=(0.01, 0.05))
    with pytest.raises(LoginError) as refused:
        await client.connect()
    assert refused.value.code == "auth_failed"
    assert refused.value.detail
    assert client.close_code == 4001
    assert not client.connected
    assert client._task is None  # nothing runs in the background: no reconnect


async def test_logout_closes_with_1000_revokes_token_and_does_not_reconnect(
    server: ServerThread, make: Make
) -> None:
    ana = await make(server.url, "ana")
    joao = await make(server.url, "joao")
    token = ana.token
    await ana.logout()
    assert ana.close_code == 1000
    assert not ana.connected and ana.token is None
    rest = [event async for event in ana]  # the iteration ends instead of reconnecting
    assert not any(isinstance(e, (Disconnected, Reconnected)) for e in rest)
    with pytest.raises(ClientClosed):
        await ana.send("depois do logout")

    assert (await until(joao, is_a(Presence)))[-1] == Presence("ana", False)
    ref = await joao.who()
    assert (await until(joao, is_a(Users)))[-1] == Users(("joao",), ref)
    again = ChatClient(server.url, "ana", token=token)
    with pytest.raises(LoginError) as refused:
        await again.connect()
    assert refused.value.code == "auth_failed"


async def test_token_login_gets_the_same_token(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    tab = await make(server.url, "ana", token=ana.token, password=None)
    assert tab.welcome is not None and tab.welcome.token == ana.token


# --------------------------------------------------------------------------- reconnect


async def test_reconnect_after_restart_resumes_with_token_and_no_gap(tmp_path: Any, make: Make) -> None:
    db = str(tmp_path / "chat.db")
    first = ServerThread(db=db, rate_limit=0).start()
    second: ServerThread | None = None
    try:
        ana = await make(first.url, "ana")
        bia = await make(first.url, "bia")
        gate = hold_reconnects(ana)
        await bia.send("antes")
        await until(ana, said("antes"))

        await asyncio.to_thread(first.stop)  # closes every connection with 1001
        dropped = (await until(ana, is_a(Disconnected)))[-1]
        assert dropped == Disconnected(1001, dropped.reason)  # type: ignore[union-attr]
        assert not ana.connected

        second = ServerThread(db=db, port=first.port, rate_limit=0).start()
        await until(bia, is_a(Reconnected))
        meanwhile = [f"durante {i}" for i in range(5)]
        for text in meanwhile:
            await bia.send(text)
        await until(bia, said(meanwhile[-1]))

        ana.password = None  # the reconnect must work with the token alone
        gate.set()
        events = await until(ana, said(meanwhile[-1]))
        assert isinstance(events[0], Reconnected)
        assert events[0].welcome.recovered is True
        assert texts(events) == meanwhile  # each once, in order: duplicates would show here
        assert not any(isinstance(e, Users) for e in events)  # the barrier stays internal

        await bia.send("depois")
        assert texts(await until(ana, said("depois"))) == ["depois"]
    finally:
        # Stop from another thread: this loop must stay free to answer the close handshake.
        await asyncio.to_thread(first.stop)
        if second is not None:
            await asyncio.to_thread(second.stop)


async def test_unacknowledged_and_offline_sends_are_published_once(
    server: ServerThread, make: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[str] = []
    original = ClientConnection.send

    async def spy(self: ClientConnection, message: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(message, str):
            written.append(message)
        await original(self, message, *args, **kwargs)

    monkeypatch.setattr(ClientConnection, "send", spy)
    ana = await make(server.url, "ana")
    bia = await make(server.url, "bia")
    gate = hold_reconnects(ana)
    await bia.send("antes")  # ana has seen an id, so she can resume
    await until(ana, said("antes"))
    await until(bia, said("antes"))
    assert ana._ws is not None
    client_side = ana._ws.transport

    # 1. taken: the server publishes it, but ana never reads the answer.
    client_side.pause_reading()
    taken = await ana.send("taken")
    await until(bia, said("taken"))
    # 2. lost: written to the socket, never read by the server.
    await on_server(server, "ana", lambda transport: transport.pause_reading())
    lost = await ana.send("lost")
    await on_server(server, "ana", lambda transport: transport.abort())
    client_side.abort()
    await until(ana, is_a(Disconnected))
    assert set(ana.unacknowledged) == {taken, lost}
    # 3. offline: sent while disconnected.
    offline = await ana.send("offline")

    gate.set()
    events = await until(ana, said("offline"))
    assert isinstance(events[0], Reconnected) and events[0].welcome.recovered
    # "taken" comes in the replay (without its ref: refs never come in a backlog); the
    # server's answer to its resend acknowledges it and is not shown a second time.
    assert texts(events) == ["taken", "lost", "offline"]
    assert [e.ref for e in events if isinstance(e, Message)] == [None, lost, offline]
    assert await ana.wait_acknowledged(5)
    assert ana.last_id == events[-1].id  # type: ignore[union-attr]

    await ana.send("fim")
    assert texts(await until(bia, said("fim"))) == ["lost", "offline", "fim"]
    page_ref = await bia.history(limit=50)
    page = (await until(bia, is_a(History)))[-1]
    assert isinstance(page, History) and page.ref == page_ref
    assert [m.text for m in page.messages] == ["antes", "taken", "lost", "offline", "fim"]

    def times_written(ref: str) -> int:
        return sum(1 for frame in written if json.loads(frame).get("ref") == ref)

    # Both unanswered sends are resent with their refs; the server stored each once.
    assert (times_written(taken), times_written(lost), times_written(offline)) == (2, 2, 1)
    assert ana._protocol.outbox.remembered == 0  # nothing kept once nothing waits


async def test_a_send_taken_before_a_drop_is_acknowledged_by_its_resend_and_shown_once(
    server: ServerThread, make: Make
) -> None:
    """The drop happens after the server stored the send but before its answer arrived. The
    replay brings the message (without ref); the resend after the backlog is answered with the
    original, which acknowledges the send and is not yielded again."""
    ana = await make(server.url, "ana")
    bia = await make(server.url, "bia")
    await bia.send("antes")
    await until(ana, said("antes"))
    assert ana._ws is not None
    ana._ws.transport.pause_reading()  # the answer will wait unread in the socket
    ref = await ana.send("no meio da queda")
    stored = (await until(bia, said("no meio da queda")))[-1]
    assert isinstance(stored, Message)
    back = asyncio.Event()
    ana.cut(until=back)  # from this side: the server could not read a drop request in time
    assert ana.unacknowledged == (ref,)
    back.set()
    events = await until(ana, said("no meio da queda"))
    assert isinstance(events[0], Disconnected)
    assert isinstance(events[1], Reconnected) and events[1].welcome.recovered
    assert texts(events) == ["no meio da queda"]
    replayed = events[-1]
    assert isinstance(replayed, Message) and replayed.id == stored.id and replayed.ref is None
    assert await ana.wait_acknowledged(5)  # the answer to the resend came back
    await bia.send("depois")
    # Nothing between: the answer was not yielded as a second message.
    assert texts(await until(ana, said("depois"))) == ["depois"]
    assert ana.last_id == (await until(bia, said("depois")))[-1].id  # type: ignore[union-attr]
    page_ref = await bia.history()
    page = (await until(bia, is_a(History)))[-1]
    assert isinstance(page, History) and page.ref == page_ref
    assert [m.text for m in page.messages] == ["antes", "no meio da queda", "depois"]


async def test_an_answer_to_a_resend_not_yielded_before_is_yielded(make: Make) -> None:
    """After a reconnect that gets history instead of a replay (here: more missed messages
    than --max-replay), the original may be outside that history: the resend's answer is then
    the first time the caller sees it, and it is yielded, with its ref."""
    server = ServerThread(rate_limit=0, history=1, max_replay=1).start()
    try:
        ana = await make(server.url, "ana")
        bia = await make(server.url, "bia")
        await bia.send("antes")
        await until(ana, said("antes"))
        assert ana._ws is not None
        ana._ws.transport.pause_reading()
        ref = await ana.send("aceita, mas fora do histórico")
        await until(bia, said("aceita, mas fora do histórico"))
        back = asyncio.Event()
        ana.cut(until=back)
        for text in ("depois 1", "depois 2"):
            await bia.send(text)
        await until(bia, said("depois 2"))
        back.set()
        events = await until(ana, said("aceita, mas fora do histórico"))
        assert isinstance(events[0], Disconnected)
        assert isinstance(events[1], Reconnected) and not events[1].welcome.recovered
        assert texts(events) == ["depois 2", "aceita, mas fora do histórico"]
        assert events[-1].ref == ref  # type: ignore[union-attr]
        assert await ana.wait_acknowledged(5)
    finally:
        await asyncio.to_thread(server.stop)


async def test_refused_token_falls_back_to_the_password(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    old = ana.token
    tab = await make(server.url, "ana", token=old, password=None)
    await tab.logout()  # revokes the token both sessions share
    await on_server(server, "ana", lambda transport: transport.abort())
    events = await until(ana, is_a(Reconnected))
    assert isinstance(events[0], Disconnected) and events[0].code == 1006
    assert ana.connected and ana.token not in (None, old)


async def test_refused_token_without_password_ends_with_login_error(
    server: ServerThread, make: Make
) -> None:
    ana = await make(server.url, "ana")
    tab = await make(server.url, "ana", token=ana.token, password=None)
    await tab.logout()
    ana.password = None
    await on_server(server, "ana", lambda transport: transport.abort())
    seen: list[Event] = []
    with pytest.raises(LoginError) as refused:
        async for event in ana:
            seen.append(event)
    assert refused.value.code == "auth_failed"
    assert [type(e) for e in seen] == [Disconnected]
    assert ana.close_code == 4001 and not ana.connected


async def test_no_reconnect_when_disabled(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana", reconnect=False)
    await on_server(server, "ana", lambda transport: transport.abort())
    with pytest.raises(ConnectionLost) as lost:
        await until(ana, lambda e: False)
    assert lost.value.code == 1006


async def test_drop_cuts_like_a_network_failure_and_resumes_when_released(
    server: ServerThread, make: Make
) -> None:
    ana = await make(server.url, "ana")
    bia = await make(server.url, "bia")
    await bia.send("antes")
    await until(ana, said("antes"))

    attempts: list[int] = []
    wait_before_retry = ana._wait_before_retry

    async def counted(attempt: int) -> None:
        attempts.append(attempt)
        await wait_before_retry(attempt)

    ana._wait_before_retry = counted  # type: ignore[method-assign]

    back = asyncio.Event()
    await ana.drop(until=back)  # the server cuts the TCP connection, with no close frame
    assert ana.close_code == 1006
    assert (await until(ana, is_a(Disconnected)))[-1] == Disconnected(1006, "")
    assert (await until(bia, is_a(Presence)))[-1] == Presence("ana", False)
    with pytest.raises(RuntimeError, match="no open connection"):
        await ana.drop()

    await bia.send("fora")
    away = (await until(bia, said("fora")))[-1]
    assert isinstance(away, Message)
    # The reader went from Disconnected straight to waiting: without the hold it would have
    # started its first retry before this task ran again.
    assert attempts == [] and not ana.connected
    back.set()
    events = await until(ana, said("fora"))
    # Held until released: "fora" was in the log before ana came back, so it is replay.
    assert isinstance(events[0], Reconnected)
    assert events[0].welcome.recovered is True and events[0].welcome.last == away.id
    assert texts(events) == ["fora"]
    assert attempts == [0]
    assert (await until(bia, is_a(Presence)))[-1] == Presence("ana", True)


# --------------------------------------------------------------------------- read position, typing


async def test_mark_read_syncs_every_session_and_welcome_counts_unread(
    server: ServerThread, make: Make
) -> None:
    ana = await make(server.url, "ana")
    assert (ana.read, ana.unread) == (None, 0)
    assert ana.welcome is not None and (ana.welcome.read, ana.welcome.unread) == (None, 0)
    tab = await make(server.url, "ana", token=ana.token)
    bia = await make(server.url, "bia")
    for text in ("um", "dois", "três"):
        await bia.send(text)
    got = [e for e in await until(ana, said("três")) if isinstance(e, Message)]
    await until(tab, said("três"))
    await ana.mark_read(got[1].id)
    for client in (ana, tab):  # every session of the user, the sending one included
        assert (await until(client, is_a(Read)))[-1] == Read(got[1].id)
        assert client.read == got[1].id
    await ana.mark_read(got[0].id)  # older: nothing comes back, nothing waits in the outbox
    assert ana.unacknowledged == ()
    later = await make(server.url, "ana", token=ana.token)
    assert (later.read, later.unread) == (got[1].id, 1)
    assert later.welcome is not None and later.welcome.unread == 1


async def test_mark_read_of_an_invisible_id_is_an_error(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    await ana.mark_read("424242")
    error = (await until(ana, is_a(ErrorEvent)))[-1]
    assert isinstance(error, ErrorEvent) and error.code == "invalid_message"
    assert ana.read is None


async def test_typing_reaches_others_and_to_one_user(server: ServerThread, make: Make) -> None:
    ana, bia, caio = [await make(server.url, name) for name in ("ana", "bia", "caio")]
    await ana.typing()
    for client in (bia, caio):
        assert (await until(client, is_a(TypingNotice)))[-1] == TypingNotice("ana")
    await asyncio.sleep(1.0)  # one typing per user per second is passed on
    await ana.typing(to="bia")
    assert (await until(bia, is_a(TypingNotice)))[-1] == TypingNotice("ana", "bia")
    await ana.typing(to="ninguem")
    error = (await until(ana, is_a(ErrorEvent)))[-1]
    assert isinstance(error, ErrorEvent) and error.code == "unknown_user"
    await bia.send("fim")
    # caio got no private typing: his next event after the public one is bia's message.
    assert [type(e) for e in await until(caio, said("fim"))] == [Message]


def test_parse_read_typing_and_v3_welcome() -> None:
    assert parse_event('{"type":"read","id":"42"}') == Read("42")
    assert parse_event('{"type":"typing","user":"ana"}') == TypingNotice("ana", None)
    assert parse_event('{"type":"typing","user":"ana","to":"bia"}') == TypingNotice("ana", "bia")
    assert parse_event('{"type":"read"}') is None  # malformed: skipped
    assert parse_event('{"type":"typing","user":1}') is None
    base: dict[str, object] = {"type": "welcome", "user": "a", "session": "s", "epoch": "e", "last": None,
            "recovered": False, "online": [], "token": "t"}
    old = parse_event(json.dumps(base))  # a server before v3
    assert isinstance(old, Welcome) and (old.read, old.unread) == (None, 0)
    new = parse_event(json.dumps({**base, "read": "7", "unread": 10_000}))
    assert isinstance(new, Welcome) and (new.read, new.unread) == ("7", 10_000)
    assert parse_event(json.dumps({**base, "unread": -1})) is None
    assert parse_event(json.dumps({**base, "unread": True})) is None


async def test_drop_and_cut_without_a_connection_raise() -> None:
    client = ChatClient(f"ws://127.0.0.1:{free_port()}/ws", "ana", "pw")
    with pytest.raises(RuntimeError, match="no open connection"):
        await client.drop()
    with pytest.raises(RuntimeError, match="no open connection"):
        client.cut()


async def test_outbox_waits_for_the_backlog_when_history_is_off(make: Make) -> None:
    """With --history 0 the message ``welcome.last`` is never sent; the barrier ends the
    backlog instead, and the queued send goes out."""
    server = ServerThread(rate_limit=0, history=0).start()
    try:
        bia = await make(server.url, "bia")
        await bia.send("velha")
        await until(bia, said("velha"))
        ana = ChatClient(server.url, "ana", "pw-ana")
        try:
            ref = await ana.send("na fila")  # before connect: waits in the outbox
            assert ana.unacknowledged == (ref,)
            welcome = await ana.connect()
            assert welcome.last == bia.last_id and welcome.recovered is False
            events = await until(ana, said("na fila"))
            assert len(events) == 1 and isinstance(events[0], Message) and events[0].ref == ref
            assert ana.last_id == events[0].id
        finally:
            await ana.close()
    finally:
        await asyncio.to_thread(server.stop)


async def test_resume_from_another_epoch_gets_history(server: ServerThread, make: Make) -> None:
    bia = await make(server.url, "bia")
    await bia.send("oi")
    await until(bia, said("oi"))
    ana = await make(server.url, "ana", resume=("e-not-this-one", "1"))
    assert ana.welcome is not None and ana.welcome.recovered is False
    assert ana.epoch == ana.welcome.epoch
    assert texts(await until(ana, said("oi"))) == ["oi"]


# --------------------------------------------------------------------------- no client-side filter


async def test_client_does_not_drop_duplicate_ids() -> None:
    """Exactly once is the server's job: a duplicate from a (buggy) server reaches the caller,
    also when it carries a ref (one this client is not waiting for). Only the answer to one of
    the client's own waiting sends is treated otherwise (the next test)."""
    message = {"type": "message", "id": "7", "from": "x", "to": None, "text": "dup", "ts": 1.0}

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps({
            "type": "welcome", "user": "ana", "session": "s", "epoch": "e", "last": None,
            "recovered": False, "online": ["ana"], "token": "t",
        }))
        await ws.send(json.dumps(message))
        await ws.send(json.dumps(message))
        await ws.send(json.dumps({**message, "ref": "not-waiting"}))
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as fake:
        port = fake.sockets[0].getsockname()[1]
        async with ChatClient(f"ws://127.0.0.1:{port}/ws", "ana", "pw") as ana:
            first, second, third = await ana.recv(5), await ana.recv(5), await ana.recv(5)
            assert first == second and isinstance(first, Message) and first.id == "7"
            assert isinstance(third, Message) and (third.id, third.ref) == ("7", "not-waiting")


async def test_only_the_answer_to_a_waiting_send_is_not_yielded_twice() -> None:
    """The acknowledgment of a resend is absorbed only when it carries a ref the client is
    waiting for and its id was yielded since that send was queued; every other repeated id
    (no ref, or a ref nobody waits for any more) still reaches the caller."""
    plain = {"type": "message", "id": "7", "from": "ana", "to": None, "text": "oi", "ts": 1.0}
    sent: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps({
            "type": "welcome", "user": "ana", "session": "s", "epoch": "e", "last": None,
            "recovered": False, "online": ["ana"], "token": "t",
        }))
        frame = json.loads(await ws.recv())
        await sent.put(frame)
        answer = {**plain, "ref": frame["ref"]}
        await ws.send(json.dumps(plain))  # as in a replay: the message without its ref
        await ws.send(json.dumps(answer))  # the answer to the send: its acknowledgment
        await ws.send(json.dumps(answer))  # a second answer nobody waits for: a server bug
        await ws.send(json.dumps(plain))  # the same id again: a server bug
        await ws.send(json.dumps({"type": "presence", "user": "fim", "online": True}))
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as fake:
        port = fake.sockets[0].getsockname()[1]
        async with ChatClient(f"ws://127.0.0.1:{port}/ws", "ana", "pw") as ana:
            ref = await ana.send("oi")
            assert (await sent.get())["ref"] == ref
            got = [await ana.recv(5) for _ in range(3)]
            assert [(e.id, e.ref) for e in got] == [("7", None), ("7", ref), ("7", None)]  # type: ignore[union-attr]
            assert ana.unacknowledged == ()
            assert await ana.recv(5) == Presence("fim", True)  # nothing else came before it


# --------------------------------------------------------------------------- parsing


def test_parse_event_reads_every_server_frame() -> None:
    assert parse_event('{"type":"presence","user":"ana","online":true}') == Presence("ana", True)
    assert parse_event('{"type":"users","online":["a","b"],"ref":"r"}') == Users(("a", "b"), "r")
    assert parse_event('{"type":"help","text":"t"}') == Help("t")
    assert parse_event('{"type":"error","code":"c","detail":"d"}') == ErrorEvent("c", "d", None)
    page = parse_event(
        '{"type":"history","more":false,"messages":'
        '[{"type":"message","id":"1","from":"a","to":"b","text":"t","ts":2}]}'
    )
    assert page == History((Message("1", "a", "b", "t", 2.0),), False)


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1]",
        '{"type":"future_thing"}',
        '{"type":"message","id":1,"from":"a","to":null,"text":"t","ts":1}',
        '{"type":"message","id":"1","from":"a","to":null,"text":"t","ts":true}',
        '{"type":"presence","user":"a","online":"yes"}',
        '{"type":"users","online":[1]}',
        '{"type":"welcome","user":"a"}',
    ],
)
def test_parse_event_skips_what_it_does_not_understand(raw: str) -> None:
    assert parse_event(raw) is None


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="password or a token"):
        ChatClient("ws://127.0.0.1:1/ws", "ana")
    with pytest.raises(ValueError, match="backoff"):
        ChatClient("ws://127.0.0.1:1/ws", "ana", "pw", backoff=(1.0, 0.5))


async def test_oversized_frame_is_refused_before_sending(server: ServerThread, make: Make) -> None:
    ana = await make(server.url, "ana")
    with pytest.raises(ValueError, match="64 KiB"):
        await ana.send("x" * 70_000)
    assert ana.unacknowledged == ()
