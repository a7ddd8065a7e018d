"""The browser client (wschat/static) in a real, headless Chromium driven by Playwright.

Every test starts its own chat server (SQLite file in tmp_path, free port on 127.0.0.1) and
opens tabs on it as a person would: the login form, the input line, the buttons. What a tab
shows is read through the page's ``data-testid`` hooks. Waiting is Playwright's auto-waiting
``expect``; its timeout only bounds a failure.

"Exactly once" is checked on screen: each tab's message list must equal the expected
sequence, element for element, so a duplicate or a gap fails. The client does not filter
duplicate ids (exactly-once is the server's job), so a server bug would show here too; the
one message it does not add again is the server's answer to a resend of the tab's own pending
send whose message the tab already shows (the contract's acknowledgment, see chat.js).

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
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from browserkit import browser_verdict, find_chromium, launch, login, new_tab, send
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
    expect(page.locator("#login-error")).to_have_text(re.compile("senha incorretos"))
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
    for name in ("duas-abas.png", "novas-mensagens.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        width = int.from_bytes(data[16:20], "big")
        height = int.from_bytes(data[20:24], "big")
        assert width > height > 300, (name, width, height)  # two tabs side by side
