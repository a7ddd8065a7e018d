"""scripts/draw_diagrams.py draws the diagrams of docs/img/ and they are committed.

The script runs into a temporary folder (never over the committed images); each PNG must be
a valid image of the fixed size the committed copy has, with no timestamp or software name in
its metadata (so that redrawing without changes gives the same bytes).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "draw_diagrams.py"
IMAGES = ROOT / "docs" / "img"
NAMES = (
    "handshake.png",
    "close.png",
    "polling-vs-push.png",
    "replay-seam.png",
    "reconnect-resume.png",
    "frame-header.png",
    "cluster.png",
)
SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (which must come first)."""
    assert data[:8] == SIGNATURE, "not a PNG"
    assert data[12:16] == b"IHDR", "a PNG starts with its IHDR chunk"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("diagrams")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.mark.parametrize("name", NAMES)
def test_the_script_draws_a_sensible_png(drawn: Path, name: str) -> None:
    data = (drawn / name).read_bytes()
    width, height = png_size(data)
    assert 900 <= width <= 1100, (name, width)
    assert 400 <= height <= 1400, (name, height)
    assert 20_000 < len(data) < 2_000_000, (name, len(data))
    assert b"tIME" not in data and b"Software" not in data, "metadata that changes per run"
    assert data.endswith(b"IEND\xaeB`\x82"), "truncated PNG"


@pytest.mark.parametrize("name", NAMES)
def test_the_image_is_committed_with_the_same_size(drawn: Path, name: str) -> None:
    committed = IMAGES / name
    assert committed.is_file(), f"run scripts/draw_diagrams.py and commit docs/img/{name}"
    assert png_size(committed.read_bytes()) == png_size((drawn / name).read_bytes())
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return  # not a git checkout (an unpacked archive): the file on disk is all there is
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", f"docs/img/{name}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert tracked.returncode == 0, f"docs/img/{name} is not committed"
