"""Helpers for the tests that drive the browser client in a real Chromium (tests/client/test_browser.py)
and for scripts/screenshot.py.

Playwright's own browser download does not work offline, so the tests use a browser that is
already installed: ``WSCHAT_CHROMIUM`` if set, else Chromium or Chrome found on the PATH or in
the usual places on macOS and Windows. ``make test`` installs Debian's chromium when it runs as
root and finds none (as CI does). Without a browser the tests skip with a loud reason, except
under ``CI=true``, where a missing browser fails them: CI must never pass by skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

__all__ = [
    "CHROMIUM_FLAGS",
    "HOLD_NETWORK",
    "MISSING_HELP",
    "browser_verdict",
    "find_chromium",
    "hold_network",
    "launch",
    "login",
    "new_tab",
    "send",
]

#: Flags for a headless Chromium on a machine without network: no sandbox (root in CI), and
#: no background connections to Google's hosts (which a closed network refuses, noisily).
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_KNOWN_PATHS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files\Chromium\Application\chrome.exe",
)

MISSING_HELP = (
    "no Chromium/Chrome found for the browser tests. On Debian/Ubuntu, `make test` as root "
    "installs it (or run: sudo apt-get install chromium); on macOS/Windows install Chrome or "
    "Chromium, or point WSCHAT_CHROMIUM at the browser's executable (see docs/development.md)"
)


def find_chromium(env: Mapping[str, str] = os.environ) -> str | None:
    """The browser to drive: ``WSCHAT_CHROMIUM`` if set (None if it names no file), else the
    first Chromium or Chrome on the PATH or at a usual install path."""
    explicit = env.get("WSCHAT_CHROMIUM", "").strip()
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in _NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    local = env.get("LOCALAPPDATA")
    candidates = [*_KNOWN_PATHS]
    if local:
        candidates.append(str(Path(local) / "Google" / "Chrome" / "Application" / "chrome.exe"))
    return next((path for path in candidates if Path(path).is_file()), None)


def browser_verdict(
    chromium: str | None, playwright_error: str | None, env: Mapping[str, str] = os.environ
) -> tuple[Literal["run", "skip", "fail"], str]:
    """Whether the browser tests can run: ("run", path), or ("skip" | "fail", reason).

    A missing browser or Playwright is a skip on a person's machine and a failure under
    ``CI=true``.
    """
    if playwright_error is None and chromium is not None:
        return "run", chromium
    if playwright_error is not None:
        reason = f"the playwright package cannot be imported ({playwright_error}); run `make install`"
    elif env.get("WSCHAT_CHROMIUM", "").strip():
        reason = f"WSCHAT_CHROMIUM={env['WSCHAT_CHROMIUM']!r} is not a file"
    else:
        reason = MISSING_HELP
    if env.get("CI", "").strip().lower() in ("true", "1", "yes"):
        return "fail", f"CI=true and {reason}"
    return "skip", f"BROWSER TESTS SKIPPED: {reason}"


#: An init script (``context.add_init_script(HOLD_NETWORK)``) for a tab that must stay away
#: from the network for a while, as in a real outage on its side only: while held
#: (:func:`hold_network`), each new WebSocket of the tab goes to a closed port of 127.0.0.1
#: instead and fails as a refused connection does (``error``, then ``close`` 1006), so the tab
#: keeps retrying with its backoff; sockets already open are not touched. Other tabs, and the
#: tab once released, connect as usual.
HOLD_NETWORK = """
(() => {
  let heldAt = null;
  window.__wschatHoldNetwork = (url) => { heldAt = url; };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(url, protocols) {
      super(heldAt ?? url, protocols);
    }
  };
})();
"""


def closed_port() -> int:
    """A port of 127.0.0.1 where nothing listens (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def hold_network(page: Page, held: bool) -> None:
    """Hold or release a tab's new connections (the tab's context carries HOLD_NETWORK)."""
    url = f"ws://127.0.0.1:{closed_port()}/ws" if held else None
    page.evaluate("(url) => window.__wschatHoldNetwork(url)", url)


def launch(playwright: Playwright, chromium: str) -> Browser:
    """Headless Chromium at ``chromium`` (never a browser that Playwright downloads)."""
    return playwright.chromium.launch(
        executable_path=chromium, headless=True, args=list(CHROMIUM_FLAGS)
    )


def new_tab(context: BrowserContext, url: str) -> Page:
    """A new tab on the chat page, with page errors turned into test failures."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wschat_errors = errors  # type: ignore[attr-defined]
    return page


def login(page: Page, user: str, password: str) -> None:
    """Log in through the form and wait until the tab is connected and caught up."""
    from playwright.sync_api import expect

    page.get_by_test_id("login-user").fill(user)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("status")).to_have_attribute("data-state", "online")
    expect(page.get_by_test_id("online")).to_contain_text(re.compile(re.escape(user), re.I))


def send(page: Page, text: str) -> None:
    """Type a line into the input and press the send button."""
    page.get_by_test_id("input").fill(text)
    page.get_by_test_id("send").click()
