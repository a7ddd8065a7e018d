"""The chat client's shared test vectors (tests/client/client_vectors.json), and the one check
of a replayed step that the Python replay (tests/client/test_client_vectors.py) and the
browser replay (tests/client/test_browser_vectors.py) both apply.

A replay reports each step as ``did``: ``returned`` (what the input returned), ``raised``
(None, or why it refused), ``frames`` (the text frames written, the login included), ``why``
(the reason of each frame but the login), ``events`` (in the vectors' plain form) and
``state`` (every state key the vectors may name).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["ID_ORDER", "VECTORS", "VECTORS_FILE", "check_step"]

VECTORS_FILE = Path(__file__).parent / "client" / "client_vectors.json"
_FILE: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = _FILE["vectors"]
#: ``[a, b, expected]``: what ``is_later(a, b)`` (Python) and ``isLater(a, b)`` (chat_wire.js) say.
ID_ORDER: list[tuple[str, str | None, bool]] = [
    (a, b, expected) for a, b, expected in _FILE["id_order"]["cases"]
]


def check_step(where: str, step: dict[str, Any], did: dict[str, Any]) -> None:
    """Fail unless the replayed step did exactly what the vector says."""
    assert (did["raised"] is not None) == bool(step.get("raises")), f"{where}: {did['raised']}"
    assert [json.loads(frame) for frame in did["frames"]] == step.get("frames", []), where
    if "why" in step:
        assert did["why"] == step["why"], where
    assert did["events"] == step.get("events", []), where
    if step["do"] == "receive":
        assert did["returned"] == step["meant"], where
    elif "returns" in step:
        assert did["returned"] == step["returns"], where
    expected = step.get("state", {})
    assert {key: did["state"][key] for key in expected} == expected, where
