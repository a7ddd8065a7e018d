"""The browser client (wschat/static) in a real, headless Chromium driven by Playwright.

Every test starts its own chat server (SQLite file in tmp_path, free port on 127.0.0.1) and
opens tabs on it as a person would: the login form, the input line, the buttons. What a tab
shows is read through the page's ``data-testid`` hooks. Waiting is Playwright's auto-waiting
``expect``; its timeout only bounds a failure.

"Exactly once" is checked on screen: each tab's message list must equal the expected
sequence, element for element, so a duplicate or a gap fails. The client does not filter
duplicate ids (exactly-once is the server's job), so a server bug would show here too; the
one message it does not add again is the server's answer to a resend of the tab's own pending
send whose message the tab already shows (the contract's acknowledgment, see client_machine.js).

Without a browser these tests skip with a loud reason (browserkit.browser_verdict); under
CI=true that is a failure instead.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from browserkit import (
    HOLD_NETWORK,
    browser_verdict,
    find_chromium,
    hold_network,
    launch,
    login,
    new_tab,
    send,
)
from chatkit import login as raw_login
from chatkit import publish, read_backlog

from wschat.server.thread import ServerThread

try:
    from playwright.sync_api import expect, sync_playwright

    _PLAYWRIGHT_ERROR: str | None = None
except ImportError as error:  # pragma: no cover - reported by the verdict below
    _PLAYWRIGHT_ERROR = str(error)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, WebSocket, WebSocketRoute

ROOT = Path(__file__).resolve().parents[2]

#: Upper bound for anything a tab should show; reached only when a test fails. A reconnect
#: waits at most the client's backoff cap (5 s) after the server is back.
WAIT_MS = 20_000

T = TypeVar("T")

PASSWORDS = {"ana": "senha-da-ana", "joao": "senha-do-joao", "bia": "senha-da-bia"}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def chromium() -> str:
    verdict, detail = browser_verdict(find_chromium(), _PLAYWRIGHT_ERROR)
    if verdict == "fail":
        pytest.fail(detail)
    if verdict == "skip":
        pytest.skip(detail)
    return detail


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        running = launch(playwright, chromium)
        yield running
        running.close()


class Chat:
    """The server of one test: ``restart()`` stops it and starts a new one on the same port
    and the same SQLite file, as a person restarting ``python -m wschat serve`` would."""

    def __init__(self, db: Path, **config: Any) -> None:
        self.db = db
        self.config = config
        self.server = ServerThread(db=str(db), **config).start()
        self.port = self.server.port

    @property
    def http_url(self) -> str:
        return self.server.http_url

    @property
    def ws_url(self) -> str:
        return self.server.url

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server = ServerThread(db=str(self.db), port=self.port, **self.config).start()


@pytest.fixture
def chat_factory(tmp_path: Path) -> Iterator[Callable[..., Chat]]:
    started: list[Chat] = []

    def make(**config: Any) -> Chat:
        chat = Chat(tmp_path / "chat.db", **config)
        started.append(chat)
        return chat

    yield make
    for chat in started:
        chat.stop()


@pytest.fixture
def chat(chat_factory: Callable[..., Chat]) -> Chat:
    return chat_factory()


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Callable[[], BrowserContext]]:
    """New browser contexts (one per person; tabs of one person share a context)."""
    opened: list[BrowserContext] = []

    def make() -> BrowserContext:
        context = browser.new_context(viewport={"width": 900, "height": 700})
        opened.append(context)
        return context

    yield make
    for context in opened:
        for page in context.pages:
            errors = page.wschat_errors  # type: ignore[attr-defined]
            assert errors == [], f"uncaught errors in the page: {errors}"
        context.close()


def tab(context: BrowserContext, chat: Chat, user: str | None = None) -> Page:
    """A tab on the chat page, logged in as ``user`` if given."""
    page = new_tab(context, chat.http_url)
    if user is not None:
        login(page, user, PASSWORDS[user])
    return page


# --------------------------------------------------------------------------- reading a tab


def messages(page: Page) -> Any:
    return page.get_by_test_id("messages").get_by_test_id("message")


def texts(page: Page) -> Any:
    return messages(page).locator(".texto")


def expect_texts(page: Page, expected: list[str]) -> None:
    """The tab shows exactly these messages, in this order: no duplicate, no gap."""
    expect(texts(page)).to_have_text(expected)
    shown_ids = messages(page).evaluate_all("els => els.map(e => e.dataset.id)")
    assert len(set(shown_ids)) == len(shown_ids), f"an id shown twice: {shown_ids}"


def expect_state(page: Page, state: str) -> None:
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", state)


def online_names(page: Page) -> Any:
    return page.get_by_test_id("online").locator("li")


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end on a loop of its own in another thread: Playwright's sync
    API keeps an event loop running in this one, so asyncio.run() cannot be used here."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout=60)


def stored_texts(chat: Chat, user: str) -> list[str]:
    """What the server's log holds for ``user`` (history of a fresh raw login), oldest first."""

    async def read() -> list[str]:
        ws, welcome = await raw_login(chat.ws_url, user, PASSWORDS[user])
        try:
            return [frame["text"] for frame in await read_backlog(ws, welcome)]
        finally:
            await ws.close()

    return run_async(read)


def post(chat: Chat, user: str, lines: list[str]) -> None:
    """Publish public lines as ``user`` from a plain WebSocket client (not a browser)."""

    async def run() -> None:
        ws, welcome = await raw_login(chat.ws_url, user, PASSWORDS[user])
        try:
            await read_backlog(ws, welcome)
            for line in lines:
                await publish(ws, line)
        finally:
            await ws.close()

    run_async(run)


# --------------------------------------------------------------------------- scenarios


