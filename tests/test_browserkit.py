"""The browser tests' own switch: run with a browser; skip loudly without one on a person's
machine; fail without one under CI=true (CI must never pass by skipping them)."""

from __future__ import annotations

from pathlib import Path

from browserkit import browser_verdict, find_chromium


def test_a_found_browser_runs_the_tests() -> None:
    assert browser_verdict("/usr/bin/chromium", None, {}) == ("run", "/usr/bin/chromium")


def test_no_browser_is_a_loud_skip_on_a_persons_machine() -> None:
    verdict, reason = browser_verdict(None, None, {})
    assert verdict == "skip"
    assert reason.startswith("BROWSER TESTS SKIPPED")
    assert "WSCHAT_CHROMIUM" in reason


def test_no_browser_or_no_playwright_fails_under_ci() -> None:
    assert browser_verdict(None, None, {"CI": "true"})[0] == "fail"
    assert browser_verdict("/usr/bin/chromium", "No module named 'playwright'", {"CI": "true"})[0] == "fail"
    assert browser_verdict("/usr/bin/chromium", "No module named 'playwright'", {})[0] == "skip"


def test_wschat_chromium_names_the_browser(tmp_path: Path) -> None:
    fake = tmp_path / "chrome"
    fake.write_text("")
    assert find_chromium({"WSCHAT_CHROMIUM": str(fake)}) == str(fake)
    # A name that is not a file is reported, not silently replaced by another browser.
    missing = str(tmp_path / "nada")
    assert find_chromium({"WSCHAT_CHROMIUM": missing}) is None
    verdict, reason = browser_verdict(None, None, {"WSCHAT_CHROMIUM": missing})
    assert verdict == "skip" and missing in reason
