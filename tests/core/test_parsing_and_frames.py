"""wschat.core.parsing: every client frame becomes one event; server frames are compact JSON."""

from __future__ import annotations

import json

import pytest
from frametables import CHAT_LINES, LOGIN_REJECTED, REJECTED, frame
from hypothesis import example, given
from hypothesis import strategies as st

from wschat.core.errors import ErrorCode
from wschat.core.frames import (
    HELP_TEXT,
    error_frame,
    help_frame,
    history_frame,
    message_frame,
    presence_frame,
    read_frame,
    rejected_frame,
    typing_frame,
    users_frame,
    welcome_frame,
)
from wschat.core.model import Entry
from wschat.core.names import is_valid_name
from wschat.core.parsing import parse_frame
from wschat.core.requests import (
    DEFAULT_HISTORY_LIMIT,
    MAX_TEXT,
    ClientRequest,
    Drop,
    HelpRequest,
    HistoryRequest,
    Login,
    Logout,
    ReadMark,
    Rejected,
    Resume,
    Send,
    TypingRequest,
    WhoRequest,
    already_logged_in,
)

# --------------------------------------------------------------------------- accepted frames

ACCEPTED: list[tuple[str, ClientRequest]] = [
    # login
    (frame(type="login", user="joao", password="s3cret"), Login("joao", "s3cret", None, None)),
    (frame(type="login", user="Ana.B-1_", token="t0k"), Login("Ana.B-1_", None, "t0k", None)),
    (
        frame(type="login", user="joao", password="pw", resume={"epoch": "e-1", "after": "41"}),
        Login("joao", "pw", None, Resume("e-1", "41")),
    ),
    (frame(type="login", user="joao", password="pw", resume=None), Login("joao", "pw", None, None)),
    (frame(type="login", user="joao", password="pw", token=None), Login("joao", "pw", None, None)),
    (frame(type="login", user="joao", password="x" * 1024), Login("joao", "x" * 1024, None, None)),
    (frame(type="login", user="joao", password=" "), Login("joao", " ", None, None)),
    (frame(type="login", user="a" * 32, token="t" * 256), Login("a" * 32, None, "t" * 256, None)),
    (frame(type="login", user="joao", token="t", ref="l-1"), Login("joao", None, "t", None, "l-1")),
    ("/login joao my secret pass", Login("joao", "my secret pass", None, None)),
    ("/LOGIN  joao\tpw ", Login("joao", "pw ", None, None)),
    # send
    (frame(type="send", text="oi a todos", ref="c-1"), Send("oi a todos", None, "c-1")),
    (frame(type="send", text="oi", to="joao", ref="c-2"), Send("oi", "joao", "c-2")),
    (frame(type="send", text="oi", to=None), Send("oi", None, None)),
    (frame(type="send", text="/not a command", to="ana"), Send("/not a command", "ana", None)),
    (frame(type="send", text="/msg joao oi"), Send("oi", "joao", None)),
    (frame(type="send", text="/who", ref="r"), WhoRequest("r")),
    (frame(type="send", text="x" * MAX_TEXT), Send("x" * MAX_TEXT, None, None)),
    (frame(type="send", text="é" * MAX_TEXT), Send("é" * MAX_TEXT, None, None)),
    (frame(type="send", text="😀" * MAX_TEXT), Send("😀" * MAX_TEXT, None, None)),
    (frame(type="send", text=" oi ", ref=""), Send(" oi ", None, "")),
    (frame(type="send", text="oi", ref="r" * 64), Send("oi", None, "r" * 64)),
    (frame(type="send", text="oi", ref=None), Send("oi", None, None)),
    (frame(type="send", text="oi", extra={"ignored": [1, 2]}), Send("oi", None, None)),
    # read position and typing (v3)
    (frame(type="read", id="42"), ReadMark("42", None)),
    (frame(type="read", id="1764090000123-0", ref="r"), ReadMark("1764090000123-0", "r")),
    (frame(type="read", id="whatever", extra=1), ReadMark("whatever", None)),
    (frame(type="typing"), TypingRequest(None, None)),
    (frame(type="typing", to=None, ref="t"), TypingRequest(None, "t")),
    (frame(type="typing", to="joao"), TypingRequest("joao", None)),
    # other requests
    (frame(type="who"), WhoRequest(None)),
    (frame(type="who", ref="w"), WhoRequest("w")),
    (frame(type="send", text="/help", ref="h"), HelpRequest("h")),
    (frame(type="logout"), Logout(None)),
    (frame(type="drop"), Drop(None)),
    (frame(type="drop", ref="d", extra=1), Drop("d")),
    (frame(type="history"), HistoryRequest(None, DEFAULT_HISTORY_LIMIT, None)),
    (frame(type="history", before="41", limit=1, ref="h"), HistoryRequest("41", 1, "h")),
    (frame(type="history", before=None, limit=200), HistoryRequest(None, 200, None)),
    (frame(type="history", limit=None), HistoryRequest(None, DEFAULT_HISTORY_LIMIT, None)),
    # JSON white space before the object is still JSON
    (' \n\t{"type": "who"}', WhoRequest(None)),
]


