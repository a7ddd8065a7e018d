"""Tables of client frames and what PROTOCOL.md says of each, shared by the parser's unit tests
(tests/core/test_parsing_and_frames.py) and the server's acceptance tests over real sockets
(tests/server/test_frames.py, tests/server/test_login.py): a row added here is checked at both
layers.
"""

from __future__ import annotations

import json

from wschat.core.requests import MAX_TEXT

__all__ = ["CHAT_LINES", "LOGIN_REJECTED", "REJECTED", "frame"]


def frame(**fields: object) -> str:
    """A JSON object with ``fields``, as a client writes it."""
    return json.dumps(fields)


#: Text frames that are not protocol objects: each is a public chat line, as it is.
CHAT_LINES = [
    "oi a todos",
    "42",
    '"hi"',
    "[1]",
    "null",
    "true",
    "[NaN]",  # not an object: a chat line, not a protocol frame
    # NaN and Infinity are not strict JSON: PROTOCOL.md makes these chat lines
    '{"type": "send", "text": "oi", "n": NaN}',
    '{"n": Infinity}',
    '{"n": -Infinity}',
    '{"type": "send", "text": "broken"',  # broken JSON is a chat line
    "{oops}",
    "{",
    "\ufeff{}",  # a BOM makes it non-JSON
    "  espaços em volta  ",
    "linha 1\nlinha 2",
    "{'type': 'who'}",  # Python, not JSON
    # from the acceptance tests' table
    "oi pessoal",
    "{not json at all}",
    "[1, 2]",
    '"só um texto"',
    '{"type": "who", "x": NaN}',
    '{"type": "send", "text": "oi", "n": Infinity}',
    '{"type": "send", "text": "oi", "n": -Infinity}',
]


#: Frames of a logged-in session that break a rule: (frame, error code, ``ref`` on the error).
REJECTED: list[tuple[str, str, str | None]] = [
    # (frame, code, ref on the error)
    ("{}", "invalid_message", None),
    ('{"type": 1}', "invalid_message", None),
    ('{"type": null, "ref": "r"}', "invalid_message", "r"),
    ('{"type": "dance", "ref": "r"}', "invalid_message", "r"),
    ('{"type": "SEND", "text": "oi"}', "invalid_message", None),
    # PROTOCOL.md's client frames are login, send, who, history, logout: help is "/help" only
    (frame(type="help", ref="h"), "invalid_message", "h"),
    (frame(type="help"), "invalid_message", None),
    # strict JSON: NaN, Infinity, non-finite and huge numbers, deep nesting
    ('{"n": 1e999}', "invalid_message", None),
    ('{"n": -1e999}', "invalid_message", None),
    ('{"n": ' + "9" * 5000 + "}", "invalid_message", None),
    ('{"n": ' + "[" * 100_000 + "]" * 100_000 + "}", "invalid_message", None),
    ('{"n": ' + '{"n": ' * 50_000 + "1" + "}" * 50_001, "invalid_message", None),
    # read and typing (v3)
    (frame(type="read"), "invalid_message", None),
    (frame(type="read", id=None, ref="r"), "invalid_message", "r"),
    (frame(type="read", id=42, ref="r"), "invalid_message", "r"),
    (frame(type="read", id=""), "invalid_message", None),
    (frame(type="read", id="\ud800"), "invalid_message", None),
    (frame(type="typing", to=7, ref="t"), "invalid_message", "t"),
    (frame(type="typing", to="jo ao", ref="t"), "unknown_user", "t"),
    (frame(type="typing", to=""), "unknown_user", None),
    # ref
    ('{"type": "who", "ref": 7}', "invalid_message", None),
    (frame(type="who", ref="r" * 65), "invalid_message", None),
    (frame(type="send", text="oi", ref="\ud800"), "invalid_message", None),
    # send
    (frame(type="send", ref="r"), "invalid_message", "r"),
    (frame(type="send", text=5, ref="r"), "invalid_message", "r"),
    (frame(type="send", text="oi", to=5, ref="r"), "invalid_message", "r"),
    (frame(type="send", text="oi", to="jo ao", ref="r"), "unknown_user", "r"),
    (frame(type="send", text="oi", to="", ref="r"), "unknown_user", "r"),
    (frame(type="send", text="oi", to="a" * 33), "unknown_user", None),
    (frame(type="send", text="x" * (MAX_TEXT + 1), ref="r"), "too_long", "r"),
    (frame(type="send", text="😀" * (MAX_TEXT + 1)), "too_long", None),
    (frame(type="send", text="", ref="r"), "invalid_message", "r"),
    (frame(type="send", text=" \t\n\u00a0\u3000", ref="r"), "invalid_message", "r"),
    (frame(type="send", text="x" * (MAX_TEXT + 1), to="ana"), "too_long", None),
    (frame(type="send", text="  ", to="ana"), "invalid_message", None),
    (frame(type="send", text="oi \ud800"), "invalid_message", None),
    ("x" * (MAX_TEXT + 1), "too_long", None),
    ("   ", "invalid_message", None),
    ("", "invalid_message", None),
    # history
    (frame(type="history", limit=0, ref="h"), "invalid_message", "h"),
    (frame(type="history", limit=201), "invalid_message", None),
    (frame(type="history", limit=True), "invalid_message", None),
    (frame(type="history", limit=10.0), "invalid_message", None),
    (frame(type="history", limit="10"), "invalid_message", None),
    (frame(type="history", before=41), "invalid_message", None),
    (frame(type="history", before="\udfff"), "invalid_message", None),
    # objects without a known type
    (frame(text="sem tipo"), "invalid_message", None),
    (frame(type=5, text="oi"), "invalid_message", None),
    (frame(type=["send"], text="oi"), "invalid_message", None),
    (frame(type="bogus"), "invalid_message", None),
    # more bad sends
    (frame(type="send", text="\t\n \u3000"), "invalid_message", None),
    (frame(type="send", text=5), "invalid_message", None),
    (frame(type="send"), "invalid_message", None),
    (frame(type="send", text="oi", to=7), "invalid_message", None),
    (frame(type="send", text="oi", ref=7), "invalid_message", None),
    (frame(type="send", text="oi", ref="r" * 65), "invalid_message", None),
    ("    ", "invalid_message", None),
]


