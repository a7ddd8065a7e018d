"""Draw docs/img/duas-abas.png: the browser client in two tabs side by side (ana and joao).

    .venv/bin/python scripts/screenshot.py [OUT.png]

Starts a chat server (memory store, free port on 127.0.0.1), logs in ana and joao in a real
headless Chromium (the one the browser tests use: WSCHAT_CHROMIUM, or Chromium/Chrome found
on the system), has them chat in public and in private, and puts the two tabs' screenshots
side by side in one PNG. tests/client/test_browser.py runs it, so it cannot drift from the client.
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # browserkit: finding and launching the browser

from browserkit import MISSING_HELP, find_chromium, launch, login, new_tab, send  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from wschat.server.thread import ServerThread  # noqa: E402

DEFAULT_OUT = ROOT / "docs" / "img" / "duas-abas.png"
TAB = {"width": 560, "height": 620}


def shot(page: Page) -> str:
    """The tab as a data: URL (PNG)."""
    return "data:image/png;base64," + base64.b64encode(page.screenshot()).decode()


def side_by_side(page: Page, left: tuple[str, str], right: tuple[str, str], out: Path) -> None:
    """Lay two screenshots out with a caption each and save the whole as one PNG."""
    cells = "".join(
        f'<figure><figcaption>{caption}</figcaption><img src="{url}"></figure>'
        for caption, url in (left, right)
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


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else DEFAULT_OUT
    chromium = find_chromium()
    if chromium is None:
        print(f"screenshot: {MISSING_HELP}", file=sys.stderr)
        return 1
    with ServerThread() as server, sync_playwright() as playwright:
        browser = launch(playwright, chromium)
        ana_context = browser.new_context(viewport=TAB, locale="pt-BR")
        joao_context = browser.new_context(viewport=TAB, locale="pt-BR")
        ana = new_tab(ana_context, server.http_url)
        joao = new_tab(joao_context, server.http_url)
        login(ana, "ana", "senha-da-ana")
        login(joao, "joao", "senha-do-joao")
        send(joao, "oi, ana! tudo certo por aí?")
        send(ana, "tudo ótimo! estou testando o wschat em duas abas")
        send(ana, "/msg joao esta é privada: só nós dois vemos")
        send(joao, "<b>isto não vira negrito</b>: o texto é sempre só texto")
        for page in (ana, joao):
            expect(page.get_by_test_id("message")).to_have_count(4)
            expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")
        ana.get_by_test_id("input").fill("/who")
        expect(ana.get_by_test_id("online")).to_contain_text(re.compile("joao"))
        images = (("aba 1 — ana", shot(ana)), ("aba 2 — joao", shot(joao)))
        side_by_side(browser.new_page(), *images, out)
        browser.close()
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
