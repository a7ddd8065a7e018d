"""Draw the screenshots of the browser client (README, notebook 03), tabs side by side:

- docs/img/duas-abas.png: one user in two tabs plus another user (what the test asks): ana
  in two tabs of one browser, joao in a third, chatting in public and in private, every
  tab showing the same conversation;
- docs/img/novas-mensagens.png: ana back after joao wrote, the "novas mensagens" divider at
  her read position and the line "joao está digitando…" while joao types;
- docs/img/protocolo.png: the page with its protocol panel open ("Ver o protocolo") after a
  "Simular queda": the 1006, the wait, the login with resume (its JSON open, the token
  hidden), recovered: true and the replayed message;
- docs/img/queda-e-volta.gif: an animation of two tabs, ana (panel open) and joao: a message,
  "Simular queda", the 1006, joao's two messages while ana is away, and ana's return (the
  resume, recovered: true, the two messages once each, marked "reenviada"). Its frames are
  Chromium screenshots, assembled with Pillow.

    .venv/bin/python scripts/screenshot.py [OUT_DIR]

Each picture gets its own chat server (memory store, free port on 127.0.0.1) and a real
headless Chromium (the one the browser tests use: WSCHAT_CHROMIUM, or Chromium/Chrome found
on the system). tests/client/test_browser.py runs it, so it cannot drift from the client.
"""

from __future__ import annotations

import base64
import html
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # browserkit: finding and launching the browser

from browserkit import (  # noqa: E402
    HOLD_NETWORK,
    MISSING_HELP,
    find_chromium,
    hold_network,
    launch,
    login,
    new_tab,
    send,
)
from PIL import Image  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from wschat.server.thread import ServerThread  # noqa: E402

DEFAULT_DIR = ROOT / "docs" / "img"
TWO_TABS = "duas-abas.png"
UNREAD = "novas-mensagens.png"
PROTOCOL = "protocolo.png"
DROP = "queda-e-volta.gif"
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


def panel_rows(page: Page) -> Any:
    return page.get_by_test_id("protocol-row")


def open_panel(page: Page) -> None:
    page.get_by_role("button", name="Ver o protocolo").click()
    expect(page.get_by_role("complementary", name="Protocolo")).to_be_visible()


def scroll_rows_to(page: Page, selector: str) -> None:
    """Scroll the panel's list so that the last row matching ``selector`` is at its top."""
    page.get_by_test_id("protocol-rows").evaluate(
        "(list, s) => { const rows = list.querySelectorAll(s); "
        "list.scrollTop = rows[rows.length - 1].offsetTop - list.offsetTop; }",
        selector,
    )


def drop_and_return(ana: Page, joao: Page, missed: Sequence[str], between: Any = None) -> None:
    """ana presses "Simular queda"; her tab stays off the network (browserkit.HOLD_NETWORK)
    until joao has sent ``missed``, as in a real outage; then it comes back and resumes.
    ``between(step)`` is called at "dropped", "missed" and "back" (for the animation)."""
    hold_network(ana, True)
    ana.get_by_role("button", name="Simular queda").click()
    expect(ana.locator('[data-testid=protocol-row][data-type="espera"]').first).to_be_attached()
    if between is not None:
        between("dropped")
    for line in missed:
        send(joao, line)
    expect(joao.get_by_test_id("message").filter(has_text=missed[-1])).to_have_count(1)
    if between is not None:
        between("missed")
    hold_network(ana, False)
    ana.evaluate("() => dispatchEvent(new Event('online'))")  # the network is back: retry now
    expect_online(ana)
    expect(ana.locator(".selo.reenvio")).to_have_count(len(missed))
    expect(ana.locator('[data-testid=protocol-row][data-type="users"]').last).to_be_attached()
    if between is not None:
        between("back")


def draw_protocol(browser: Browser, out: Path) -> None:
    """ana with the panel open beside the chat, after a drop while joao wrote: the resumed
    login's JSON is open (resume after her last id, the token hidden)."""
    with ServerThread() as server:
        ana_context = browser.new_context(viewport={"width": 1180, "height": 760}, locale="pt-BR")
        ana_context.add_init_script(HOLD_NETWORK)
        ana = new_tab(ana_context, server.http_url)
        joao = new_tab(browser.new_context(viewport=NARROW_TAB, locale="pt-BR"), server.http_url)
        login(ana, "ana", "senha-da-ana")
        login(joao, "joao", "senha-do-joao")
        send(joao, "oi, ana! viu o placar?")
        send(ana, "vi! vou simular uma queda")
        expect(ana.get_by_test_id("message")).to_have_count(2)
        open_panel(ana)
        drop_and_return(ana, joao, ["caiu? te mandei o resumo"])
        login_row = ana.locator('[data-testid=protocol-row][data-type="login"]').last
        login_row.locator("summary").click()
        expect(login_row.get_by_test_id("protocol-json")).to_contain_text('"resume"')
        login_row.scroll_into_view_if_needed()
        side_by_side(browser.new_page(), [("ana: Ver o protocolo, depois de Simular queda", shot(ana))], out)