#: Login objects that break a rule: (fields besides ``type``, error code).
LOGIN_REJECTED: list[tuple[dict[str, object], str]] = [
    ({"user": 5, "password": "pw"}, "invalid_message"),
    ({"password": "pw"}, "invalid_message"),
    ({"user": "jo ao", "password": "pw"}, "invalid_name"),
    ({"user": "", "password": "pw"}, "invalid_name"),
    ({"user": "a" * 33, "password": "pw"}, "invalid_name"),
    ({"user": "joão", "password": "pw"}, "invalid_name"),
    ({"user": "joao"}, "invalid_message"),
    ({"user": "joao", "password": None, "token": None}, "invalid_message"),
    ({"user": "joao", "password": "pw", "token": "t"}, "invalid_message"),
    ({"user": "joao", "password": ""}, "invalid_message"),
    ({"user": "joao", "password": "x" * 1025}, "invalid_message"),
    ({"user": "joao", "password": 1234}, "invalid_message"),
    ({"user": "joao", "password": "\ud800"}, "invalid_message"),
    ({"user": "joao", "token": ""}, "invalid_message"),
    ({"user": "joao", "token": "t" * 257}, "invalid_message"),
    ({"user": "joao", "token": ["t"]}, "invalid_message"),
    ({"user": "joao", "password": "pw", "resume": "e-1"}, "invalid_message"),
    ({"user": "joao", "password": "pw", "resume": {}}, "invalid_message"),
    ({"user": "joao", "password": "pw", "resume": {"epoch": "e"}}, "invalid_message"),
    ({"user": "joao", "password": "pw", "resume": {"epoch": "e", "after": 41}}, "invalid_message"),
    ({"user": "joao", "password": "pw", "resume": {"epoch": 1, "after": "41"}}, "invalid_message"),
    ({"user": "joao", "password": "pw", "resume": [1, 2]}, "invalid_message"),
    # from the acceptance tests' table
    ({"user": "ana!", "password": "x"}, "invalid_name"),
    ({"user": "a/b", "password": "x"}, "invalid_name"),
    ({"user": "ana", "token": 5}, "invalid_message"),
]
