"""Notebook 03_chat: it runs top to bottom offline, and what its cells leave behind holds.

Each ``check_*`` function runs in the notebook's kernel after the notebook (tests/nbkit.py):
its parameters name the notebook's variables. The notebook shows one or two checks per
section, the ones that state the lesson; every other invariant of its runs is here:

- the minimal chat of section 1 is the notebook's own code (``chat``, ``sessions``,
  ``commands``): the checks start it again and check its deliveries and its loss on a drop;
- sections 4 to 8 (wschat's server): what each screen received, how, and in which order;
- two asides that left the notebook for 04 (more missed than ``max_replay``; failed logins
  limited while a token still enters) and the synchronous ``websocket-client`` session that
  left it too, each replayed against a server of its own, so that they stay checked here.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import nbformat
from nbkit import Run

from wschat.teaching.figures import PUSH_LATENCY_BOUND_MS
from wschat.teaching.ptbr import number

NOTEBOOK = "03_chat"
PATH = Path(__file__).resolve().parents[2] / "notebooks" / f"{NOTEBOOK}.ipynb"


def test_runs_without_errors(notebook_run: Run) -> None:
    assert notebook_run.errors() == []


def test_check(notebook_run: Run, check: Any) -> None:
    notebook_run.assert_held(check)


# --------------------------------------------------------------------------- the notebook as read


def test_the_push_latency_it_quotes_is_the_shared_figure() -> None:
    text = "\n".join(c.source for c in nbformat.read(PATH, as_version=4).cells
                     if c.cell_type == "markdown")
    assert f"menos de {number(PUSH_LATENCY_BOUND_MS)} ms" in " ".join(text.split())
    assert not re.search(r"\d+,\d+ ms", text), "quote the shared figure, not a measurement"


def test_exercises_start_with_a_hint_and_their_hidden_solutions_are_accepted(
        notebook_run: Run) -> None:
    cells = [c for c in notebook_run.notebook.cells
             if c.cell_type == "code" and not c.metadata.get("wschat_check")]
    solutions = [c for c in cells if "solucao" in c.metadata.get("tags", [])]
    attempts = [c for c in cells if "resposta = None" in c.source]
    assert len(solutions) == len(attempts) == 4

    def shown(cell: Any) -> str:
        return "".join(o.get("data", {}).get("text/plain", "") for o in cell.outputs)

    for cell in solutions:
        assert cell.metadata["jupyter"] == {"source_hidden": True, "outputs_hidden": True}
        assert shown(cell).startswith("✅"), cell.source
    for cell in attempts:
        assert shown(cell).startswith("❌"), cell.source  # a hint, never an error


# --------------------------------------------------------------------------- 1-2. the minimal chat


async def check_the_minimal_chat_delivers_to_everyone_to_one_user_and_to_every_tab(
        chat: Any) -> None:
    from websockets.asyncio.server import serve

    from wschat.teaching.tabs import open_tab

    server = await serve(chat, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    tabs = [await open_tab(name, url, user) for name, user in
            [("ana-1", "ana"), ("ana-2", "ana"), ("joao", "joao"), ("bob", "bob")]]
    ana1, ana2, joao, bob = tabs
    try:
        error = "erro: use /msg NOME TEXTO, com NOME online"
        await ana1.say("oi a todos")
        await ana1.say("/msg joao oi")
        await joao.read_until("ana → joao: oi")
        for line in ("/msg ninguem oi", "/msg joao"):  # not online; no text
            await ana1.say(line)
            await ana1.read_until(error)               # for the tab that sent it only
        await joao.say("/msg joao nota para mim")  # to oneself: once on each own tab
        await joao.read_until("joao → joao: nota para mim")
        ana3 = await open_tab("ana-3", url, "ana")  # a tab that opens joins the set
        tabs.append(ana3)
        await joao.say("/msg ana e a terceira aba?")
        await joao.read_until("joao → ana: e a terceira aba?")
        await bob.say("fim")
        for tab in tabs:
            await tab.read_until("bob: fim")
        assert ana1.lines == ["ana: oi a todos", "ana → joao: oi", error, error,
                              "joao → ana: e a terceira aba?", "bob: fim"]
        assert ana2.lines == ["ana: oi a todos", "ana → joao: oi",
                              "joao → ana: e a terceira aba?", "bob: fim"]
        assert ana3.lines == ["joao → ana: e a terceira aba?", "bob: fim"]
        assert joao.lines == ["ana: oi a todos", "ana → joao: oi", "joao → joao: nota para mim",
                              "joao → ana: e a terceira aba?", "bob: fim"]
        assert bob.lines == ["ana: oi a todos", "bob: fim"]
    finally:
        for tab in tabs:
            await tab.close()
        server.close()
        await server.wait_closed()


async def check_the_minimal_chat_loses_what_a_dropped_tab_missed(chat: Any) -> None:
    from websockets.asyncio.server import serve

    from wschat.teaching.tabs import open_tab

    server = await serve(chat, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    ana1, ana2 = await open_tab("ana-1", url, "ana"), await open_tab("ana-2", url, "ana")
    joao = await open_tab("joao", url, "joao")
    try:
        assert await ana2.cut() == 1006
        await joao.say("durante")
        await joao.say("/msg ana privada durante")
        await ana1.read_until("joao → ana: privada durante")
        await ana2.open()
        await joao.say("depois")
        await ana2.read_until("joao: depois")
        assert ana2.lines == ["joao: depois"]  # what was said while it was away is gone
    finally:
        for tab in (ana1, ana2, joao):
            await tab.close()
        server.close()
        await server.wait_closed()


def check_the_minimal_chat_forgets_every_connection_that_ended(sessions: Any) -> None:
    assert sessions == {}  # every tab closed, the exercise's too: no user is left online


def check_the_minimal_run_showed_who_got_what_and_the_loss(tabs: Any, code: Any,
                                                            lost: Any) -> None:
    from wschat.teaching.tabs import received

    ana1, ana2, joao, bob = tabs
    _, rows = received([joao, bob])
    assert rows == [("ana: oi a todos", "✓", "✓"), ("ana → joao: oi", "✓", "—"),
                    ("joao: oi, ana!", "✓", "✓")]
    assert ana1.lines[:3] == ana2.lines[:3] == joao.lines
    assert code == 1006
    assert ana2.lines[3:] == ["joao: voltou?"] and len(lost) == 2
    assert not any(tab.connected for tab in tabs)


def check_the_minimal_chat_knows_who_with_the_exercise_solution(chat: Any) -> None:
    from wschat.teaching.exercises.chat import verificar_who

    assert verificar_who(chat)


# --------------------------------------------------------------------------- 4. four sessions


def check_three_users_four_sessions_and_the_second_tab_came_in_with_the_token(
        screens: Any, ana1: Any, ana2: Any) -> None:
    welcomes = [s.welcomes[0] for s in screens]
    assert len({w.session for w in welcomes}) == 4
    assert [w.user for w in welcomes] == ["ana", "ana", "joao", "bob"]
    assert ana2.welcomes[0].token == ana1.welcomes[0].token


def check_a_password_costs_far_more_than_a_token(slow: float, fast: float) -> None:
    # scrypt with the server's parameters against one SHA-256: orders of magnitude apart (the
    # notebook keeps the least of 5 timings of each, so a busy machine does not blur it).
    assert slow > 0.01 and slow > 100 * fast


def check_the_public_message_reached_every_session_its_ref_only_the_sender(screens: Any) -> None:
    firsts = [s.messages()[0] for s in screens]
    assert {m.id for m in firsts} == {"1"} and all(m.to is None for m in firsts)
    assert firsts[0].ref is not None and all(m.ref is None for m in firsts[1:])


def check_the_private_message_reached_both_of_anas_tabs_and_joao_only(
        ana1: Any, ana2: Any, joao: Any, bob: Any) -> None:
    private = joao.messages()[1]
    assert (private.id, private.sender, private.to, private.text) == ("2", "ana", "joao", "oi")
    assert ana1.messages()[1].id == ana2.messages()[1].id == private.id
    assert ana1.messages()[1].ref is not None and ana2.messages()[1].ref is None
    assert [m.text for m in bob.messages()][:2] == ["oi a todos", "oi, ana! tudo bem?"]


def check_presence_is_told_per_user_not_per_tab(ana1: Any, ana2: Any, joao: Any,
                                                bob: Any) -> None:
    from wschat import Presence
    from wschat.teaching.chatdemo import presences

    # joao drops and comes back, then closes the app (the screens stop reading before his
    # new login's notice arrives).
    joao_flaps = [Presence("joao", False), Presence("joao", True), Presence("joao", False)]
    assert presences(bob) == [Presence("joao", True), Presence("ana", True), *joao_flaps]
    assert presences(joao) == [Presence("ana", True)]  # once, not once per tab
    assert presences(ana1) == presences(ana2) == joao_flaps  # the rest came in welcome.online


# --------------------------------------------------------------------------- 5. drop and resume


def check_the_drop_was_a_real_1006_and_the_resume_replayed_exactly_the_missed(
        joao: Any, dropped: Any, missed: Any, events: Any, server: Any) -> None:
    from wschat import Disconnected, Message, Reconnected

    assert dropped.code == 1006 and dropped == next(e for e in joao.events
                                                    if isinstance(e, Disconnected))
    before = [e for e in joao.events[:joao.events.index(dropped)] if isinstance(e, Message)]
    assert [m.text for m in missed] == ["o joao caiu?", "quando voltar, me responde",
                                        "ele já volta"]
    assert missed[1].to == "joao" and int(missed[0].id) == int(before[-1].id) + 1
    assert [type(e) for e in events] == [Reconnected, Message, Message, Message]
    reconnected = events[0]
    assert reconnected.welcome.recovered is True
    assert reconnected.welcome.last == missed[-1].id  # last = where the replay ends
    assert all(joao.how[m.id] == "replay" for m in missed)
    assert joao.welcomes[1] == reconnected.welcome
    assert joao.welcomes[1].token == joao.welcomes[0].token  # it came back with the token
    assert server.chat.config.max_replay == 10_000


def check_after_the_replay_joao_is_live_again(joao: Any, back: Any) -> None:
    assert back.text == "voltei! li tudo" and joao.how[back.id] == "ao vivo"


async def check_more_missed_than_max_replay_comes_back_as_history() -> None:
    """Moved out of the notebook (04 shows it): kept here so that it stays checked."""
    import asyncio

    from wschat import Disconnected, Message, Reconnected, ServerThread
    from wschat.teaching.chatdemo import log_in, said

    small = ServerThread(max_replay=1).start()
    try:
        carla = await log_in("carla", small.url, "carla", "senha-da-carla")
        dani = await log_in("dani", small.url, "dani", "senha-da-dani")
        away = asyncio.Event()
        await carla.client.send("antes")
        await dani.read_until(said("antes"))
        await dani.client.drop(until=away)
        await dani.read_until(lambda e: isinstance(e, Disconnected))
        for text in ("um", "dois"):  # two missed: more than max_replay
            await carla.client.send(text)
            await carla.read_until(said(text))
        away.set()
        got = await dani.read_until(said("dois"))
        assert isinstance(got[0], Reconnected) and got[0].welcome.recovered is False
        shown = [m for m in got[1:] if isinstance(m, Message)]
        assert [m.text for m in shown] == ["antes", "um", "dois"] == [  # history, not a replay
            getattr(e, "text", None) for e in got[1:]]
        assert all(dani.how[m.id] == "histórico" for m in shown)
        for client in (carla.client, dani.client):
            await client.close()
    finally:
        await asyncio.to_thread(small.stop)


# --------------------------------------------------------------------------- 6-8


def check_a_new_device_gets_the_history_and_the_private_kept_for_it(
        joao: Any, joao_new: Any, welcome: Any, backlog: Any) -> None:
    assert welcome.recovered is False and not joao.client.connected
    assert [m.text for m in backlog] == [
        "guardei isto pra você", "novidade 1", "novidade 2", "novidade 3"]
    assert all(joao_new.how[m.id] == "histórico" for m in backlog)


def check_a_wrong_password_is_refused_with_auth_failed(refused: Any, intruder: Any) -> None:
    from wschat import LoginError

    assert isinstance(refused, LoginError) and refused.code == "auth_failed"
    assert intruder.welcome is None  # never logged in


async def check_failed_logins_are_limited_while_a_token_still_enters() -> None:
    """Moved out of the notebook (04 shows it): kept here so that it stays checked."""
    import asyncio

    from wschat import ChatClient, LoginError, ServerThread
    from wschat.teaching.chatdemo import log_in

    server = ServerThread().start()  # the default limits
    try:
        ana = await log_in("ana", server.url, "ana", "senha-da-ana")
        codes: list[str] = []
        while not codes or (codes[-1] != "rate_limited" and len(codes) < 20):
            try:
                await ChatClient(server.url, "ana", f"chute-{len(codes)}").connect()
            except LoginError as error:
                codes.append(error.code)
        assert codes[-1] == "rate_limited" and codes.count("auth_failed") == 10
        tab = await log_in("ana (aba 2)", server.url, "ana", token=ana.client.token)
        assert tab.client.welcome is not None and tab.client.welcome.user == "ana"
        for client in (ana.client, tab.client):
            await client.close()
    finally:
        await asyncio.to_thread(server.stop)


def check_who_got_what(rows: Any, server: Any) -> None:
    live, replay, history, no = "ao vivo", "replay", "histórico", "—"
    assert rows == [
        # id    ana 1  ana 2  joao    joao(novo) bob
        ("1", live, live, live, no, live),         # public: everyone online
        ("2", live, live, live, no, no),           # /msg joao oi: not Bob
        ("3", live, live, live, no, live),
        ("4", live, live, replay, no, live),       # while joao was away: replayed to him
        ("5", live, live, replay, no, no),         # a private to joao while away: replayed
        ("6", live, live, replay, no, live),
        ("7", live, live, live, no, live),         # live again after the replay
        ("8", live, live, no, history, no),        # kept for the new login
        ("9", live, live, no, history, live),
        ("10", live, live, no, history, live),
        ("11", live, live, no, history, live),
    ]
    assert not server.running


async def check_a_synchronous_websocket_client_chats_with_a_login_line() -> None:
    """The websocket-client session that left the notebook: any WebSocket client can chat."""
    import asyncio
    import json

    import websocket

    from wschat import Message, ServerThread
    from wschat.teaching.chatdemo import log_in, said

    server = ServerThread(history=3).start()
    try:
        ana = await log_in("ana", server.url, "ana", "senha-da-ana")
        bob = await log_in("bob", server.url, "bob", "senha-do-bob")
        for i in (1, 2, 3):
            await bob.client.send(f"novidade {i}")
        await ana.read_until(said("novidade 3"))

        def terminal() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
            ws = websocket.create_connection(server.url, timeout=5)
            try:
                ws.send("/login bob senha-do-bob")  # a second session of bob's
                hello = json.loads(ws.recv())
                frames = [json.loads(ws.recv())]
                while frames[-1].get("id") != hello["last"]:
                    frames.append(json.loads(ws.recv()))
                ws.send("oi, do terminal")
                return hello, frames, json.loads(ws.recv())
            finally:
                ws.close()

        hello, frames, echo = await asyncio.to_thread(terminal)
        assert hello["type"] == "welcome" and hello["user"] == "bob"
        assert [f["text"] for f in frames] == ["novidade 1", "novidade 2", "novidade 3"]
        assert echo["type"] == "message" and echo["from"] == "bob"
        typed = (await ana.read_until(said("oi, do terminal")))[-1]
        assert isinstance(typed, Message)
        assert typed.id == echo["id"] and typed.sender == "bob"
        for client in (ana.client, bob.client):
            await client.close()
    finally:
        await asyncio.to_thread(server.stop)


# --------------------------------------------------------------------------- 9. in the browser


def check_the_page_it_shows_twice_is_the_running_servers_and_may_be_framed(web: Any) -> None:
    """Section 9 leaves a server running for the reader and shows its page in two frames (a
    browser framing it for real is tests/client/test_browser.py's job)."""
    import urllib.request
    from html.parser import HTMLParser

    from wschat.teaching.webpage import page_url, two_tabs

    class Frames(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: list[dict[str, str | None]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "iframe":
                self.found.append(dict(attrs))

    assert web.running
    url = page_url(web)
    parser = Frames()
    parser.feed(two_tabs(web)._repr_html_())
    assert [frame["src"] for frame in parser.found] == [url, url]
    assert len({frame["name"] for frame in parser.found}) == 2
    with urllib.request.urlopen(url, timeout=10) as response:
        status, policy_text, body = response.status, response.headers["Content-Security-Policy"], response.read()
    assert status == 200 and b"Ver o protocolo" in body
    policy = dict(part.split(" ", 1) for part in policy_text.split("; "))
    assert "http://localhost:*" in policy["frame-ancestors"].split()  # JupyterLab's origin


async def check_the_page_shown_in_section_9_serves_a_chat(web: Any) -> None:
    from wschat import ChatClient

    client = ChatClient(web.url, "leitor", "senha-do-leitor")
    await client.connect()
    try:
        assert client.welcome is not None and client.welcome.user == "leitor"
    finally:
        await client.close()