def titled(page: Page, title: str, images: Sequence[tuple[str, str]]) -> Image.Image:
    """One frame of the animation: a title line over screenshots side by side (drawn by
    Chromium, like side_by_side), as a Pillow image."""
    cells = "".join(
        f'<figure><figcaption>{html.escape(caption)}</figcaption><img src="{url}"></figure>'
        for caption, url in images
    )
    page.set_content(
        "<style>body{margin:0;background:#c9d1dc;font:600 15px 'Liberation Sans',sans-serif}"
        "main{padding:12px 16px 16px;width:max-content}"
        "h1{margin:0 0 10px;font-size:19px;color:#1d2430}"
        "div{display:flex;gap:16px}"
        "figure{margin:0;background:#fff;border-radius:8px;overflow:hidden;"
        "box-shadow:0 2px 8px #0003}"
        "figcaption{padding:8px 12px;background:#3b4452;color:#fff}"
        "img{display:block}</style>"
        f"<main><h1>{html.escape(title)}</h1><div>{cells}</div></main>"
    )
    return Image.open(io.BytesIO(page.locator("main").screenshot())).convert("RGB")


def save_animation(frames: Sequence[tuple[Image.Image, int]], out: Path) -> None:
    """An animated GIF of (frame, milliseconds), looping, with one palette for all frames (so
    colours do not flicker) and Pillow storing only what changed from one frame to the next."""
    strip = Image.new("RGB", (frames[0][0].width, frames[0][0].height * len(frames)))
    for n, (frame, _) in enumerate(frames):
        strip.paste(frame, (0, n * frame.height))
    palette = strip.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    images = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame, _ in frames]
    out.parent.mkdir(parents=True, exist_ok=True)
    images[0].save(
        out, save_all=True, append_images=images[1:], duration=[ms for _, ms in frames], loop=0,
        optimize=True, disposal=1,
    )


def draw_drop_animation(browser: Browser, out: Path) -> None:
    """Two tabs, ana (panel open, under the chat at this width) and joao: a message,
    "Simular queda" and the 1006, joao's two messages while ana is away, ana back with
    recovered: true and the two messages once each, and the resumed login's JSON."""
    tab_size = {"width": 600, "height": 860}
    with ServerThread() as server:
        ana_context = browser.new_context(viewport=tab_size, locale="pt-BR")
        ana_context.add_init_script(HOLD_NETWORK)
        ana = new_tab(ana_context, server.http_url)
        joao = new_tab(browser.new_context(viewport={**tab_size, "width": 440}, locale="pt-BR"),
                       server.http_url)
        login(ana, "ana", "senha-da-ana")
        login(joao, "joao", "senha-do-joao")
        open_panel(ana)
        canvas = browser.new_page()
        frames: list[tuple[Image.Image, int]] = []

        def frame(title: str, ms: int) -> None:
            images = [("aba da ana (protocolo aberto)", shot(ana)), ("aba do joao", shot(joao))]
            frames.append((titled(canvas, title, images), ms))

        send(joao, "oi, ana! tudo certo?")
        expect(ana.get_by_test_id("message")).to_have_count(1)
        frame("1. O João escreve; a Ana vê a mensagem e o quadro no protocolo", 2500)
        steps = {
            "dropped": ("2. A Ana aperta «Simular queda»: o servidor corta a conexão (1006)", 3000),
            "missed": ("3. Enquanto ela está fora, o João manda duas mensagens", 3000),
            "back": ("4. A Ana volta: login com resume, recovered: true, e as duas chegam uma vez", 4500),
        }
        first_row = {"dropped": '[data-type="drop"]', "missed": '[data-type="drop"]',
                     "back": '[data-type="login"]'}

        def step(name: str) -> None:
            scroll_rows_to(ana, first_row[name])
            frame(*steps[name])

        drop_and_return(ana, joao, ["você caiu?", "te mandei o resumo da aula"], step)
        login_row = ana.locator('[data-testid=protocol-row][data-type="login"]').last
        login_row.locator("summary").click()
        expect(login_row.get_by_test_id("protocol-json")).to_contain_text('"resume"')
        login_row.scroll_into_view_if_needed()
        frame("5. O login da volta: resume depois do último id visto; o token fica oculto", 4500)
        save_animation(frames, out)


def main(argv: list[str]) -> int:
    folder = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    chromium = find_chromium()
    if chromium is None:
        print(f"screenshot: {MISSING_HELP}", file=sys.stderr)
        return 1
    expect.set_options(timeout=20_000)  # a tab back from a drop may wait out its backoff
    with sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        try:
            draw_two_tabs(browser, folder / TWO_TABS)
            draw_unread(browser, folder / UNREAD)
            draw_protocol(browser, folder / PROTOCOL)
            draw_drop_animation(browser, folder / DROP)
        finally:
            browser.close()
    for name in (TWO_TABS, UNREAD, PROTOCOL, DROP):
        print(folder / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
