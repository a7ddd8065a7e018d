"""``python -m wschat serve`` in a real process: the contract's first line on stdout, the
browser address for people on stderr, the chat page at that address, a clean exit on SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from chatkit import http_get


def test_serve_prints_the_ws_line_and_the_address_to_open(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "wschat", "serve", "--port", "0", "--db", str(tmp_path / "c.db")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        first = process.stdout.readline()  # bounded by the pytest timeout if it never comes
        match = re.fullmatch(r"wschat listening on ws://127\.0\.0\.1:(\d+)/ws\n", first)
        assert match, first
        port = match.group(1)
        hint = ""
        while "in a browser" not in hint:
            hint = process.stderr.readline()
            assert hint, "serve ended before printing the browser address"
        assert f"http://127.0.0.1:{port}/" in hint
        status, headers, body = http_get(f"http://127.0.0.1:{port}/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'data-testid="login-user"' in body
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert out == ""  # stdout held exactly the one line