@pytest.mark.parametrize(("text", "expected"), ACCEPTED)
def test_accepted_frames(text: str, expected: ClientRequest) -> None:
    assert parse_frame(text) == expected


# --------------------------------------------------------------------------- chat lines

@pytest.mark.parametrize("text", CHAT_LINES)
def test_other_text_is_a_public_chat_line(text: str) -> None:
    assert parse_frame(text) == Send(text, None, None)


def test_plain_command_lines_are_commands() -> None:
    assert parse_frame("/who") == WhoRequest(None)
    assert parse_frame("/msg ana oi") == Send("oi", "ana", None)
    assert parse_frame("/help") == HelpRequest(None)
    assert parse_frame("/logout") == Logout(None)
    assert parse_frame("/cair") == Drop(None)


# --------------------------------------------------------------------------- rejected frames

@pytest.mark.parametrize(("text", "code", "ref"), REJECTED)
def test_rejected_frames(text: str, code: str, ref: str | None) -> None:
    event = parse_frame(text)
    assert isinstance(event, Rejected)
    assert (event.code, event.ref) == (code, ref)
    assert event.detail and not event.from_login


def test_a_json_help_frame_is_refused_with_a_pointer_to_the_command() -> None:
    event = parse_frame(frame(type="help", ref="h"))
    assert isinstance(event, Rejected) and event.code == "invalid_message"
    assert "/help" in event.detail and "help," not in event.detail  # not listed as a type


@pytest.mark.parametrize(("fields", "code"), LOGIN_REJECTED)
def test_rejected_login_objects(fields: dict[str, object], code: str) -> None:
    event = parse_frame(frame(type="login", ref="l-1", **fields))
    assert isinstance(event, Rejected)
    assert (event.code, event.ref, event.from_login) == (code, "l-1", True)


@pytest.mark.parametrize("ref", ["r" * 65, 7, ["l-1"], "\ud800"])
def test_login_object_with_a_bad_ref_is_a_rejected_login(ref: object) -> None:
    # Found by tests/server/test_fuzz_login.py: it was login_required, as if it were not a login at all.
    event = parse_frame(frame(type="login", user="joao", password="pw", ref=ref))
    assert isinstance(event, Rejected)
    assert (event.code, event.ref, event.from_login) == ("invalid_message", None, True)


@pytest.mark.parametrize(
    ("line", "code"),
    [
        ("/login", "invalid_message"),
        ("/login joao", "invalid_message"),
        ("/login joao   ", "invalid_message"),
        ("/login j@o pw", "invalid_name"),
        ("/login joao " + "x" * 1025, "invalid_message"),
    ],
)
def test_rejected_login_lines(line: str, code: str) -> None:
    event = parse_frame(line)
    assert isinstance(event, Rejected)
    assert (event.code, event.from_login) == (code, True)


def test_login_line_usage_hint() -> None:
    event = parse_frame("/login joao")
    assert isinstance(event, Rejected)
    assert "uso: /login NOME SENHA" in event.detail


def test_login_command_inside_a_send_means_already_logged_in() -> None:
    # Only a plain first frame can be a /login line; inside a send it is a command.
    event = parse_frame(frame(type="send", text="/login joao pw", ref="r"))
    assert event == already_logged_in("r")
    assert isinstance(event, Rejected) and not event.from_login
    assert "já entrou" in event.detail


def test_details_quote_the_bad_name_safely() -> None:
    event = parse_frame(frame(type="send", text="oi", to="jao!"))
    assert event == Rejected(ErrorCode.UNKNOWN_USER, "nenhum usuário chamado 'jao!'", None)
    long_bad = parse_frame(frame(type="send", text="oi", to="\ud800" + "x" * 500))
    assert isinstance(long_bad, Rejected)
    assert len(long_bad.detail) < 100
    long_bad.detail.encode("utf-8")  # no lone surrogate may reach a frame


