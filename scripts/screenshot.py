"""Draw the screenshots of the browser client (README, notebook 03), tabs side by side:

- docs/img/duas-abas.png: one user in two tabs plus another user (what the test asks): ana
  in two tabs of one browser, joao in a third, chatting in public and in private, every
  tab showing the same conversation;
- docs/img/novas-mensagens.png: ana back after joao wrote, the "novas mensagens" divider at
  her read position and the line "joao está digitando…" while joao types.

    .venv/bin/python scripts/screenshot.py [OUT_DIR]

Each picture gets its own chat server (memory store, free port on 127.0.0.1) and a real
headless Chromium (the one the browser tests use: WSCHAT_CHROMIUM, or Chromium/Chrome found
on the system). tests/client/test_browser.py runs it, so it cannot drift from the client.
"""

from __future__ import annotations

import base64
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # browserkit: finding and launching the browser

from browserkit import MISSING_HELP, find_chromium, launch, login, new_tab, send  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from wschat.server.thread import ServerThread  # noqa: E402

DEFAULT_DIR = ROOT / "docs" / "img"
TWO_TABS = "duas-abas.png"
UNREAD = "novas-mensagens.png"
TAB = {"width": 560, "height": 620}
#: Three tabs in a row stay readable on a page when each is narrower.
NARROW_TAB = {"width": 440, "height": 560}


def shot(page: Page) -> str:
    """The tab as a data: URL (PNG)."""
    return "data:image/png;base64," + base64.b64encode(page.screenshot()).decode()


def side_by_side(page: Page, images: Sequence[tuple[str, str]], out: Path) -> None:
    """Lay screenshots out in a row, with a caption each, and save the whole as one PNG."""
    cells = "".join(
        f'<figure><figcaption>{caption}</figcaption><img src="{url}"></figure>'
        for caption, url in images
    )
    page.set_content(
        "<style>body{margin:0;background:#c9d1dc;font:600 15px 'Liberation Sans',sans-serif}"
        "main{display:flex;gap:16px;padding:16px;width:max-content}"
        "figure{margin:0;background:#fff;border-radius:8px;overflow:hidden;"
        "box-shadow:0 2px 8px #0003}"
        "figcaption{padding:8px 12px;background:#3b4452;color:#fff}"
        "img{display:block}</style>"
        f"<main>{cells}</main>"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    page.locator("main").screenshot(path=str(out))


def expect_online(*pages: Page) -> None:
    for page in pages:
        expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")


def draw_two_tabs(browser: Browser, out: Path) -> None:
    """ana in two tabs of one browser (each tab its own session) and joao in another
    browser: a public exchange, ana's private line to joao sent from her first tab, and a
    line from her second tab. Every tab shows the same four messages."""
    with ServerThread() as server:
        ana_browser = browser.new_context(viewport=NARROW_TAB, locale="pt-BR")
        ana1 = new_tab(ana_browser, server.http_url)
        ana2 = new_tab(ana_browser, server.http_url)
        joao = new_tab(browser.new_context(viewport=NARROW_TAB, locale="pt-BR"), server.http_url)
        login(ana1, "ana", "senha-da-ana")
        login(ana2, "ana", "senha-da-ana")
        login(joao, "joao", "senha-do-joao")
        send(joao, "oi, ana! tudo certo por aí?")
        send(ana1, "tudo ótimo! estou aqui em duas abas")
        send(ana1, "/msg joao esta é privada: só nós dois vemos")
        expect(ana2.get_by_test_id("message")).to_have_count(3)
        send(ana2, "e esta eu mandei da outra aba")
        for page in (ana1, ana2, joao):
            expect(page.get_by_test_id("message")).to_have_count(4)
        expect_online(ana1, ana2, joao)
        images = [("aba 1 — ana", shot(ana1)), ("aba 2 — ana", shot(ana2)),
                  ("aba 3 — joao", shot(joao))]
        side_by_side(browser.new_page(), images, out)


def draw_unread(browser: Browser, out: Path) -> None:
    """ana reads, closes her tab, joao writes three lines; ana comes back in a new tab: the
    divider sits at her read position, and joao's typing shows under the list."""
    with ServerThread() as server:
        ana_context = browser.new_context(viewport=TAB, locale="pt-BR")
        first = new_tab(ana_context, server.http_url)
        joao = new_tab(browser.new_context(viewport=TAB, locale="pt-BR"), server.http_url)
        login(first, "ana", "senha-da-ana")
        login(joao, "joao", "senha-do-joao")
        send(joao, "bom dia! alguém viu a nota da prova?")
        send(first, "ainda não, vou almoçar e já volto")
        expect(first.get_by_test_id("message")).to_have_count(2)
        newest = first.get_by_test_id("message").last.get_attribute("data-id")
        # The tab in view has told the server she read up to her own line.
        expect(first.get_by_test_id("messages")).to_have_attribute("data-read", str(newest))
        first.close()
        for line in ("saiu a nota!", "passamos todos, até o Pedro", "vamos comemorar amanhã?"):
            send(joao, line)
        ana = new_tab(ana_context, server.http_url)
        login(ana, "ana", "senha-da-ana")
        expect(ana.get_by_test_id("message")).to_have_count(5)
        expect(ana.get_by_test_id("unread-divider")).to_be_visible()
        joao.get_by_test_id("input").press_sequentially("e a festa vai ser", delay=40)
        expect(ana.get_by_test_id("typing")).to_have_text("joao está digitando…")
        expect_online(ana, joao)
        images = [("ana volta: novas mensagens", shot(ana)), ("joao digitando", shot(joao))]
        side_by_side(browser.new_page(), images, out)


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    chromium = find_chromium()
    if chromium is None:
        print(f"screenshot: {MISSING_HELP}", file=sys.stderr)
        return 1
    with sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        try:
            draw_two_tabs(browser, folder / TWO_TABS)
            draw_unread(browser, folder / UNREAD)
        finally:
            browser.close()
    print(folder / TWO_TABS)
    print(folder / UNREAD)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