def test_public_reaches_every_tab_and_private_only_its_two_people(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana_context, joao_context, bia_context = contexts(), contexts(), contexts()
    ana1 = tab(ana_context, chat, "ana")
    ana2 = tab(ana_context, chat, "ana")  # a second tab: another session of the same user
    joao = tab(joao_context, chat, "joao")
    bia = tab(bia_context, chat, "bia")
    everyone = [ana1, ana2, joao, bia]
    for page in everyone:
        expect(online_names(page)).to_have_text(
            [re.compile(r"^ana"), re.compile(r"^bia"), re.compile(r"^joao")]
        )

    send(ana1, "bom dia, pessoal")
    for page in everyone:
        expect_texts(page, ["bom dia, pessoal"])

    send(ana2, "/msg joao oi")
    for page in (ana1, ana2, joao):
        expect_texts(page, ["bom dia, pessoal", "oi"])
        private = messages(page).nth(1)
        expect(private).to_have_class(re.compile(r"\bprivada\b"))
        expect(private).to_contain_text("→ joao")
    # bia must not get the private: a public sent after it is her very next message.
    send(joao, "tudo bem?")
    for page in (ana1, ana2, joao):
        expect_texts(page, ["bom dia, pessoal", "oi", "tudo bem?"])
    expect_texts(bia, ["bom dia, pessoal", "tudo bem?"])
    expect(messages(bia).nth(0)).not_to_have_class(re.compile(r"\bprivada\b"))
    # Each tab shows the same id for the same message.
    ids = [messages(p).evaluate_all("els => els.map(e => e.dataset.id)") for p in (ana1, ana2, joao)]
    assert ids[0] == ids[1] == ids[2]


def test_after_a_server_restart_every_tab_resumes_without_duplicate_or_gap(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana_context, joao_context = contexts(), contexts()
    ana1, ana2 = tab(ana_context, chat, "ana"), tab(ana_context, chat, "ana")
    joao = tab(joao_context, chat, "joao")
    post(chat, "bia", ["antes 1"])
    send(joao, "antes 2")
    tabs = [ana1, ana2, joao]
    for page in tabs:
        expect_texts(page, ["antes 1", "antes 2"])

    # The tabs lose the network, then the server goes away (close 1001).
    ana_context.set_offline(True)
    joao_context.set_offline(True)
    chat.stop()
    for page in tabs:
        expect_state(page, "reconnecting")
    # A new server on the same port and file; others chat while the tabs are still away.
    chat.start()
    post(chat, "bia", ["durante 1", "durante 2", "durante 3"])
    ana_context.set_offline(False)
    joao_context.set_offline(False)

    expected = ["antes 1", "antes 2", "durante 1", "durante 2", "durante 3"]
    for page in tabs:
        expect_state(page, "online")
        expect_texts(page, expected)
        # Resumed (a replay after the last id), not redrawn from history: no such notice.
        expect(page.locator(".aviso")).to_have_count(0)
    # And the resumed tabs are live again.
    send(ana2, "depois")
    for page in tabs:
        expect_texts(page, [*expected, "depois"])


def test_lines_typed_while_disconnected_are_published_once_after_the_reconnect(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana = tab(contexts(), chat, "ana")
    joao = tab(contexts(), chat, "joao")
    send(ana, "conectada")
    expect_texts(joao, ["conectada"])

    chat.stop()
    expect_state(ana, "reconnecting")
    typed = ["escrita offline 1", "escrita offline 2", "/msg joao escrita offline 3"]
    for line in typed:
        send(ana, line)
    outbox = ana.get_by_test_id("outbox").locator("li")
    expect(outbox.locator(".texto")).to_have_text(typed)  # waiting, not lost, not shown as sent
    expect_texts(ana, ["conectada"])
    chat.start()

    expected = ["conectada", "escrita offline 1", "escrita offline 2", "escrita offline 3"]
    for page in (ana, joao):
        expect_state(page, "online")
        expect_texts(page, expected)
    expect(outbox).to_have_count(0)
    assert stored_texts(chat, "ana") == expected


def test_cair_typed_in_a_tab_drops_it_once_and_it_resumes(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    """``/cair`` asks the server for a drop (PROTOCOL.md v4): the tab loses its connection
    without a close (1006), comes back and resumes; it never waits in the outbox (resent, it
    would cut every new connection again), and the user's other tab is not touched."""
    context = contexts()
    ana1 = tab(context, chat, "ana")
    ana2 = tab(context, chat, "ana")
    joao = tab(contexts(), chat, "joao")
    send(joao, "antes")
    for page in (ana1, ana2):
        expect_texts(page, ["antes"])
    opened: list[WebSocket] = []
    for page in (ana1, ana2):
        page.on("websocket", lambda ws: opened.append(ws))
    with ana1.expect_websocket() as new_socket:
        send(ana1, "/cair")
    assert new_socket.value.url.endswith("/ws")
    expect_state(ana1, "online")
    expect(ana1.get_by_test_id("outbox").locator("li")).to_have_count(0)
    send(ana1, "de volta")  # written after the outbox was flushed on the new connection
    for page in (ana1, ana2, joao):
        expect_texts(page, ["antes", "de volta"])
    assert opened == [new_socket.value]  # one reconnect of ana1, none of ana2
    assert stored_texts(chat, "ana") == ["antes", "de volta"]


@pytest.mark.parametrize("lost", ["request", "answer"])
def test_a_send_cut_off_by_a_dropped_connection_is_published_once(
    chat: Chat, contexts: Callable[[], BrowserContext], lost: str
) -> None:
    """The connection drops right after a send: either before the server got it ("request")
    or after the server took it but before its answer reached the tab ("answer"). The tab
    cannot tell which; after the reconnect it must be published exactly once either way."""
    joao = tab(contexts(), chat, "joao")
    context = contexts()
    cut: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def drop(frame: str | bytes) -> bool:
            if cut or not isinstance(frame, str) or "no meio da queda" not in frame:
                return False
            cut.append(frame)
            ws.close(code=1012, reason="teste")  # the tab sees "service restart": reconnect
            server.close()
            return True

        def from_page(frame: str | bytes) -> None:
            if not (lost == "request" and drop(frame)):
                server.send(frame)

        def from_server(frame: str | bytes) -> None:
            if not (lost == "answer" and drop(frame)):
                ws.send(frame)

        ws.on_message(from_page)
        server.on_message(from_server)

    context.route_web_socket(re.compile(r"/ws$"), route)
    ana = tab(context, chat, "ana")
    send(ana, "antes da queda")
    send(ana, "no meio da queda")

    expected = ["antes da queda", "no meio da queda"]
    for page in (ana, joao):
        expect_texts(page, expected)
    expect_state(ana, "online")
    expect(ana.get_by_test_id("outbox").locator("li")).to_have_count(0)
    # Both sends were answered: with "answer", the message came first in the replay (no ref)
    # and the answer to its resend marked it as confirmed instead of adding it again.
    for n in range(len(expected)):
        expect(messages(ana).nth(n)).to_have_attribute("data-confirmed", "true")
    expect(joao.locator("[data-confirmed]")).to_have_count(0)  # joao sent neither
    assert len(cut) == 1 and json.loads(cut[0]).get("text") == "no meio da queda"
    assert stored_texts(chat, "ana") == expected


def test_a_send_whose_answer_a_reload_cut_off_is_published_once(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    """The server took the send, but the tab reloads before the answer arrives: the outbox
    survives in sessionStorage, the reloaded tab resumes (the replay brings the message,
    without ref) and resends; the answer confirms the message on screen, shown once."""
    joao = tab(contexts(), chat, "joao")
    context = contexts()
    swallowed: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(frame: str | bytes) -> None:
            if not swallowed and isinstance(frame, str) and "antes do reload" in frame:
                swallowed.append(frame)  # never reaches the tab
            else:
                ws.send(frame)

        ws.on_message(lambda frame: server.send(frame))
        server.on_message(from_server)

    context.route_web_socket(re.compile(r"/ws$"), route)
    ana = tab(context, chat, "ana")
    send(joao, "oi")
    expect_texts(ana, ["oi"])
    send(ana, "antes do reload")
    expect_texts(joao, ["oi", "antes do reload"])  # the server stored it
    outbox = ana.get_by_test_id("outbox").locator("li")
    expect(outbox).to_have_count(1)
    assert len(swallowed) == 1 and json.loads(swallowed[0]).get("ref")

    ana.reload()
    expect_state(ana, "online")
    expect_texts(ana, ["oi", "antes do reload"])
    expect(outbox).to_have_count(0)
    expect(messages(ana).nth(1)).to_have_attribute("data-confirmed", "true")
    expect(messages(ana).nth(0)).not_to_have_attribute("data-confirmed", "true")
    send(joao, "depois")
    expect_texts(ana, ["oi", "antes do reload", "depois"])
    assert stored_texts(chat, "ana") == ["oi", "antes do reload", "depois"]


def test_a_resend_answered_only_after_a_reload_confirms_the_message_on_screen(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    """The answers to a send are lost twice: on the first connection (which then drops: the
    replay of the second shows the message, without ref) and on the second (which the tab
    then leaves by reloading). After the reload there is no replay of it (the tab resumes
    after it); the answer to the third write must still be recognised as the acknowledgment
    of a message the tab shows (restored from sessionStorage), not shown a second time."""
    joao = tab(contexts(), chat, "joao")
    context = contexts()
    routes: list[WebSocketRoute] = []
    swallowed: list[str] = []
    passing: list[bool] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        routes.append(ws)

        def from_server(frame: str | bytes) -> None:
            if passing or not isinstance(frame, str) or "três vezes" not in frame:
                ws.send(frame)
            elif '"ref"' in frame:  # an answer to the send: it never reaches the tab
                swallowed.append(frame)
                # Tell the test through the page (an event it can wait for): a made-up user
                # comes online, numbered by the answers swallowed so far.
                notice = {"type": "presence", "user": f"sinal{len(swallowed)}", "online": True}
                ws.send(json.dumps(notice))
            else:
                ws.send(frame)

        ws.on_message(lambda frame: server.send(frame))
        server.on_message(from_server)

    context.route_web_socket(re.compile(r"/ws$"), route)
    ana = tab(context, chat, "ana")
    send(ana, "três vezes")
    expect(online_names(ana)).to_contain_text(["sinal1"])
    expect_texts(joao, ["três vezes"])  # stored, but ana has not seen it
    expect_texts(ana, [])
    routes[-1].close(code=1012, reason="teste")  # the tab reconnects and resumes
    expect_texts(ana, ["três vezes"])  # from the replay, without ref
    expect(online_names(ana)).to_contain_text(["sinal2"])  # the resend's answer: swallowed
    outbox = ana.get_by_test_id("outbox").locator("li")
    expect(outbox).to_have_count(1)
    assert len(routes) == 2 and len(swallowed) == 2
    passing.append(True)
    ana.reload()
    expect_state(ana, "online")
    expect(outbox).to_have_count(0)
    expect_texts(ana, ["três vezes"])
    expect(messages(ana).nth(0)).to_have_attribute("data-confirmed", "true")
    send(joao, "depois")
    expect_texts(ana, ["três vezes", "depois"])
    assert stored_texts(chat, "ana") == ["três vezes", "depois"]


def test_html_in_a_message_is_shown_as_text(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana = tab(contexts(), chat, "ana")
    joao = tab(contexts(), chat, "joao")
    attacks = [
        "<script>window.__xss = 1</script>",
        '<img src=x onerror="window.__xss = 2">',
        "<b>negrito?</b> &amp; &lt;",
    ]
    for line in attacks:
        send(joao, line)
    for page in (ana, joao):
        expect_texts(page, attacks)
        assert page.get_by_test_id("messages").locator("script, img, b").count() == 0
        assert page.evaluate("() => window.__xss") is None


def test_the_online_list_follows_presence(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana = tab(contexts(), chat, "ana")
    expect(online_names(ana)).to_have_text([re.compile(r"^ana")])
    joao_context = contexts()
    joao = tab(joao_context, chat, "joao")
    expect(online_names(ana)).to_have_text([re.compile(r"^ana"), re.compile(r"^joao")])
    send(ana, "/who")
    expect(ana.get_by_test_id("messages").locator(".aviso")).to_have_text(
        ["Online agora: ana, joao"]
    )
    joao.close()
    expect(online_names(ana)).to_have_text([re.compile(r"^ana")])


def test_help_and_errors_are_shown_in_portuguese(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana = tab(contexts(), chat, "ana")
    send(ana, "/help")
    notices = ana.get_by_test_id("messages").locator(".aviso")
    expect(notices.nth(0)).to_contain_text("/msg NOME TEXTO")
    send(ana, "/msg ninguem_aqui oi")
    expect(notices.nth(1)).to_contain_text("Não enviada: «/msg ninguem_aqui oi»")
    expect(ana.get_by_test_id("outbox").locator("li")).to_have_count(0)
    expect(messages(ana)).to_have_count(0)


def test_a_wrong_password_is_refused_on_the_form(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    tab(contexts(), chat, "ana").close()
    page = tab(contexts(), chat)
    page.get_by_test_id("login-user").fill("ana")
    page.get_by_test_id("login-password").fill("errada")
    page.get_by_test_id("login-submit").click()
    # It says what happened: this name exists, and the password is not the one it was created with.
    expect(page.locator("#login-error")).to_have_text(
        "A senha não confere: o nome «ana» já tem conta, criada no primeiro login com ele. "
        "Digite a senha usada naquele login, ou escolha outro nome para criar uma conta nova."
    )
    expect_state(page, "offline")
    expect(page.get_by_test_id("login-submit")).to_be_enabled()


def test_a_reload_resumes_the_tab_from_session_storage(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    context = contexts()
    ana = tab(context, chat, "ana")
    joao = tab(contexts(), chat, "joao")
    send(joao, "um")
    send(ana, "dois")
    expect_texts(ana, ["um", "dois"])

    ana.reload()  # no login form: the token, the position and the screen come back
    expect_state(ana, "online")
    expect(ana.get_by_test_id("login-user")).to_be_hidden()
    send(joao, "três")
    expect_texts(ana, ["um", "dois", "três"])
    expect(ana.locator(".aviso")).to_have_count(0)  # resumed, not redrawn from history
    # Another tab is another session: it asks for the login.
    other = tab(context, chat)
    expect(other.get_by_test_id("login-user")).to_be_visible()


def test_logout_revokes_the_tab_and_leaves_the_other_tab_alone(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    context = contexts()
    ana1, ana2 = tab(context, chat, "ana"), tab(context, chat, "ana")
    ana1.locator("#logout").click()
    expect(ana1.get_by_test_id("login-user")).to_be_visible()
    expect_state(ana1, "offline")
    assert ana1.evaluate("() => sessionStorage.length") == 0
    ana1.reload()
    expect(ana1.get_by_test_id("login-user")).to_be_visible()
    send(ana2, "ainda aqui")
    expect_texts(ana2, ["ainda aqui"])


def test_load_older_scrolls_back_with_history(
    chat_factory: Callable[..., Chat], contexts: Callable[[], BrowserContext]
) -> None:
    chat = chat_factory(history=5)
    lines = [f"linha {n}" for n in range(1, 61)]
    post(chat, "bia", lines)
    ana = tab(contexts(), chat, "ana")
    expect_texts(ana, lines[-5:])  # the login's history: --history 5
    older = ana.get_by_role("button", name="carregar anteriores")
    older.click()
    expect_texts(ana, lines[-55:])  # a page of 50 before the oldest shown
    expect(older).to_be_enabled()
    older.click()
    expect_texts(ana, lines)
    expect(ana.locator("#start")).to_be_visible()  # "início da conversa"
    expect(older).to_be_hidden()


# --------------------------------------------------------------------------- read position, typing (v3)

#: A stand-in for the browser's answer to "is the user looking at this tab?". Headless
#: Chromium under Playwright reports every tab as visible and focused, so a test could never
#: leave one. With this script, ``set_visible(page, False)`` makes ``document.visibilityState``
#: "hidden" and ``document.hasFocus()`` false and fires ``visibilitychange``, as switching to
#: another tab does; the choice survives a reload (sessionStorage is per tab). It also records
#: the text frames the page sends and receives (``window.__wschatFrames``), so a test can
#: count what the page itself did (the server drops extra typing frames, hiding a client
#: that sends too many).
TAB_HOOKS = """
(() => {
  const KEY = "test.hidden";
  let visible = sessionStorage.getItem(KEY) !== "1";
  Object.defineProperty(Document.prototype, "visibilityState", {
    configurable: true, get() { return visible ? "visible" : "hidden"; },
  });
  Object.defineProperty(Document.prototype, "hidden", {
    configurable: true, get() { return !visible; },
  });
  const hasFocus = Document.prototype.hasFocus;
  Document.prototype.hasFocus = function () { return visible && hasFocus.call(this); };
  window.__wschatSetVisible = (value) => {
    visible = value;
    if (value) sessionStorage.removeItem(KEY); else sessionStorage.setItem(KEY, "1");
    document.dispatchEvent(new Event("visibilitychange"));
  };
  const frames = { sent: [], received: [] };
  window.__wschatFrames = frames;
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string") frames.received.push(event.data);
      });
    }
    send(data) {
      if (typeof data === "string") frames.sent.push([performance.now(), data]);
      super.send(data);
    }
  };
})();
"""


def hooked(contexts: Callable[[], BrowserContext]) -> BrowserContext:
    """A new browser context whose tabs carry TAB_HOOKS."""
    context = contexts()
    context.add_init_script(TAB_HOOKS)
    return context


def set_visible(page: Page, visible: bool) -> None:
    page.evaluate("(v) => window.__wschatSetVisible(v)", visible)


def reload_in_view(page: Page) -> None:
    """Reload a hidden tab so that it is in view from its first moment (the user comes back
    to it by reloading): it must read on load, not on a visibility change."""
    page.evaluate("() => sessionStorage.removeItem('test.hidden')")
    page.reload()


def frames_of(page: Page, direction: str, kind: str) -> list[tuple[float, dict[str, Any]]]:
    """The protocol frames of type ``kind`` the page sent or received (``direction``), with
    the page's clock in ms for sent ones (0 for received)."""
    raw = page.evaluate(
        "(d) => window.__wschatFrames[d].map(f => Array.isArray(f) ? f : [0, f])", direction
    )
    found = []
    for at, text in raw:
        try:
            frame = json.loads(text)
        except ValueError:
            continue
        if isinstance(frame, dict) and frame.get("type") == kind:
            found.append((float(at), frame))
    return found


def divider(page: Page) -> Any:
    return page.get_by_test_id("unread-divider")


def expect_divider_above(page: Page, text: str) -> None:
    """The "novas mensagens" line is shown, right above the message with this text."""
    expect(divider(page)).to_have_count(1)
    expect(divider(page)).to_be_visible()
    expect(divider(page)).to_have_text(re.compile("novas mensagens", re.I))
    expect(page.locator("[data-testid=unread-divider] + [data-testid=message] .texto")).to_have_text(text)


def message_id(page: Page, text: str) -> str:
    return str(messages(page).filter(has_text=text).get_attribute("data-id"))


def expect_read_at(page: Page, text: str) -> None:
    """The page knows (from the server's `read`) that the user read up to this message."""
    expect(page.get_by_test_id("messages")).to_have_attribute("data-read", message_id(page, text))


def assert_reads_move_forward(page: Page) -> None:
    """Every `read` the tab sent names a message further down its list than the one before."""
    ids = messages(page).evaluate_all("els => els.map(e => e.dataset.id)")
    sent = [frame["id"] for _, frame in frames_of(page, "sent", "read")]
    positions = [ids.index(i) for i in sent]
    assert positions == sorted(set(positions)), f"a read went back or repeated: {sent}"


def test_the_read_position_shows_as_a_divider_and_badge_and_follows_the_users_tabs(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana_context = hooked(contexts)
    ana1, ana2 = tab(ana_context, chat, "ana"), tab(ana_context, chat, "ana")
    joao = tab(contexts(), chat, "joao")
    send(joao, "antes")
    for page in (ana1, ana2):
        expect_texts(page, ["antes"])
        expect_read_at(page, "antes")  # a tab in view reads what arrives
        expect(divider(page)).to_have_count(0)  # it arrived under the reader's eyes
        expect(page).to_have_title("wschat")

    # Ana leaves both tabs; joao writes: each tab marks the new messages and counts them.
    set_visible(ana1, False)
    set_visible(ana2, False)
    for line in ("um", "dois", "três"):
        send(joao, line)
    for page in (ana1, ana2):
        expect_texts(page, ["antes", "um", "dois", "três"])
        expect(page).to_have_title("(3) wschat")
        expect_divider_above(page, "um")

    # Ana comes back to tab 1 by reloading it: the server's position puts the divider where
    # she stopped, and the tab reads (the divider stays in the tab she reads in).
    reload_in_view(ana1)
    expect_state(ana1, "online")
    expect_texts(ana1, ["antes", "um", "dois", "três"])
    expect_read_at(ana1, "três")
    expect_divider_above(ana1, "um")
    expect(ana1).to_have_title("wschat")
    # Tab 2 (still hidden) learns it live: its divider and badge clear.
    expect_read_at(ana2, "três")
    expect(ana2).to_have_title("wschat")
    expect(divider(ana2)).to_have_count(0)

    # Ana leaves tab 1 too; a new message is marked in both tabs, also after tab 2 reloads
    # hidden (the badge then starts from welcome.unread).
    set_visible(ana1, False)
    send(joao, "quatro")
    for page in (ana1, ana2):
        expect_texts(page, ["antes", "um", "dois", "três", "quatro"])
        expect(page).to_have_title("(1) wschat")
        expect_divider_above(page, "quatro")
    ana2.reload()
    expect_state(ana2, "online")
    expect(ana2).to_have_title("(1) wschat")
    expect_divider_above(ana2, "quatro")

    # She reads in tab 2: tab 1 clears.
    set_visible(ana2, True)
    expect_read_at(ana1, "quatro")
    expect(ana1).to_have_title("wschat")
    expect(divider(ana1)).to_have_count(0)
    expect(ana2).to_have_title("wschat")
    # Joao's own messages are never unread for him, and nobody else's position shows there.
    expect(joao).to_have_title("wschat")
    expect(divider(joao)).to_have_count(0)
    for page in (ana1, ana2):
        assert_reads_move_forward(page)


def test_a_tab_that_reads_nothing_sends_no_read_and_its_own_messages_are_never_unread(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana = tab(hooked(contexts), chat, "ana")
    joao = tab(contexts(), chat, "joao")
    set_visible(ana, False)
    send(ana, "escrevi e saí")  # typed, then the tab was left (e.g. Enter, then another tab)
    send(joao, "resposta")
    expect_texts(ana, ["escrevi e saí", "resposta"])
    expect(ana).to_have_title("(1) wschat")
    expect_divider_above(ana, "resposta")
    unseen = message_id(ana, "resposta")
    assert all(frame["id"] != unseen for _, frame in frames_of(ana, "sent", "read"))
    set_visible(ana, True)
    expect_read_at(ana, "resposta")
    expect(ana).to_have_title("wschat")
    assert_reads_move_forward(ana)


def test_the_badge_shows_the_servers_cap_as_10000_plus(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    """The server counts at most 10,000 unread messages; a welcome saying 10,000 means "that
    many or more". Filling a log with 10,000 messages would take minutes, so the welcome's
    count is raised on its way to the tab (the page cannot tell)."""
    post(chat, "joao", ["uma só"])
    context = hooked(contexts)

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(frame: str | bytes) -> None:
            if isinstance(frame, str) and frame.startswith('{"type":"welcome"'):
                welcome = json.loads(frame)
                welcome["unread"] = 10_000
                frame = json.dumps(welcome)
            ws.send(frame)

        ws.on_message(lambda frame: server.send(frame))
        server.on_message(from_server)

    context.route_web_socket(re.compile(r"/ws$"), route)
    page = new_tab(context, chat.http_url)
    set_visible(page, False)
    login(page, "ana", PASSWORDS["ana"])
    expect(page).to_have_title("(10000+) wschat")
    post(chat, "joao", ["mais uma"])
    expect_texts(page, ["uma só", "mais uma"])
    expect(page).to_have_title("(10000+) wschat")
    set_visible(page, True)  # read: the count is the page's again, and zero
    expect(page).to_have_title("wschat")


def test_typing_shows_for_a_few_seconds_to_others_only_and_is_throttled(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana_context = hooked(contexts)
    ana1, ana2 = tab(ana_context, chat, "ana"), tab(ana_context, chat, "ana")
    joao = tab(hooked(contexts), chat, "joao")
    bia = tab(hooked(contexts), chat, "bia")
    for page in (ana1, ana2, joao, bia):
        expect(page.get_by_test_id("typing")).to_be_hidden()

    # A burst of keystrokes (about 2 s): the tab sends at most one typing frame a second.
    burst = "oi joao e bia, tudo certo por aí hoje?"
    started = ana1.evaluate("() => performance.now()")
    ana1.get_by_test_id("input").press_sequentially(burst, delay=50)
    ended = ana1.evaluate("() => performance.now()")
    for page in (joao, bia):
        expect(page.get_by_test_id("typing")).to_have_text("ana está digitando…")
    times = [at for at, frame in frames_of(ana1, "sent", "typing") if "to" not in frame]
    assert 1 <= len(times) <= int((ended - started) // 1000) + 1, (times, started, ended)
    assert all(b - a >= 999 for a, b in itertools.pairwise(times)), times
    assert len(burst) > 3 * len(times)  # many keystrokes, few frames
    # The sender's own tabs show nothing (the server sends them nothing).
    expect(ana1.get_by_test_id("typing")).to_be_hidden()
    expect(ana2.get_by_test_id("typing")).to_be_hidden()

    # Sending the line ends it at once.
    ana1.get_by_test_id("send").click()
    for page in (joao, bia):
        expect_texts(page, [burst])
        expect(page.get_by_test_id("typing")).to_be_hidden()

    # Typing a private message tells its recipient only, marked private, and it goes away a
    # few seconds after the typing stops (nothing sent).
    ana1.get_by_test_id("input").fill("/msg joao ")
    ana1.get_by_test_id("input").press_sequentially("isto é só entre nós", delay=80)
    expect(joao.get_by_test_id("typing")).to_have_text("ana está digitando uma mensagem privada…")
    expect(joao.get_by_test_id("typing")).to_be_hidden()
    private = [frame for _, frame in frames_of(ana1, "sent", "typing") if "to" in frame]
    assert private and all(frame["to"] == "joao" for frame in private), private
    assert [frame for _, frame in frames_of(bia, "received", "typing") if "to" in frame] == []
    expect(bia.get_by_test_id("typing")).to_be_hidden()
    # Typing is never a message: nothing new in anyone's list.
    for page in (ana1, ana2, joao, bia):
        expect_texts(page, [burst])


def test_the_page_rules_for_the_badge_and_the_typing_line(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    page = new_tab(contexts(), chat.http_url)
    result = page.evaluate(
        """async () => {
          const m = await import("/chat.js");
          const t = new m.TypingThrottle(1000);
          const typers = new m.Typers(4000);
          typers.saw("ana", false, 0);
          const one = m.typingText(typers.current(100));
          typers.saw("Bia", true, 50);
          const two = m.typingText(typers.current(100));
          typers.saw("joao", false, 60);
          const three = m.typingText(typers.current(100));
          typers.forget("JOAO");  // his message arrived (names compare case-insensitively)
          const later = m.typingText(typers.current(4010));  // ana's time is over
          return {
            titles: [0, 1, 9999, 10000, 12345].map(n => m.badgeTitle("wschat", n)),
            throttle: [0, 10, 999, 1000, 1999, 2000].map(x => t.due(x)),
            targets: ["", "  ", "oi", "/who", "/msg jo", "/msg joao oi", "/msg nobody oi"]
              .map(line => m.typingTarget(line, n => n === "joao")),
            lines: [one, two, three, later],
          };
        }"""
    )
    assert result["titles"] == [
        "wschat", "(1) wschat", "(9999) wschat", "(10000+) wschat", "(10000+) wschat"
    ]
    assert result["throttle"] == [True, False, False, True, False, True]
    assert result["targets"] == [None, None, {"to": None}, None, None, {"to": "joao"}, None]
    assert result["lines"] == [
        "ana está digitando…",
        "ana e Bia estão digitando…",
        "várias pessoas estão digitando…",
        "Bia está digitando uma mensagem privada…",
    ]


# --------------------------------------------------------------------------- the protocol panel


def panel(page: Page) -> Any:
    """The panel, found as a person using a screen reader would: the landmark "Protocolo"."""
    return page.get_by_role("complementary", name="Protocolo")


def open_panel(page: Page) -> None:
    page.get_by_role("button", name="Ver o protocolo").click()
    expect(panel(page)).to_be_visible()


def rows(page: Page) -> Any:
    return page.get_by_test_id("protocol-row")


def rows_of(page: Page, kind: str) -> Any:
    """The panel's rows of one type ("welcome", "send", "close 1006", "espera"...)."""
    return page.locator(f'[data-testid=protocol-row][data-type="{kind}"]')


def row_json(row: Any) -> dict[str, Any]:
    """Open a row (if closed) and read the frame it shows."""
    details = row.locator("details")
    if details.get_attribute("open") is None:
        # A click event on the element itself, not a click at its position: a row appended
        # meanwhile scrolls the followed list, and a click by position then opens its neighbour.
        row.locator("summary").dispatch_event("click")
    return dict(json.loads(row.get_by_test_id("protocol-json").inner_text()))


def panel_lines(page: Page) -> list[tuple[str, str]]:
    """Every row as (type, meaning), in order."""
    return [
        (str(item["type"]), str(item["line"]))
        for item in rows(page).evaluate_all(
            "els => els.map(e => ({type: e.dataset.type, line: e.querySelector('.significado').textContent}))"
        )
    ]


def secrets_of(page: Page) -> list[str]:
    """The tab's token, as kept in its sessionStorage."""
    state = page.evaluate("() => JSON.parse(sessionStorage.getItem('wschat.tab') ?? 'null')")
    return [state["token"]] if state and state.get("token") else []


def assert_no_secret_in_panel(page: Page, secrets: list[str]) -> None:
    """Open every row (so that each frame's JSON is written) and look for the secrets in all
    the panel's text, the JSON included."""
    opened = panel(page).evaluate(
        "e => { const all = e.querySelectorAll('details'); all.forEach(d => { d.open = true; }); return all.length; }"
    )
    expect(panel(page).get_by_test_id("protocol-json")).to_have_count(opened)
    text = panel(page).inner_text() + panel(page).evaluate("e => e.textContent")
    assert secrets and all(len(secret) >= 8 for secret in secrets)
    for secret in secrets:
        assert secret not in text
    assert "«oculto»" in text


def test_the_panel_is_closed_by_default_builds_nothing_closed_and_explains_the_login_and_a_send(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    context = contexts()
    ana = tab(context, chat, "ana")
    toggle = ana.get_by_role("button", name="Ver o protocolo")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(panel(ana)).to_be_hidden()
    send(ana, "primeira")
    expect_texts(ana, ["primeira"])
    # Closed, the panel draws nothing: not one row is on the page.
    assert ana.locator("#protocol-rows > *").count() == 0

    open_panel(ana)
    expect(toggle).to_have_attribute("aria-expanded", "true")
    # What happened before it opened is there, in order: the login and its welcome first.
    welcome = rows_of(ana, "welcome")
    expect(welcome).to_have_count(1)
    expect(welcome).to_contain_text("o servidor aceitou o login; a conversa ainda está vazia")
    types = [kind for kind, _ in panel_lines(ana)]
    assert types[:3] == ["open", "login", "welcome"], types

    # A send and the message that answers it carry the same ref.
    send(ana, "segunda")
    expect_texts(ana, ["primeira", "segunda"])
    sends = rows_of(ana, "send")
    expect(sends).to_have_count(2)
    ref = row_json(sends.nth(1))["ref"]
    assert row_json(sends.nth(1))["text"] == "segunda"
    answer = rows(ana).filter(has_text=f"o ref {ref} confirma que o servidor a gravou")
    expect(answer).to_have_count(1)
    expect(answer).to_have_attribute("data-type", "message")
    expect(answer).to_contain_text("esta é a sua mensagem de volta")
    assert row_json(answer)["ref"] == ref
    expect(sends.nth(1)).to_contain_text(f"fica na fila desta aba até voltar uma resposta com o ref {ref}")

    # The panel stays open across a reload of this tab (sessionStorage), not in another tab.
    ana.reload()
    expect_state(ana, "online")
    expect(panel(ana)).to_be_visible()
    expect(rows_of(ana, "welcome")).to_contain_text("recovered: true, nada se perdeu")
    other = tab(context, chat)
    expect(other.get_by_test_id("login-user")).to_be_visible()
    expect(panel(other)).to_be_hidden()


def test_simular_queda_shows_the_drop_the_resume_and_the_replay_once_and_not_in_the_other_tab(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    """ana drops with "Simular queda" while joao sends two messages. The tab's network is held
    (browserkit.HOLD_NETWORK) from the click until both are stored, so that they are sent
    while it is away, as in a real outage; the drop itself is the server's."""
    context = contexts()
    context.add_init_script(HOLD_NETWORK)
    ana1, ana2 = tab(context, chat, "ana"), tab(context, chat, "ana")
    joao = tab(contexts(), chat, "joao")
    send(joao, "antes")
    for page in (ana1, ana2):
        expect_texts(page, ["antes"])
        open_panel(page)
    seen = message_id(ana1, "antes")

    hold_network(ana1, True)
    ana1.get_by_role("button", name="Simular queda").click()
    expect(rows_of(ana1, "close 1006").first).to_contain_text(
        "1006: a conexão caiu sem close: foi a queda que você pediu")
    expect_state(ana1, "reconnecting")
    send(joao, "durante 1")
    send(joao, "durante 2")
    expect_texts(ana2, ["antes", "durante 1", "durante 2"])
    hold_network(ana1, False)

    expect_state(ana1, "online")
    expected = ["antes", "durante 1", "durante 2"]
    expect_texts(ana1, expected)
    # The missed messages are marked as a replay in the chat, the first one is not.
    for n, is_replay in enumerate([False, True, True]):
        label = messages(ana1).nth(n).locator(".selo.reenvio")
        expect(label).to_have_count(1 if is_replay else 0)
        if is_replay:
            expect(label).to_have_text("reenviada")

    lines = panel_lines(ana1)
    kinds = [kind for kind, _ in lines]
    drop = kinds.index("drop")
    assert kinds[drop + 1] == "close 1006", kinds
    assert "espera" in kinds[drop + 2:], kinds
    # The login that worked after the drop resumes after the last id the tab had seen, with
    # its token, and the welcome says nothing was lost.
    logins = rows_of(ana1, "login")
    resumed = logins.last
    expect(resumed).to_contain_text(f"reconectando: pede tudo depois do id {seen}")
    frame = row_json(resumed)
    assert frame["resume"]["after"] == seen and frame["token"] == "«oculto»"
    assert "password" not in frame
    welcome = rows_of(ana1, "welcome").last
    expect(welcome).to_contain_text(f"recovered: true, nada se perdeu: o replay traz o que veio depois do id {seen}")
    assert row_json(welcome)["recovered"] is True
    assert "open" in kinds[drop:] and kinds.index("login", drop) > kinds.index("open", drop)
    # Each missed message once in the panel, as a replay.
    shown = [row_json(row).get("text") for row in rows_of(ana1, "message").all()]
    replayed = [row_json(row).get("text") for row in ana1.locator("[data-testid=protocol-row].replay").all()]
    assert shown == ["antes", "durante 1", "durante 2"], shown
    assert replayed == ["durante 1", "durante 2"], replayed
    expect(ana1.locator("[data-testid=protocol-row].replay")).to_have_count(2)

    # The other tab of the same user never lost its connection.
    assert [kind for kind, _ in panel_lines(ana2)].count("open") == 1
    expect(ana2.locator('[data-testid=protocol-row][data-dir="close"]')).to_have_count(0)
    expect(ana2.locator("[data-testid=protocol-row].replay")).to_have_count(0)
    expect(messages(ana2).locator(".selo.reenvio")).to_have_count(0)
    assert_no_secret_in_panel(ana1, [PASSWORDS["ana"], *secrets_of(ana1)])


def test_no_password_or_token_ever_shows_in_the_panel(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    """The password login, the welcome's token, a token login after a drop, and a wrong
    password: neither the row texts nor the JSON of any row holds a secret."""
    context = contexts()
    page = new_tab(context, chat.http_url)
    open_panel(page)  # open from the start: rows drawn live, not from the log
    login(page, "ana", PASSWORDS["ana"])
    page.get_by_role("button", name="Simular queda").click()
    expect(rows_of(page, "welcome")).to_have_count(2)
    expect_state(page, "online")
    wrong = new_tab(context, chat.http_url)
    wrong.get_by_test_id("login-user").fill("ana")
    wrong.get_by_test_id("login-password").fill("outra-senha-qualquer")
    wrong.get_by_test_id("login-submit").click()
    expect(wrong.locator("#login-error")).to_be_visible()
    open_panel(wrong)  # drawn from the log, after the fact
    refused = wrong.locator('[data-testid=protocol-row][data-dir=in][data-type="error"]')
    expect(refused).to_contain_text("login recusado (auth_failed)")
    expect(rows_of(wrong, "close 4001")).to_contain_text("4001: login recusado; não reconecta")
    assert_no_secret_in_panel(page, [PASSWORDS["ana"], *secrets_of(page)])
    assert_no_secret_in_panel(wrong, ["outra-senha-qualquer", PASSWORDS["ana"]])


def test_the_panel_keeps_only_the_latest_rows(
    chat_factory: Callable[..., Chat], contexts: Callable[[], BrowserContext]
) -> None:
    chat = chat_factory(rate_limit=0)
    ana = tab(contexts(), chat, "ana")
    limit = int(ana.evaluate("async () => (await import('/inspector.js')).ROWS"))
    assert 100 <= limit <= 1000  # "the last few hundred"
    lines = [f"linha {n}" for n in range(limit + 20)]
    post(chat, "bia", lines)  # closed: each report only takes a slot in the log
    expect(messages(ana)).to_have_count(len(lines))
    open_panel(ana)
    expect(rows(ana)).to_have_count(limit)
    last = rows_of(ana, "message").last
    assert row_json(last)["text"] == lines[-1]
    assert int(rows(ana).first.get_attribute("data-n") or 0) > 0  # the oldest were forgotten
    post(chat, "bia", ["mais uma", "e outra"])  # open: new rows push the oldest out
    expect(messages(ana)).to_have_count(len(lines) + 2)
    expect(rows_of(ana, "message").last).to_contain_text("mensagem de bia para todos, ao vivo")
    expect(rows(ana)).to_have_count(limit)
    assert row_json(rows_of(ana, "message").last)["text"] == "e outra"


def test_the_panel_works_with_the_keyboard(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana = tab(contexts(), chat, "ana")
    send(ana, "pelo teclado")
    expect_texts(ana, ["pelo teclado"])

    def tab_to(matches: str, limit: int = 30) -> None:
        for _ in range(limit):
            ana.keyboard.press("Tab")
            if ana.evaluate(f"() => document.activeElement.matches({json.dumps(matches)})"):
                return
        raise AssertionError(f"Tab never reached {matches}")

    tab_to("#protocol-toggle")
    ana.keyboard.press("Enter")
    expect(panel(ana)).to_be_visible()
    tab_to("#protocol-rows summary")
    first = rows(ana).first
    expect(first.locator("summary")).to_be_focused()
    ana.keyboard.press("Enter")
    expect(first.get_by_test_id("protocol-json")).to_be_visible()
    ana.keyboard.press("ArrowDown")
    expect(rows(ana).nth(1).locator("summary")).to_be_focused()
    ana.keyboard.press(" ")
    expect(rows(ana).nth(1).get_by_test_id("protocol-json")).to_contain_text('"type": "login"')
    ana.keyboard.press("End")
    expect(rows(ana).last.locator("summary")).to_be_focused()
    ana.keyboard.press("Home")
    expect(first.locator("summary")).to_be_focused()
    # "Simular queda" from the keyboard too.
    ana.get_by_role("button", name="Ver o protocolo").focus()
    tab_to("#drop")
    ana.keyboard.press("Enter")
    expect(rows_of(ana, "close 1006")).to_have_count(1)
    expect_state(ana, "online")
    expect(rows_of(ana, "welcome").last).to_contain_text("recovered: true")
    # And closed again from the keyboard.
    ana.get_by_role("button", name="Ver o protocolo").focus()
    ana.keyboard.press("Enter")
    expect(panel(ana)).to_be_hidden()


def test_the_panel_stacks_under_the_chat_at_phone_width(chat: Chat, browser: Browser) -> None:
    phone = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True)
    try:
        page = new_tab(phone, chat.http_url)
        login(page, "ana", PASSWORDS["ana"])
        send(page, "no celular")
        expect_texts(page, ["no celular"])
        open_panel(page)
        expect(rows_of(page, "message")).to_have_count(1)
        rows(page).first.locator("summary").click()
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
        chat_box = page.locator("#chat").bounding_box()
        panel_box = panel(page).bounding_box()
        assert chat_box is not None and panel_box is not None
        assert panel_box["y"] >= chat_box["y"] + chat_box["height"] - 1  # under the chat
        assert panel_box["width"] <= 360 and chat_box["width"] <= 360
        for hook in ("input", "send", "protocol-rows"):
            expect(page.get_by_test_id(hook)).to_be_in_viewport()
        expect(page.get_by_role("button", name="Simular queda")).to_be_in_viewport()
        # Rows wrap within the panel.
        row_box = rows(page).first.bounding_box()
        assert row_box is not None and row_box["x"] + row_box["width"] <= 360
    finally:
        phone.close()


#: What the panel says for each frame of PROTOCOL.md and each socket event, given the state
#: at that moment (inspector.js's explain). [dir, frame, info, state, line]; a state names only
#: what differs from BASE_STATE.
BASE_STATE: dict[str, Any] = {
    "me": "ana", "phase": "ready", "welcome": None, "resumedFrom": None, "dropping": False,
    "loggingOut": False,
}
HISTORY_WELCOME = {"last": "45", "recovered": False, "user": "ana"}
REPLAY_WELCOME = {"last": "45", "recovered": True, "user": "ana"}


def msg(id_: str, sender: str, to: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "id": id_, "from": sender, "to": to, "text": "oi", "ts": 1.5, **extra}


MEANINGS: list[tuple[str, Any, dict[str, Any], dict[str, Any], str]] = [
    # client to server
    ("out", {"type": "login", "user": "ana", "password": "x"}, {"why": "login"}, {"phase": "opening"},
     "login com nome e senha (o primeiro login de um nome cria a conta)"),
    ("out", {"type": "login", "user": "ana", "token": "x"}, {"why": "login"}, {"phase": "opening"},
     "login com o token de um welcome anterior: o servidor não gasta um hash de senha"),
    ("out", {"type": "login", "user": "ana", "token": "x", "resume": {"epoch": "e-1", "after": "42"}},
     {"why": "login"}, {"phase": "opening", "resumedFrom": "42"},
     "reconectando: pede tudo depois do id 42 (epoch e-1), com o token, sem a senha"),
    ("out", {"type": "login", "user": "ana", "password": "x", "resume": {"epoch": "e-1", "after": "42"}},
     {"why": "login"}, {"phase": "opening"},
     "reconectando: pede tudo depois do id 42 (epoch e-1), com a senha"),
    ("out", {"type": "who", "ref": "sync-1"}, {"why": "barrier"}, {"phase": "catching_up"},
     "pergunta quem está online; a resposta só vem depois do histórico ou do replay e marca o fim deles"),
    ("out", {"type": "send", "text": "oi a todos", "ref": "c-7"}, {"why": "send"}, {},
     "mensagem pública «oi a todos»; fica na fila desta aba até voltar uma resposta com o ref c-7"),
    ("out", {"type": "send", "text": "oi", "to": "joao", "ref": "c-8"}, {"why": "send"}, {},
     "mensagem privada para joao; fica na fila desta aba até voltar uma resposta com o ref c-8"),
    ("out", {"type": "send", "text": "/msg joao oi", "ref": "c-9"}, {"why": "send"}, {},
     "mensagem privada para joao (/msg); fica na fila desta aba até voltar uma resposta com o ref c-9"),
    ("out", {"type": "send", "text": "/who", "ref": "c-1"}, {"why": "send"}, {},
     "pergunta quem está online (/who); a resposta volta só para esta aba"),
    ("out", {"type": "send", "text": "/help", "ref": "c-1"}, {"why": "send"}, {},
     "pede a lista de comandos (/help)"),
    ("out", {"type": "send", "text": "/xyz", "ref": "c-1"}, {"why": "send"}, {},
     "comando /xyz: o servidor responde só a esta aba"),
    ("out", {"type": "send", "text": "oi", "ref": "c-7"}, {"why": "resend"}, {},
     "reenvio depois da reconexão, com o mesmo ref c-7: se o servidor já a tinha gravado, "
     "devolve a original em vez de gravar de novo"),
    ("out", {"type": "history", "before": "12", "limit": 50, "ref": "r"}, {"why": "request"}, {},
     "pede até 50 mensagens anteriores ao id 12"),
    ("out", {"type": "history", "before": "12", "limit": 1, "ref": "r"}, {"why": "request"}, {},
     "pede 1 mensagem anterior ao id 12: a resposta diz se há mais (more)"),
    ("out", {"type": "read", "id": "46"}, {"why": "read"}, {},
     "marca como lida até a mensagem 46; o servidor avisa todas as suas abas"),
    ("out", {"type": "typing"}, {"why": "typing"}, {},
     "avisa os outros que você está digitando (no máximo um aviso por segundo; nada é gravado)"),
    ("out", {"type": "typing", "to": "joao"}, {"why": "typing"}, {},
     "avisa joao que você está digitando (no máximo um aviso por segundo; nada é gravado)"),
    ("out", {"type": "drop", "ref": "w-1"}, {"why": "drop"}, {},
     "pede ao servidor que corte esta conexão sem close, como faz uma queda de rede"),
    ("out", {"type": "logout"}, {"why": "logout"}, {"loggingOut": True},
     "sair: o servidor invalida o token e fecha a conexão com 1000"),
    # server to client: the login's answer
    ("in", {"type": "welcome", **HISTORY_WELCOME}, {"meant": "welcome"}, {"welcome": HISTORY_WELCOME},
     "o servidor aceitou o login; o histórico termina no id 45"),
    ("in", {"type": "welcome", "last": None, "recovered": False}, {"meant": "welcome"}, {},
     "o servidor aceitou o login; a conversa ainda está vazia"),
    ("in", {"type": "welcome", **REPLAY_WELCOME}, {"meant": "welcome"},
     {"welcome": REPLAY_WELCOME, "resumedFrom": "42"},
     "recovered: true, nada se perdeu: o replay traz o que veio depois do id 42, até o id 45"),
    ("in", {"type": "welcome", "last": "42", "recovered": True}, {"meant": "welcome"},
     {"resumedFrom": "42"}, "recovered: true, nada se perdeu: nada de novo depois do id 42"),
    ("in", {"type": "welcome", **HISTORY_WELCOME}, {"meant": "welcome"},
     {"welcome": HISTORY_WELCOME, "resumedFrom": "42"},
     "recovered: false: não deu para retomar depois do id 42 (outro epoch, ou faltava demais); "
     "o histórico termina no id 45"),
    ("in", {"type": "error", "code": "auth_failed", "detail": "nome ou senha incorretos"},
     {"meant": "refused"}, {"phase": "opening"},
     "login recusado (auth_failed): nome ou senha incorretos; o servidor fecha a conexão com 4001 em seguida"),
    ("in", "Olá mundo!", {"meant": "unexpected"}, {"phase": "opening"},
     "texto que não é um quadro do protocolo: «Olá mundo!»"),
    ("in", {"type": "hello"}, {"meant": "unexpected"}, {"phase": "opening"},
     "resposta inesperada ao login: este servidor não fala o protocolo do wschat"),
    # messages
    ("in", msg("43", "bia"), {"meant": "backlog"}, {"welcome": REPLAY_WELCOME},
     "replay: de bia para todos (id 43), de quando esta aba estava fora"),
    ("in", msg("45", "bia", "ana"), {"meant": "backlog"}, {"welcome": REPLAY_WELCOME},
     "replay: privada de bia para você (id 45), de quando esta aba estava fora; é a última do replay (id = last)"),
    ("in", msg("44", "bia"), {"meant": "backlog"}, {"welcome": HISTORY_WELCOME},
     "histórico: de bia para todos (id 44), de antes deste login"),
    ("in", msg("45", "ana", "joao"), {"meant": "backlog"}, {"welcome": HISTORY_WELCOME},
     "histórico: privada de ana para joao (id 45), de antes deste login; é a última do histórico (id = last)"),
    ("in", msg("46", "ana", ref="c-7"), {"meant": "live"}, {},
     "esta é a sua mensagem de volta: o ref c-7 confirma que o servidor a gravou (id 46)"),
    ("in", msg("46", "Ana"), {"meant": "live"}, {},
     "sua mensagem (id 46), enviada de outra aba ou aparelho: o ref só volta para quem enviou"),
    ("in", msg("47", "joao"), {"meant": "live"}, {}, "mensagem de joao para todos, ao vivo (id 47)"),
    ("in", msg("48", "joao", "ana"), {"meant": "live"}, {},
     "mensagem privada de joao para você, ao vivo (id 48)"),
    ("in", msg("46", "ana", ref="c-7"), {"meant": "confirmed"}, {},
     "resposta ao reenvio: o ref c-7 confirma a mensagem 46, que já tinha chegado no replay; não aparece de novo"),
    # everything else
    ("in", {"type": "users", "online": ["ana", "joao"], "ref": "sync-1"}, {"meant": "barrier"},
     {"welcome": REPLAY_WELCOME}, "resposta ao who da sincronização: o replay acabou; online: ana, joao"),
    ("in", {"type": "users", "online": ["ana"], "ref": "sync-1"}, {"meant": "barrier"},
     {"welcome": HISTORY_WELCOME}, "resposta ao who da sincronização: o histórico acabou; online: ana"),
    ("in", {"type": "users", "online": ["ana", "joao"], "ref": "c-1"}, {"meant": "event"}, {},
     "resposta ao /who: online agora: ana, joao"),
    ("in", {"type": "presence", "user": "joao", "online": True}, {"meant": "event"}, {},
     "joao entrou: abriu a primeira aba ou aparelho"),
    ("in", {"type": "presence", "user": "joao", "online": False}, {"meant": "event"}, {},
     "joao saiu: fechou (ou perdeu) a última aba ou aparelho"),
    ("in", {"type": "history", "messages": [], "more": False, "ref": "r"}, {"meant": "event"}, {},
     "nenhuma mensagem anterior; more: false, é o começo da conversa"),
    ("in", {"type": "history", "messages": [msg("11", "bia")], "more": True, "ref": "r"},
     {"meant": "event"}, {}, "1 mensagem anterior (id 11); more: true, há mais antes"),
    ("in", {"type": "history", "messages": [msg("10", "bia"), msg("11", "bia")], "more": False},
     {"meant": "event"}, {}, "2 mensagens anteriores (ids 10 a 11); more: false, é o começo da conversa"),
    ("in", {"type": "help", "text": "Comandos: ...", "ref": "c-1"}, {"meant": "event"}, {},
     "a ajuda: os comandos que o servidor entende"),
    ("in", {"type": "error", "code": "unknown_user", "detail": "nenhum usuário chamado 'jao'", "ref": "c-3"},
     {"meant": "event"}, {},
     "o servidor recusou o quadro de ref c-3 (unknown_user): nenhum usuário chamado 'jao'; nada foi gravado"),
    ("in", {"type": "error", "code": "invalid_message", "detail": "quadro inválido"}, {"meant": "event"}, {},
     "erro (invalid_message): quadro inválido"),
    ("in", {"type": "error", "code": "rate_limited", "detail": "devagar", "ref": "w-1"},
     {"meant": "drop_refused"}, {"dropping": True}, "o servidor recusou a queda (rate_limited): devagar"),
    ("in", {"type": "read", "id": "46"}, {"meant": "event"}, {},
     "sua posição de leitura foi para o id 46 (vale para todas as suas abas)"),
    ("in", {"type": "typing", "user": "joao"}, {"meant": "event"}, {}, "joao está digitando"),
    ("in", {"type": "typing", "user": "joao", "to": "ana"}, {"meant": "event"}, {},
     "joao está digitando uma mensagem privada para você"),
    ("in", {"type": "welcome", "last": None, "recovered": False}, {"meant": "ignored"}, {},
     "quadro welcome que esta aba não usa agora: ignorado"),
    # socket events
    ("open", None, {"url": "ws://127.0.0.1:8765/ws"}, {"phase": "waiting"},
     "conexão WebSocket aberta (o handshake HTTP terminou em 101); o primeiro quadro é o login"),
    ("close", None, {"code": 1006, "reason": ""}, {"dropping": True},
     "1006: a conexão caiu sem close: foi a queda que você pediu; reconecta e retoma"),
    ("close", None, {"code": 1006, "reason": ""}, {},
     "1006: a conexão caiu sem close (rede ou servidor); reconecta e retoma"),
    ("close", None, {"code": 1006, "reason": ""}, {"phase": "waiting"},
     "1006: não conseguiu conectar (servidor fora do ar, ou sem rede); tenta de novo"),
    ("close", None, {"code": 1006, "reason": ""}, {"phase": "opening"},
     "1006: a conexão caiu antes do welcome; tenta de novo"),
    ("close", None, {"code": 1000, "reason": ""}, {"loggingOut": True},
     "1000: fechamento normal, depois do logout; não reconecta"),
    ("close", None, {"code": 1000, "reason": ""}, {}, "1000: fechamento normal; não reconecta"),
    ("close", None, {"code": 1001, "reason": "bye"}, {},
     "1001: o servidor está saindo (reinício ou desligamento); reconecta e retoma (motivo: «bye»)"),
    ("close", None, {"code": 1009, "reason": ""}, {},
     "1009: quadro grande demais (o limite é 64 KiB); não reconecta"),
    ("close", None, {"code": 1011, "reason": ""}, {},
     "1011: erro no servidor, ou ping sem resposta; reconecta e retoma"),
    ("close", None, {"code": 1012, "reason": ""}, {},
     "1012: o servidor está reiniciando (um deploy); reconecta e retoma"),
    ("close", None, {"code": 1013, "reason": ""}, {},
     "1013: o servidor está sobrecarregado; reconecta e retoma, com espera"),
    ("close", None, {"code": 4001, "reason": ""}, {"phase": "opening"}, "4001: login recusado; não reconecta"),
    ("close", None, {"code": 4008, "reason": ""}, {},
     "4008: esta aba não lia rápido o bastante e o servidor a desligou; reconecta e retoma"),
    ("close", None, {"code": 4999, "reason": ""}, {},
     "4999: um código que esta aba não conhece; não reconecta"),
    ("error", None, {"detail": ""}, {},
     "o navegador avisou um erro na conexão (sem detalhes, por segurança); o close vem em seguida"),
    ("timeout", None, {}, {"phase": "opening"}, "10 s sem welcome: desiste desta conexão e tenta de novo"),
    ("wait", None, {"attempt": 0, "delay": 0.1234}, {"phase": "waiting"},
     "reconectando em 123 ms (tentativa 1): uma espera sorteada, com um teto que dobra a cada tentativa"),
    ("wait", None, {"attempt": 3, "delay": 1.26}, {"phase": "waiting"},
     "reconectando em 1,3 s (tentativa 4): uma espera sorteada, com um teto que dobra a cada tentativa"),
    ("wait", None, {"attempt": 0, "delay": 0.0002}, {"phase": "waiting"},
     "reconectando em menos de 1 ms (tentativa 1): uma espera sorteada, com um teto que dobra a cada tentativa"),
]


def test_the_panel_explains_every_frame_and_event_in_portuguese(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    """inspector.js's pure functions, in the page's own module: the meaning of each frame type
    of PROTOCOL.md and each socket event (MEANINGS), the masking of secrets, the time format,
    and the log's bound."""
    page = new_tab(contexts(), chat.http_url)
    cases = [
        [d, f if f is None or isinstance(f, str) else json.dumps(f), info, {**BASE_STATE, **state}]
        for d, f, info, state, _ in MEANINGS
    ]
    result = page.evaluate(
        """async (cases) => {
          const m = await import("/inspector.js");
          const log = new m.ProtocolLog(3, () => 1764090000123);
          for (let i = 0; i < 5; i += 1) log.record("in", `{"type":"read","id":"${i}"}`, {meant: "event"}, {});
          log.record("out", '{"type":"login","user":"ana","password":"s3cret-pw","token":"t0k3n"}', {why: "login"}, {});
          return {
            lines: cases.map(([d, f, info, state]) => m.explain(d, f, info, state)),
            types: cases.map(([d, f, info]) => m.typeOf(d, f, info)),
            masked: [
              m.maskRaw('{"type":"welcome","user":"ana","token":"abc","online":["ana"]}'),
              m.maskRaw('/login ana minha senha'),
              m.maskRaw('{"type":"login","password":"p\\\\"q","user":"ana"'),
              m.maskRaw('{"type":"message","text":"o token é \\\\"token\\\\""}'),
            ],
            kept: log.entries().map((e) => e.n),
            size: log.size,
            stored: log.entries().at(-1).raw,
            row: m.rowOf(log.entries().at(-1), "UTC"),
            times: [m.formatTime(0, "UTC"), m.formatTime(45296789, "UTC")],
          };
        }""",
        cases,
    )
    for (_, frame, _, _, expected), line in zip(MEANINGS, result["lines"], strict=True):
        assert line == expected, frame
    assert len(set(result["lines"])) == len(MEANINGS)  # each case says something of its own
    assert set(result["types"]) >= {
        "login", "who", "send", "history", "read", "typing", "drop", "logout", "welcome", "error",
        "message", "users", "presence", "help", "open", "close 1006", "sem welcome",
        "espera", "texto",
    }
    assert result["masked"] == [
        '{"type":"welcome","user":"ana","token":"«oculto»","online":["ana"]}',
        "/login ana «oculto»",
        '{"type":"login","password":"«oculto»","user":"ana"',
        '{"type":"message","text":"o token é \\"token\\""}',
    ]
    assert result["kept"] == [3, 4, 5] and result["size"] == 3
    assert "s3cret-pw" not in result["stored"] and "t0k3n" not in result["stored"]
    assert result["row"] == {
        "n": 5, "time": "17:00:00,123", "direction": "↑ enviado", "type": "login",
        "line": "login com nome e senha (o primeiro login de um nome cria a conta)", "replay": False,
    }
    assert result["times"] == ["00:00:00,000", "12:34:56,789"]


# --------------------------------------------------------------------------- framed in a page of this machine


#: A page like JupyterLab's output in notebook 03: the chat twice, side by side, in frames
#: with names (each frame keeps its own login: app.js keys its sessionStorage by window.name).
FRAMING_PAGE = """<!doctype html><meta charset="utf-8"><title>notebook</title>
<iframe name="aba-1" src="{url}" width="560" height="640"></iframe>
<iframe name="aba-2" src="{url}" width="560" height="640"></iframe>"""


@contextmanager
def framing_server(html: str) -> Iterator[int]:
    """A plain HTTP server on 127.0.0.1 that answers every GET with ``html``: a page of this
    machine on another origin than the chat, as JupyterLab is. Yields its port."""
    body = html.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_page_of_this_machine_frames_the_chat_twice_and_each_frame_keeps_its_login(
    chat: Chat, browser: Browser
) -> None:
    """A page of this machine on another origin (as JupyterLab on localhost:8888 is) shows
    the loopback server's page in two frames, each its own tab; a page whose origin the
    policy does not name (here notebook.localhost, also this machine) may not frame it.
    The frames load the chat as http://localhost:PORT/, as notebook 03 does: the same site as
    the page, so that the frames may keep their state (a browser may deny sessionStorage to a
    frame of another site) and a reload resumes each one."""
    context = browser.new_context(viewport={"width": 1200, "height": 700})
    with framing_server(FRAMING_PAGE.format(url=f"http://localhost:{chat.port}/")) as port:
        try:
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"http://localhost:{port}/lab")
            one = page.frame_locator("iframe[name=aba-1]")
            two = page.frame_locator("iframe[name=aba-2]")
            for frame, user in ((one, "ana"), (two, "joao")):
                frame.get_by_test_id("login-user").fill(user)
                frame.get_by_test_id("login-password").fill(PASSWORDS[user])
                frame.get_by_test_id("login-submit").click()
                expect(frame.get_by_test_id("status")).to_have_attribute("data-state", "online")
            one.get_by_test_id("input").fill("oi, joao, do quadro 1")
            one.get_by_test_id("send").click()
            for frame in (one, two):
                expect(frame.get_by_test_id("message").locator(".texto")).to_have_text(
                    ["oi, joao, do quadro 1"])
            # A reload of the notebook's page: each frame resumes as its own user.
            page.reload()
            expect(one.locator("#me")).to_have_text("ana")
            expect(two.locator("#me")).to_have_text("joao")
            for frame in (one, two):
                expect(frame.get_by_test_id("status")).to_have_attribute("data-state", "online")
                expect(frame.get_by_test_id("message")).to_have_count(1)
            assert errors == []

            other = context.new_page()
            refusals: list[str] = []
            other.on("console", lambda message: refusals.append(message.text))
            with other.expect_event("load"):
                other.goto(f"http://notebook.localhost:{port}/lab")
            embedded = [f for f in other.frames if f != other.main_frame]
            assert len(embedded) == 2
            for page_frame in embedded:  # an error page instead of the chat
                assert page_frame.locator("#login-user").count() == 0, page_frame.url
            assert any("frame-ancestors" in text for text in refusals), refusals
        finally:
            context.close()


# --------------------------------------------------------------------------- details a new user trips on


def test_after_logging_out_no_reconnect_button_is_left_that_does_nothing(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    page = tab(contexts(), chat, "ana")
    reconnect = page.get_by_role("button", name="reconectar")
    for leave in ("button", "command"):
        if leave == "button":
            page.get_by_role("button", name="sair").click()
        else:
            send(page, "/logout")
        expect(page.get_by_test_id("login-user")).to_be_visible()
        expect(reconnect).to_be_hidden()
        expect_state(page, "offline")
        login(page, "ana", PASSWORDS["ana"])
    expect(reconnect).to_be_hidden()


def test_the_login_page_shows_no_connection_badge_before_anyone_tried(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    page = tab(contexts(), chat)
    expect(page.get_by_test_id("login-user")).to_be_visible()
    status = page.get_by_test_id("status")
    expect(status).to_be_hidden()
    expect(page.get_by_text("desconectado")).to_have_count(0)
    login(page, "ana", PASSWORDS["ana"])
    expect(status).to_be_visible()
    expect(status).to_have_text("conectado")


def test_the_online_list_says_it_is_stale_while_the_server_is_down(
    chat: Chat, contexts: Callable[[], BrowserContext]
) -> None:
    ana = tab(contexts(), chat, "ana")
    tab(contexts(), chat, "joao")
    names = online_names(ana)
    expect(names).to_have_text([re.compile(r"^ana"), re.compile(r"^joao")])
    note = ana.get_by_test_id("online-stale")
    expect(note).to_be_hidden()

    def dot_colors() -> list[str]:
        colors: list[str] = names.evaluate_all(
            "els => els.map(e => getComputedStyle(e, '::before').color)")
        return colors

    live = dot_colors()
    assert len(set(live)) == 1
    chat.stop()
    expect_state(ana, "reconnecting")
    expect(note).to_be_visible()
    expect(note).to_contain_text("lista de antes da queda")
    expect(ana.locator(".online")).to_have_attribute("data-stale", "true")
    stale = dot_colors()
    assert len(stale) == 2 and all(color != live[0] for color in stale), (live, stale)
    chat.start()
    expect_state(ana, "online")
    expect(note).to_be_hidden()
    assert dot_colors()[0] == live[0]


def test_load_older_shows_only_when_older_messages_exist(
    chat_factory: Callable[..., Chat], contexts: Callable[[], BrowserContext]
) -> None:
    chat = chat_factory(history=5)
    older = "carregar anteriores"
    empty = tab(contexts(), chat, "ana")  # nothing said yet
    expect(empty.locator("#start")).to_be_visible()
    expect(empty.get_by_role("button", name=older)).to_be_hidden()
    post(chat, "bia", ["um", "dois", "três"])  # the whole conversation fits in the history
    whole = tab(contexts(), chat, "joao")
    expect_texts(whole, ["um", "dois", "três"])
    expect(whole.locator("#start")).to_be_visible()  # "início da conversa"
    expect(whole.get_by_role("button", name=older)).to_be_hidden()
    post(chat, "bia", ["quatro", "cinco", "seis"])  # now one is older than the history
    part = tab(contexts(), chat, "bia")
    expect_texts(part, ["dois", "três", "quatro", "cinco", "seis"])
    expect(part.get_by_role("button", name=older)).to_be_visible()
    expect(part.locator("#start")).to_be_hidden()
    part.get_by_role("button", name=older).click()
    expect_texts(part, ["um", "dois", "três", "quatro", "cinco", "seis"])
    expect(part.get_by_role("button", name=older)).to_be_hidden()
    expect(part.locator("#start")).to_be_visible()


def test_long_lines_wrap_at_phone_width(
    chat: Chat, browser: Browser, contexts: Callable[[], BrowserContext]
) -> None:
    phone = browser.new_context(viewport={"width": 360, "height": 640}, is_mobile=True)
    try:
        page = new_tab(phone, chat.http_url)
        login(page, "ana", PASSWORDS["ana"])
        long_word = "a" * 600
        send(page, long_word)
        expect_texts(page, [long_word])
        widths = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert widths[0] <= widths[1], f"the page scrolls sideways: {widths}"
        for hook in ("input", "send", "online", "status"):
            expect(page.get_by_test_id(hook)).to_be_in_viewport()
    finally:
        phone.close()


def test_the_screenshot_script_draws_its_pictures(tmp_path: Path, chromium: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot.py"), str(tmp_path)],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "WSCHAT_CHROMIUM": chromium},
    )
    assert result.returncode == 0, result.stderr
    for name in ("duas-abas.png", "novas-mensagens.png", "protocolo.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        # two tabs side by side, or one with the panel beside the chat
        assert width > height > 300, (name, width, height)
    # The drop-and-return animation: a few frames of two tabs, small enough for a README.
    from PIL import Image

    animation = tmp_path / "queda-e-volta.gif"
    assert animation.stat().st_size <= 400 * 1024, animation.stat().st_size
    with Image.open(animation) as gif:
        assert gif.format == "GIF" and getattr(gif, "is_animated", False)
        assert getattr(gif, "n_frames", 1) == 5
        assert gif.info.get("loop") == 0  # it plays again
        assert gif.width > 900 and gif.height > 600, gif.size