def test_too_long_detail_gives_the_numbers() -> None:
    event = parse_frame("y" * 4001)
    assert isinstance(event, Rejected)
    assert "4001" in event.detail and "4000" in event.detail


# --------------------------------------------------------------------------- properties

# Characters drawn from code points, not st.characters(): that one builds a Unicode table
# on first use (over a second), which trips Hypothesis's too_slow check on a fresh checkout.
_CHAR = st.one_of(
    st.sampled_from(' \t\n\u00a0\u3000/{}[]":,\\abcXYZ019_.-é😀'),
    st.integers(0, 0xD7FF).map(chr),
    st.integers(0xE000, 0x10FFFF).map(chr),
)
_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
_ANY_CHAR = _CHAR | _SURROGATES
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(_ANY_CHAR, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(_CHAR, max_size=5), inner),
    max_leaves=10,
)
_FIELD = st.sampled_from(["type", "text", "to", "ref", "user", "password", "token", "resume",
                          "before", "limit", "epoch", "after"])
_TYPE = st.sampled_from(["login", "send", "who", "help", "history", "logout", "drop", "other"])
_COMMAND = st.builds(
    lambda word, space, rest: "/" + word + space + rest,
    st.sampled_from(["msg", "MSG", "who", "help", "logout", "cair", "login", "", "x"]),
    st.sampled_from(["", " ", "\t", " \n "]),
    st.text(_ANY_CHAR, max_size=30),
)


@st.composite
def protocol_objects(draw: st.DrawFn) -> str:
    fields = draw(st.dictionaries(_FIELD, _JSON, max_size=6))
    fields["type"] = draw(_TYPE)
    return json.dumps(fields, ensure_ascii=draw(st.booleans()))


FRAMES = st.one_of(
    st.text(_ANY_CHAR),
    st.text(st.sampled_from('{}[]":,0123456789eE.-+ \\NaIfinty'), max_size=40),
    protocol_objects(),
    _COMMAND,
)


def _check_event(event: ClientRequest) -> None:
    assert isinstance(
        event, Login | Send | WhoRequest | HelpRequest | HistoryRequest | Logout | Drop | Rejected
    )
    if isinstance(event, Send):
        assert 1 <= len(event.text) <= MAX_TEXT
        assert not event.text.isspace()
        event.text.encode("utf-8")
        assert event.to is None or is_valid_name(event.to)
    if isinstance(event, Rejected):
        assert event.code in {"invalid_message", "invalid_name", "unknown_user",
                              "too_long", "unknown_command"}
        assert event.detail
        error_frame(event.code, event.detail, event.ref).encode("utf-8")
    if isinstance(event, Login):
        assert is_valid_name(event.user)
        assert (event.password is None) != (event.token is None)
    if isinstance(event, HistoryRequest):
        assert 1 <= event.limit <= 200
    ref = getattr(event, "ref", None)
    assert ref is None or (len(ref) <= 64 and ref.encode("utf-8") is not None)


@given(FRAMES)
@example("[" * 100_000)
@example("{" * 100_000)
@example('{"a":' + "[" * 100_000)
@example('{"a":' + "1" * 60_000 + "}")
@example('{"a":1e999999}')
@example("\x00\x01\x1b[31m")
@example("/msg joao \ud800")
@example('{"type":"send","text":"\\ud800\\udc00"}')
def test_parse_frame_never_raises_and_keeps_its_promises(text: str) -> None:
    _check_event(parse_frame(text))


# --------------------------------------------------------------------------- encoders

ENTRY = Entry("42", "ana", None, "oi a todos", 1764090000.123)
PRIVATE = Entry("43", "ana", "joao", "olá, João", 1764090001.5, ref="c-2")


def test_frames_are_compact_and_keep_utf8() -> None:
    assert message_frame(PRIVATE).startswith('{"type":"message","id":"43","from":"ana","to":"joao","text":"olá, João"')


def test_message_frame() -> None:
    assert json.loads(message_frame(ENTRY)) == {
        "type": "message", "id": "42", "from": "ana", "to": None,
        "text": "oi a todos", "ts": 1764090000.123,
    }
    assert json.loads(message_frame(PRIVATE, ref="c-2")) == {
        "type": "message", "id": "43", "from": "ana", "to": "joao",
        "text": "olá, João", "ts": 1764090001.5, "ref": "c-2",
    }
    # the entry's own ref goes only where the caller asks for it
    assert "ref" not in json.loads(message_frame(PRIVATE))
    assert message_frame(ENTRY).startswith('{"type":"message","id":"42","from":"ana"')


@given(
    st.builds(
        Entry,
        st.text(_CHAR, max_size=10),
        st.text(_CHAR, max_size=32),
        st.none() | st.text(_CHAR, max_size=32),
        st.text(_CHAR),
        st.floats(allow_nan=False, allow_infinity=False),
        st.none() | st.text(_CHAR, max_size=64),
    ),
    st.none() | st.text(_CHAR, max_size=64),
)
def test_message_frame_round_trips(entry: Entry, ref: str | None) -> None:
    decoded = json.loads(message_frame(entry, ref))
    expected: dict[str, object] = {
        "type": "message", "id": entry.id, "from": entry.sender, "to": entry.to,
        "text": entry.text, "ts": entry.ts,
    }
    if ref is not None:
        expected["ref"] = ref
    assert decoded == expected


def test_error_frame() -> None:
    assert json.loads(error_frame("unknown_user", "nenhum usuário chamado 'jao'", "c-3")) == {
        "type": "error", "code": "unknown_user",
        "detail": "nenhum usuário chamado 'jao'", "ref": "c-3",
    }
    assert json.loads(error_frame("too_long", "longa")) == {
        "type": "error", "code": "too_long", "detail": "longa",
    }
    rejected = Rejected(ErrorCode.INVALID_MESSAGE, "uso: /msg NOME TEXTO", "r")
    assert rejected_frame(rejected) == error_frame("invalid_message", "uso: /msg NOME TEXTO", "r")


def test_welcome_frame() -> None:
    text = welcome_frame(user="joao", session="s-3f9c", epoch="e-71b2", last="41",
                         recovered=True, online=("ana", "joao"), token="tok",
                         read="40", unread=1)
    assert json.loads(text) == {
        "type": "welcome", "user": "joao", "session": "s-3f9c", "epoch": "e-71b2",
        "last": "41", "recovered": True, "online": ["ana", "joao"], "token": "tok",
        "read": "40", "unread": 1,
    }
    empty = welcome_frame(user="joao", session="s", epoch="e", last=None,
                          recovered=False, online=[], token="t", read=None, unread=0)
    assert json.loads(empty)["last"] is None
    assert json.loads(empty)["read"] is None and json.loads(empty)["unread"] == 0


def test_read_and_typing_frames() -> None:
    assert json.loads(read_frame("42")) == {"type": "read", "id": "42"}
    assert json.loads(typing_frame("ana")) == {"type": "typing", "user": "ana"}
    assert json.loads(typing_frame("ana", "joao")) == {
        "type": "typing", "user": "ana", "to": "joao",
    }


def test_presence_and_users_frames() -> None:
    assert json.loads(presence_frame("joao", True)) == {
        "type": "presence", "user": "joao", "online": True,
    }
    assert json.loads(presence_frame("joao", False))["online"] is False
    assert json.loads(users_frame(["ana", "joao"])) == {"type": "users", "online": ["ana", "joao"]}
    assert json.loads(users_frame([], ref="w"))["ref"] == "w"


def test_history_frame() -> None:
    decoded = json.loads(history_frame([ENTRY, PRIVATE], more=True, ref="h"))
    assert decoded == {
        "type": "history",
        "messages": [json.loads(message_frame(ENTRY)), json.loads(message_frame(PRIVATE))],
        "more": True,
        "ref": "h",
    }
    assert json.loads(history_frame([], more=False)) == {
        "type": "history", "messages": [], "more": False,
    }


def test_help_frame_lists_every_command() -> None:
    decoded = json.loads(help_frame("x"))
    assert decoded == {"type": "help", "text": HELP_TEXT, "ref": "x"}
    for word in ("/msg", "/who", "/help", "/logout", "/cair", '"type":"send"',
                 '"type":"history"', '"type":"read"', '"type":"typing"', '"type":"drop"'):
        assert word in HELP_TEXT
    assert '"type":"help"' not in HELP_TEXT  # not a client frame of PROTOCOL.md
    assert "ref" not in json.loads(help_frame())
