"""Fuzz test of the chat server's input handling (issue 7, "Bad input").

Hypothesis throws thousands of malformed frames at ONE live server (module-scoped
``ServerThread``): broken and non-strict JSON, every field with every wrong type, huge numbers,
deep nesting, invalid UTF-8, binary frames, control characters, frames at the 64 KiB bound,
names at every length boundary, commands with missing arguments, refs of 64 and 65 characters,
history limits around 1 and 200, logins out of order (a send before the login, a second login),
resends of refs the server already took, and the v3 frames: ``read`` with ids of the log (the
canaries' private messages included), malformed or absent ids, and ``typing`` with every kind of
``to``.

Every frame is checked against an *oracle* written here from PROTOCOL.md and docs/decisions.md
(it does not import the server's parser): the right error code (when a frame breaks several
rules at once, any of their codes), the ``ref`` on the answer, the right close code, or the
right stored message. After each frame:

- the server still serves: a *canary* pair of users, connected from the start, exchange a
  private message, and at the end each canary has received exactly the log entries visible to
  it, once each, in log order (so a rejected frame delivered nothing to anyone);
- nothing rejected was stored: the log's head is exactly the model's, which grows only by the
  sends the oracle accepted; at the end the whole log is compared entry by entry;
- after any closed connection ``/healthz`` answers, and at the end a fresh login works.

The server runs with ``rate_limit=0`` and very high failed-login limits: those limits are
tested on their own (tests/server/test_login.py, tests/server/test_security.py); here they would only turn
the oracle's answers into ``rate_limited``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import re
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from chatkit import TIMEOUT, Frame, Recorder, http_get, open_ws, short
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from wschat.server.thread import ServerThread

#: Examples per test: thousands of frames in total, within about a minute on 2 cores.
LIVE_EXAMPLES = int(os.environ.get("WSCHAT_FUZZ_LIVE", 2500))
LOGIN_EXAMPLES = int(os.environ.get("WSCHAT_FUZZ_LOGIN", 1000))

MAX_FRAME = 64 * 1024
MAX_TEXT = 4000
MAX_REF = 64
MAX_PASSWORD = 1024
MAX_TOKEN = 256
INVALID = "invalid_message"

FUZZER = "Fuzz"
CANARIES = ("canA", "canB")
SECRET = "senha-que-ninguem-adivinha"

# --------------------------------------------------------------------------- the oracle
# Written from PROTOCOL.md and docs/decisions.md only.

NAME = re.compile(r"[A-Za-z0-9_.\-]{1,32}")  # PROTOCOL.md, "Login"
JSON_SPACE = " \t\n\r"
# "Arguments are split at the first run of white space; the last one is kept as written."
WORD = re.compile(r"(\S*)(?:\s+(.*))?", re.DOTALL)
# docs/decisions.md, "Bad input": integers of more than 4,300 digits are huge numbers (the
# strategies stay clear of the edge).
HUGE_DIGITS = 4300
# The canonical spelling of an id of the memory store (a decimal sequence number).
CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")
MAX_ID = 2**63 - 1


def split(text: str) -> tuple[str, str]:
    match = WORD.fullmatch(text)
    assert match is not None
    return match.group(1), match.group(2) or ""


def utf8_safe(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def key(name: str) -> str:
    return name.lower()


class _NotStrict(Exception):
    pass


class _Huge(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotStrict(name)


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _Huge(literal)
    return value


def _bounded(literal: str) -> int:
    if len(literal.lstrip("-")) > HUGE_DIGITS:
        raise _Huge(literal)
    return int(literal)


def classify(text: str) -> tuple[str, dict[str, Any] | None]:
    """``("object", obj)`` for a protocol frame; ``("refused", None)`` for a JSON object
    refused for a huge number or deep nesting; ``("line", None)`` for a chat line."""
    if not text.lstrip(JSON_SPACE).startswith("{"):
        return "line", None
    try:
        value = json.loads(
            text, parse_constant=_no_constant, parse_float=_finite, parse_int=_bounded
        )
    except (_NotStrict, json.JSONDecodeError):
        return "line", None
    except (ValueError, RecursionError):
        return "refused", None
    return ("object", value) if isinstance(value, dict) else ("line", None)


@dataclass(frozen=True)
class Expect:
    """What one frame must get.

    ``kind``: ``error`` (``codes`` holds every acceptable code), ``message`` (a stored send:
    ``to`` and ``text``), ``resend`` (the original of ``ref`` comes back), ``users``, ``help``, ``history`` (``before``/``limit``; ``maybe_invalid``
    when a non-canonical id may be refused instead), ``close`` (``close`` code, no frame),
    ``welcome`` (``user`` is the display name), ``refused`` (one error in ``codes``, then
    4001), ``read`` (the read position moved to ``entry_id``: one ``read`` frame), ``nothing``
    (no frame at all: an older read position, a typing notice).
    """

    kind: str
    codes: frozenset[str] = frozenset()
    ref: str | None = None
    to: str | None = None
    text: str = ""
    close: int = 0
    hint: str = ""
    before: str | None = None
    limit: int = 0
    maybe_invalid: bool = False
    user: str = ""
    register: str | None = None  # a password login that registers this name
    entry_id: str = ""


def error(codes: set[str], ref: str | None, hint: str = "") -> Expect:
    return Expect("error", frozenset(codes), ref, hint=hint)


@dataclass
class Model:
    """What the server should hold: accounts, tokens, the log, accepted refs."""

    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> name, password
    tokens: dict[str, str] = field(default_factory=dict)  # token -> user key (valid ones)
    log: list[Frame] = field(default_factory=list)  # message frames, in log order
    refs: dict[str, dict[str, Frame]] = field(default_factory=dict)  # user key -> ref -> entry
    reads: dict[str, int] = field(default_factory=dict)  # user key -> read position

    def display(self, name: str) -> str | None:
        account = self.accounts.get(key(name))
        return account[0] if account else None

    def append(self, message: Frame) -> None:
        if self.log:
            assert int(message["id"]) > int(self.log[-1]["id"]), short(message)
        stored = {k: message[k] for k in ("id", "from", "to", "text")}
        self.log.append(stored)
        ref = message.get("ref")
        if ref is not None:
            self.refs.setdefault(key(message["from"]), {})[ref] = stored

    def visible(self, user: str) -> list[Frame]:
        me = key(user)
        return [
            m for m in self.log
            if m["to"] is None or me in (key(m["from"]), key(m["to"]))
        ]


def text_faults(text: str) -> set[str]:
    """PROTOCOL.md: 1-4,000 code points, at least one not white space; storable as UTF-8."""
    faults = set()
    if len(text) > MAX_TEXT:
        faults.add("too_long")
    if not text or text.isspace() or not utf8_safe(text):
        faults.add(INVALID)
    return faults


def expect_send(model: Model, me: str, text: str, to: str | None, ref: str | None) -> Expect:
    if to is None and text.startswith("/"):
        return expect_command(model, me, text, ref)
    faults = set()
    if to is not None and NAME.fullmatch(to) is None:
        faults.add("unknown_user")
    faults |= text_faults(text)
    display = None
    if to is not None and not faults:
        display = model.display(to)
        if display is None:
            faults.add("unknown_user")
    if faults:
        return error(faults, ref)
    return stored(model, me, display, text, ref)


def stored(model: Model, me: str, to: str | None, text: str, ref: str | None) -> Expect:
    if ref is not None and ref in model.refs.get(key(me), {}):
        # Accepted before: not stored again; the original comes back to this session, every
        # time (PROTOCOL.md, "ref").
        return Expect("resend", ref=ref)
    return Expect("message", ref=ref, to=to, text=text)


def expect_command(model: Model, me: str, line: str, ref: str | None) -> Expect:
    word, rest = split(line[1:])
    command = word.lower()
    if command == "msg":
        name, body = split(rest)
        if not name or not body:
            return error({INVALID}, ref, hint="/msg")
        faults = set()
        if NAME.fullmatch(name) is None:
            faults.add("unknown_user")
        faults |= text_faults(body)
        display = None
        if not faults:
            display = model.display(name)
            if display is None:
                faults.add("unknown_user")
        if faults:
            return error(faults, ref)
        return stored(model, me, display, body, ref)
    if command in ("who", "help", "logout", "cair"):
        if rest:
            return error({INVALID}, ref)
        if command == "logout":
            return Expect("close", close=1000)
        if command == "cair":  # PROTOCOL.md v4: the TCP connection is cut without a close
            return Expect("close", close=1006)
        return Expect("users" if command == "who" else "help", ref=ref)
    if command == "login":
        return error({INVALID}, ref)  # a second login after welcome
    return error({"unknown_command"}, ref)


def valid_ref(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_REF and utf8_safe(value)


def expect_live(model: Model, me: str, payload: str | bytes, binary: bool) -> Expect:
    """The answer to one frame from a logged-in session (PROTOCOL.md)."""
    if binary:
        return error({INVALID}, None)
    data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    if len(data) > MAX_FRAME:
        return Expect("close", close=1009)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Expect("close", close=1007)
    kind, obj = classify(text)
    if kind == "refused":
        return error({INVALID}, None)
    if kind == "line":
        return expect_send(model, me, text, None, None)
    assert obj is not None
    faults = set()
    raw_ref = obj.get("ref")
    if raw_ref is not None and not valid_ref(raw_ref):
        faults.add(INVALID)
        ref = None
    else:
        ref = raw_ref
    kind_ = obj.get("type")
    if not isinstance(kind_, str):
        return error(faults | {INVALID}, ref)
    if kind_ == "send":
        text_, to = obj.get("text"), obj.get("to")
        if not isinstance(text_, str):
            faults.add(INVALID)
        if to is not None and not isinstance(to, str):
            faults.add(INVALID)
        if faults:
            if isinstance(text_, str) and (to is None or isinstance(to, str)):
                sub = expect_send(model, me, text_, to, ref)
                if sub.kind == "error":
                    faults |= sub.codes
            return error(faults, ref)
        assert isinstance(text_, str) and (to is None or isinstance(to, str))  # no faults
        return expect_send(model, me, text_, to, ref)
    if kind_ == "history":
        before, limit = obj.get("before"), obj.get("limit")
        if before is not None and not (isinstance(before, str) and utf8_safe(before)):
            faults.add(INVALID)
        limit = 50 if limit is None else limit
        if type(limit) is not int or not 1 <= limit <= 200:
            faults.add(INVALID)
        if faults:
            return error(faults, ref)
        canonical = before is None or (
            CANONICAL_ID.fullmatch(before) is not None and int(before) <= MAX_ID
        )
        head, sep, tail = (before or "").partition("-")
        if not canonical and not (head.isdigit() and (not sep or tail.isdigit())):
            return error({INVALID}, ref)
        # Digits that are not the canonical spelling ("007", "1-2", other scripts' digits,
        # past 64 bits): no entry has that id, so an empty page is as right as the error.
        return Expect("history", ref=ref, before=before, limit=limit,
                      maybe_invalid=not canonical)
    if kind_ == "read":
        return expect_read(model, me, obj.get("id"), faults, ref)
    if kind_ == "typing":
        return expect_typing(model, obj.get("to"), faults, ref)
    if faults:
        return error(faults, ref)
    if kind_ == "who":  # help is a command (/help), not a frame type of the contract
        return Expect("users", ref=ref)
    if kind_ == "logout":
        return Expect("close", close=1000)
    if kind_ == "drop":
        return Expect("close", close=1006)
    # A second login after welcome, valid or not; or an unknown type.
    return error({INVALID}, ref)


def expect_read(model: Model, me: str, entry_id: object, faults: set[str], ref: str | None
                ) -> Expect:
    """PROTOCOL.md v3: an id this user can see moves the position forward (a ``read`` frame
    back) or, older or equal, changes nothing and sends nothing; any other id is
    ``invalid_message``."""
    visible = {m["id"] for m in model.visible(me)}
    if not (isinstance(entry_id, str) and entry_id in visible):
        faults = faults | {INVALID}
    if faults:
        return error(faults, ref)
    assert isinstance(entry_id, str)
    if int(entry_id) <= model.reads.get(key(me), 0):
        return Expect("nothing")
    return Expect("read", entry_id=entry_id)


def expect_typing(model: Model, to: object, faults: set[str], ref: str | None) -> Expect:
    """PROTOCOL.md v3: never an answer to the sender, but ``unknown_user`` for a ``to`` that
    was never registered (an invalid name too) and ``invalid_message`` for one not a string."""
    if to is not None and not isinstance(to, str):
        faults = faults | {INVALID}
    elif isinstance(to, str) and model.display(to) is None:
        faults = faults | {"unknown_user"}
    if faults:
        return error(faults, ref)
    return Expect("nothing")


def expect_login(model: Model, payload: str | bytes, binary: bool) -> Expect:
    """The answer to the first frame of a connection (PROTOCOL.md, "Login")."""
    if binary:
        return Expect("refused", frozenset({"login_required"}))
    data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    if len(data) > MAX_FRAME:
        return Expect("close", close=1009)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return Expect("close", close=1007)
    kind, obj = classify(text)
    if kind == "line":
        word, rest = split(text[1:]) if text.startswith("/") else ("", "")
        if word.lower() == "cair" and not rest:  # a drop before welcome (PROTOCOL.md v4)
            return Expect("refused", frozenset({INVALID}))
        if word.lower() != "login":
            return Expect("refused", frozenset({"login_required"}))
        name, password = split(rest)
        if not name or not password:
            return Expect("refused", frozenset({INVALID}))
        faults = set()
        if NAME.fullmatch(name) is None:
            faults.add("invalid_name")
        if len(password) > MAX_PASSWORD:
            faults.add(INVALID)
        if faults:
            return Expect("refused", frozenset(faults))
        return authenticate(model, name, password, None)
    if obj is not None and is_drop(obj):  # a drop before welcome (PROTOCOL.md v4)
        return Expect("refused", frozenset({INVALID}))
    if kind == "refused" or obj is None or obj.get("type") != "login":
        return Expect("refused", frozenset({"login_required"}))
    faults = set()
    if obj.get("ref") is not None and not valid_ref(obj.get("ref")):
        faults.add(INVALID)
    user = obj.get("user")
    if not isinstance(user, str):
        faults.add(INVALID)
    elif NAME.fullmatch(user) is None:
        faults.add("invalid_name")
    given_password, token = obj.get("password"), obj.get("token")
    if (given_password is None) == (token is None):
        faults.add(INVALID)
    if given_password is not None and not (
        isinstance(given_password, str) and 1 <= len(given_password) <= MAX_PASSWORD and utf8_safe(given_password)
    ):
        faults.add(INVALID)
    if token is not None and not (
        isinstance(token, str) and 1 <= len(token) <= MAX_TOKEN and utf8_safe(token)
    ):
        faults.add(INVALID)
    resume = obj.get("resume")
    if resume is not None and not (
        isinstance(resume, dict)
        and all(isinstance(resume.get(k), str) and utf8_safe(resume[k]) for k in ("epoch", "after"))
    ):
        faults.add(INVALID)
    if faults:
        return Expect("refused", frozenset(faults))
    assert isinstance(user, str)  # no faults
    return authenticate(model, user, given_password, token)


def is_drop(obj: dict[str, Any]) -> bool:
    """Whether a protocol object is a valid ``drop``: the object, or the ``/cair`` line."""
    if obj.get("ref") is not None and not valid_ref(obj.get("ref")):
        return False
    if obj.get("type") == "drop":
        return True
    text = obj.get("text")
    if obj.get("type") != "send" or obj.get("to") is not None or not isinstance(text, str):
        return False
    word, rest = split(text[1:]) if text.startswith("/") else ("", "")
    return word.lower() == "cair" and not rest


def authenticate(model: Model, user: str, password: str | None, token: str | None) -> Expect:
    account = model.accounts.get(key(user))
    if token is not None:
        if model.tokens.get(token) == key(user) and account is not None:
            return Expect("welcome", user=account[0])
        return Expect("refused", frozenset({"auth_failed"}))
    assert password is not None
    if account is None:
        return Expect("welcome", user=user, register=password)
    if account[1] == password:
        return Expect("welcome", user=account[0])
    return Expect("refused", frozenset({"auth_failed"}))


# --------------------------------------------------------------------------- frames to try


@dataclass(frozen=True)
class Raw:
    """A JSON literal written as is (numbers too large for json.dumps, NaN...)."""

    literal: str

    def __repr__(self) -> str:
        return f"Raw({short(self.literal, 40)})"


@dataclass(frozen=True)
class Token:
    """A token chosen when the frame is built: a valid one of ``user`` (index into the known
    accounts, or the account named by the frame), or a revoked-looking garbage one."""

    which: int


@dataclass(frozen=True)
class TokenOwner:
    """The name of the owner of ``Token(which)`` (upper-cased with ``upper``): a login that
    should succeed, in another spelling."""

    which: int
    upper: bool


@dataclass(frozen=True)
class KnownId:
    """An id of the log (by index, modulo its length) chosen when the frame is built."""

    which: int


@dataclass(frozen=True)
class UsedRef:
    """A ref the fuzzer already used (so a resend), chosen when the frame is built."""

    which: int


@dataclass(frozen=True)
class Payload:
    """One frame: ``data`` (a JSON tree rendered at send time, a str, or bytes), sent as a
    text frame (bytes that are not UTF-8 included) or, with ``binary``, a binary frame."""

    data: Any
    binary: bool = False
    prefix: str = ""
    ascii_only: bool = True

    def __repr__(self) -> str:
        return f"Payload({short(self.data, 300)}, binary={self.binary}, prefix={self.prefix!r})"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()  # a field left out of the frame


def render_json(value: Any, ctx: Context, ascii_only: bool) -> str:
    if isinstance(value, Raw):
        return value.literal
    if isinstance(value, Token):
        return json.dumps(ctx.token(value.which))
    if isinstance(value, TokenOwner):
        name = ctx.token_owner(value.which)
        return json.dumps(name.upper() if value.upper else name)
    if isinstance(value, KnownId):
        return json.dumps(ctx.known_id(value.which))
    if isinstance(value, UsedRef):
        return json.dumps(ctx.used_ref(value.which))
    if isinstance(value, dict):
        return "{" + ",".join(
            f"{json.dumps(k)}:{render_json(v, ctx, ascii_only)}"
            for k, v in value.items() if v is not MISSING
        ) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render_json(v, ctx, ascii_only) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=ascii_only or not utf8_safe(value))
    return json.dumps(value)


def render(payload: Payload, ctx: Context) -> str | bytes:
    data = payload.data
    if isinstance(data, (str, bytes)):
        return data
    return payload.prefix + render_json(data, ctx, payload.ascii_only)


class Long(str):
    """A long string that shows itself briefly (in Hypothesis' reports)."""

    def __repr__(self) -> str:
        return f"Long({str.__repr__(self[:12])}... {len(self)} chars)"


# Strings, names and refs at their boundaries. ``st.one_of`` picks its branches about evenly,
# so a branch is repeated where it should come up more often.
control = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(
    "\x7f\x85\xa0\u2028\u2029\u200b\ufeff\u3000"
)
any_text = st.text(st.characters(codec="utf-8") | control, max_size=30)
white = st.text(
    st.sampled_from(" \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2000\u3000"), min_size=1, max_size=6
)
lone_surrogate = st.sampled_from(["\ud800", "a\udfff", "\udbff\udc00\ud800"])
long_text = st.builds(
    lambda n, c: Long(c * n), st.sampled_from([3999, 4000, 4001, 4100, 12000]),
    st.sampled_from("xé🙂 "),
)
valid_name = st.from_regex(r"[A-Za-z0-9_.\-]{1,32}", fullmatch=True)
boundary_name = st.sampled_from(
    ["", "a", "B", "n" * 32, "N" * 31 + "x", "n" * 33, Long("n" * 5000), "joão", "ñ", "Ä", "名前",
     "a b", "a\x00", "ana!", "a/b", "-", ".", "_"]
)
known_name = st.sampled_from(
    ["Ana", "ana", "ANA", "aNa", FUZZER, "fuzz", "FUZZ", "canB", "CANB", "ninguem"]
)
any_name = st.one_of(known_name, known_name, boundary_name, valid_name)

json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
    any_text,
    st.sampled_from([Raw("1e999"), Raw("-1e999"), Raw("9" * 5000), Raw("-" + "1" * 6000),
                     Raw("1E400"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity"), Raw("-0"),
                     Raw("1.5e308"), Raw("12345678901234567890123")]),
)
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def any_field(good: st.SearchStrategy[Any], absent: int = 1) -> st.SearchStrategy[Any]:
    """A field: usually a plausible value; else absent, null, or any JSON value of any type."""
    return st.one_of(good, good, good, *[st.just(MISSING)] * absent, st.none(), json_value)


ref_value = any_field(
    st.one_of(
        st.text(max_size=8),
        st.sampled_from(["", "r", "r" * 63, "r" * 64, "é" * 64, "r" * 65, "é" * 65,
                         Long("r" * 1000)]),
        lone_surrogate,
        st.builds(UsedRef, st.integers(0, 50)),  # a resend
        st.builds(UsedRef, st.integers(0, 50)),
    ),
    absent=3,
)


def deep(depth: int, opener: str = "[") -> Raw:
    if opener == "{":
        return Raw('{"a":' * depth + "0" + "}" * depth)
    return Raw("[" * depth + "0" + "]" * depth)


deep_value = st.sampled_from([deep(3), deep(50), deep(20_000), deep(10_000, "{")])

command_line = st.builds(
    lambda word, sep, args: f"/{word}{sep}{args}".rstrip("|"),
    st.sampled_from(["msg", "msg", "msg", "MSG", "Msg", "who", "WHO", "help", "logout", "login",
                     "cair", "dance", "", "/", "m", "msgx"]),
    st.sampled_from(["", " ", "  ", "\t", "\u3000", "\n"]),
    st.one_of(
        st.just(""),
        any_name,
        st.builds(lambda name, sep, body: f"{name}{sep}{body}", any_name,
                  st.sampled_from([" ", "  ", "\t"]),
                  st.one_of(st.sampled_from(["oi", "oi  ", "  ", "a b c"]), any_text, white, long_text)),
    ),
)
message_text = st.one_of(
    any_text,
    st.sampled_from(["oi", "  oi  ", "olá, mundo 🙂"]),
    white,
    long_text,
    lone_surrogate,
    command_line,
    command_line,
    st.sampled_from(["/msg", "/msg ana", "/msg  ana  ", "/msg ana oi", "/msg\tana\toi",
                     Long("/msg ana " + "x" * 4001), "/msg ana \u3000", "/who x", "/help me"]),
)

send_object = st.fixed_dictionaries(
    {"type": st.just("send")},
    optional={
        "text": any_field(message_text),
        "to": st.one_of(st.just(MISSING), st.just(MISSING), st.none(), any_name, any_name,
                        json_value),
        "ref": ref_value,
        "extra": json_value,
    },
)
history_object = st.fixed_dictionaries(
    {"type": st.just("history")},
    optional={
        "before": any_field(st.one_of(
            st.builds(KnownId, st.integers(0, 1000)),
            st.builds(KnownId, st.integers(0, 1000)),
            st.sampled_from(["0", "1", "007", "1-2", "abc", "", " 1", "1.0", "9" * 19,
                             Long("9" * 5000), "١٢", "²", "99999999999"]),
        )),
        "limit": any_field(st.sampled_from([0, 1, 2, 50, 199, 200, 201, -1, 10**30, Raw("1.0"),
                                        Raw("2e0"), True, "3", 1.5])),
        "ref": ref_value,
    },
)
login_object = st.fixed_dictionaries(
    {"type": st.just("login")},
    optional={
        "user": any_field(any_name),
        "password": any_field(st.sampled_from(["pw-1", "pw-1", "pw-2", "", "p", Long("p" * 1024),
                                           Long("p" * 1025), "\ud800", " "]), absent=3),
        "token": any_field(st.builds(Token, st.integers(-3, 20))
                       | st.sampled_from(["", Long("x" * 256), Long("x" * 257), "\udfff"]),
                       absent=3),
        "resume": any_field(st.fixed_dictionaries({}, optional={
            "epoch": any_field(st.sampled_from(["e-0", ""])),
            "after": any_field(st.sampled_from(["1", "x"])),
        }), absent=3),
        "ref": ref_value,
    },
)
other_object = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(["who", "help", "logout", "who", "help", "SEND", "drop",
                                           "bogus", "", "Who", "send ", "message", "welcome"]),
                          json_value),
        "text": any_field(message_text, absent=3),
        "ref": ref_value,
        "deep": deep_value,
        "n": json_scalar,
    },
)
# Mostly well-formed sends with refs: stored messages, resends of used refs (each answered with
# the original), privates to names in other spellings.
good_send = st.fixed_dictionaries(
    {
        "type": st.just("send"),
        "text": st.one_of(st.sampled_from(["oi", "olá 🙂", "  com espaços  "]), any_text, command_line),
        "ref": st.one_of(st.builds(lambda n: f"g-{n}", st.integers(0, 10**9)),
                         st.builds(UsedRef, st.integers(0, 50)), st.just("r" * 64)),
    },
    optional={"to": st.one_of(known_name, st.none())},
)
read_object = st.fixed_dictionaries(
    {"type": st.just("read")},
    optional={
        "id": any_field(st.one_of(
            st.builds(KnownId, st.integers(0, 1000)),
            st.builds(KnownId, st.integers(0, 1000)),
            st.builds(KnownId, st.integers(0, 1000)),
            st.sampled_from(["0", "007", "", "abc", "1-0", "99999999", "\ud800", Long("9" * 5000)]),
        )),
        "ref": ref_value,
    },
)
typing_object = st.fixed_dictionaries(
    {"type": st.just("typing")},
    optional={
        "to": st.one_of(st.just(MISSING), st.none(), known_name, known_name, any_name, json_value),
        "ref": ref_value,
    },
)
json_object = st.one_of(
    good_send, good_send, send_object, send_object, history_object, login_object, other_object,
    read_object, typing_object,
)

json_payload = st.builds(
    Payload,
    json_object,
    prefix=st.sampled_from(["", "", "", " ", "\n\t\r ", "\u00a0", "\ufeff"]),
    ascii_only=st.booleans(),
)
text_payload = st.builds(Payload, st.one_of(
    message_text.filter(utf8_safe),  # a text frame cannot carry a lone surrogate
    st.sampled_from(['{"type": "send", "text": "quebrado"', '{"type":"who"} extra', "{}",
                     '{"type": "send", "text": "oi", "n": NaN}', "[1, 2]", "42", "null",
                     '"texto"', "{" * 30, Long("[" * 3000), Long("[" * 50_000),
                     Long("{" + "[" * 30_000)]),
))
binary_payload = st.builds(
    Payload, st.binary(max_size=64) | st.just(b'{"type":"who"}'), binary=st.just(True)
)
bad_utf8 = st.builds(
    lambda head, bad, tail: Payload(head.encode() + bad + tail.encode()),
    st.text(max_size=10),
    st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82",
                     b"\x80"]),
    st.sampled_from(["", "x", "é"]),
)


def sized(total: int, kind: str) -> Payload:
    """A frame of exactly ``total`` bytes of UTF-8: a chat line or a JSON object."""
    if kind == "line":
        return Payload(Long("a" * total))
    head = '{"type":"who","pad":"'
    return Payload(Long(head + "a" * (total - len(head) - 2) + '"}'))


boundary_payload = st.builds(
    sized, st.sampled_from([MAX_FRAME - 1, MAX_FRAME, MAX_FRAME + 1, 100_000]),
    st.sampled_from(["line", "json"]),
)

any_payload = st.one_of(
    json_payload, json_payload, json_payload, json_payload, text_payload, text_payload,
    binary_payload, bad_utf8, boundary_payload,
)
own_token_login = st.builds(
    lambda i, upper, resume: {"type": "login", "user": TokenOwner(i, upper), "token": Token(i),
                              "resume": resume},
    st.integers(0, 20), st.booleans(),
    st.sampled_from([MISSING, None, {"epoch": "e-0", "after": "1"}, {"epoch": 1, "after": "1"}]),
)
login_line = st.builds(
    lambda word, sep, user, password: f"/{word}{sep}{user}{sep}{password}",
    st.sampled_from(["login", "login", "LOGIN", "Login", "loginx"]),
    st.sampled_from([" ", "  ", "\t", "\u3000"]),
    st.one_of(st.just(""), any_name),
    st.sampled_from(["pw-1", "pw-1", "pw-2", "pw-1 ", Long("p" * 1025), "", "duas palavras"]),
)
login_payload = st.one_of(
    st.builds(Payload, own_token_login),
    st.builds(Payload, login_object, prefix=st.sampled_from(["", " "])),
    st.builds(Payload, login_object),
    st.builds(Payload, login_object),
    st.builds(Payload, login_line),
    st.builds(Payload, login_line),
    st.builds(Payload, st.sampled_from(["/login", "/login ana", " /login ana pw-1", "oi"])),
    json_payload,
    text_payload,
    binary_payload,
    bad_utf8,
    boundary_payload,
)


# --------------------------------------------------------------------------- connections


class Context:
    """The live server, the model of what it holds, and the connections that last."""

    def __init__(self, server: ServerThread, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.model = Model()
        self.fuzzer: Recorder | None = None
        self.canaries: list[Recorder] = []
        self.numbers = itertools.count(1)
        self.used_refs: list[str] = []
        self.seen: Counter[str] = Counter()  # outcomes tried, for the coverage checks

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, 60))

    # -- values chosen when a frame is built

    def token(self, which: int) -> str:
        tokens = sorted(self.model.tokens)
        if which < 0 or not tokens:
            return ["nao-existe", "x" * 43, secrets.token_urlsafe(32)][which % 3]
        return tokens[which % len(tokens)]

    def token_owner(self, which: int) -> str:
        tokens = sorted(self.model.tokens)
        if not tokens:
            return "ninguem"
        return self.model.accounts[self.model.tokens[tokens[which % len(tokens)]]][0]

    def known_id(self, which: int) -> str:
        return self.model.log[which % len(self.model.log)]["id"] if self.model.log else "1"

    def used_ref(self, which: int) -> str:
        return self.used_refs[which % len(self.used_refs)] if self.used_refs else "r"

    # -- logins

    async def login(self, user: str, *, password: str | None = None, token: str | None = None
                    ) -> Recorder:
        ws = await open_ws(self.server.url)
        frame: Frame = {"type": "login", "user": user}
        frame.update({"password": password} if password is not None else {"token": token})
        await ws.send(json.dumps(frame))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert welcome["type"] == "welcome", welcome
        self.model.tokens[welcome["token"]] = key(user)
        if password is not None and key(user) not in self.model.accounts:
            self.model.accounts[key(user)] = (welcome["user"], password)
        recorder = Recorder(ws).start()
        last = welcome["last"]
        if last is not None:  # the history (every login here is fresh): up to welcome.last
            await recorder.wait(lambda: any(f.get("id") == last for f in recorder.frames),
                                "the backlog")
        return recorder

    async def fuzzer_session(self) -> Recorder:
        """The fuzzer's connection, logged in again (token, else password) if it closed."""
        if self.fuzzer is None or self.fuzzer.closed:
            token = next((t for t, k in self.model.tokens.items() if k == key(FUZZER)), None)
            self.fuzzer = await (self.login(FUZZER, token=token) if token
                                 else self.login(FUZZER, password=SECRET))
            # A fresh login's history: the 50 newest visible messages (nobody wrote to the
            # fuzzer while it was away, so there is nothing stored-and-forwarded).
            backlog = [f["id"] for f in self.fuzzer.frames if f["type"] == "message"]
            assert backlog == [m["id"] for m in self.model.visible(FUZZER)[-50:]], backlog
        return self.fuzzer

    def revoke(self, user: str) -> None:
        for token in [t for t, k in self.model.tokens.items() if k == key(user)]:
            del self.model.tokens[token]

    # -- after every frame

    async def canary_round(self) -> None:
        """canA sends canB a private message; both must get it (the server still serves)."""
        a, b = self.canaries
        n = next(self.numbers)
        ref = f"can-{n}"
        await a.ws.send(json.dumps({"type": "send", "to": CANARIES[1], "text": f"ping {n}", "ref": ref}))
        await a.wait(lambda: any(f.get("ref") == ref for f in a.frames), "the canary's echo")
        echo = next(f for f in a.frames if f.get("ref") == ref)
        assert echo["type"] == "message", echo
        await b.wait(lambda: any(f.get("id") == echo["id"] for f in b.frames), "the canary's message")
        self.model.append(echo)

    def check_log_head(self) -> None:
        expected = self.model.log[-1]["id"] if self.model.log else None
        head = self.server.call(self.server.chat.store.head)
        assert head == expected, f"the log's head is {head}, the model's {expected}"

    async def final_checks(self) -> None:
        """Canaries got exactly their visible entries; the log is exactly the model's."""
        store = self.server.chat.store
        for recorder, name in zip(self.canaries, CANARIES, strict=True):
            got = [(m["id"], m["text"]) for m in recorder.frames if m["type"] == "message"]
            assert got == [(m["id"], m["text"]) for m in self.model.visible(name)], name

        async def read_log() -> list[Any]:
            head = await store.head()
            return [await store.get(str(n)) for n in range(1, int(head) + 1)] if head else []

        entries = self.server.call(read_log)
        assert [(e.id, e.sender, e.to, e.text) for e in entries] == [
            (m["id"], m["from"], m["to"], m["text"]) for m in self.model.log
        ]
        status, _, body = http_get(self.server.http_url + "healthz")
        assert (status, body.strip()) == (200, b"ok")
        fresh = await self.login(f"novo{next(self.numbers)}", password="outra-senha")
        await fresh.close()
        await self.canary_round()


@pytest.fixture(scope="module")
def ctx() -> Iterator[Context]:
    server = ServerThread(
        rate_limit=0, login_failures_per_name=10**9, login_failures_per_address=10**9
    )
    server.start()
    loop = asyncio.new_event_loop()
    context = Context(server, loop)

    async def setup() -> None:
        for name in CANARIES:
            context.canaries.append(await context.login(name, password=SECRET))
        await (await context.login("Ana", password="pw-1")).close()
        await context.fuzzer_session()

    try:
        context.run(setup())
        yield context
    finally:
        async def teardown() -> None:
            for recorder in [*context.canaries, context.fuzzer]:
                if recorder is not None:
                    recorder.ws.transport.abort()
                    await recorder.ended()

        context.run(teardown())
        loop.close()
        server.stop()


# --------------------------------------------------------------------------- checking


def check_error(frame: Frame, expect: Expect) -> None:
    assert frame.get("type") == "error", f"expected an error {sorted(expect.codes)}, got {short(frame)}"
    assert frame["code"] in expect.codes, f"code {frame['code']}, expected one of {sorted(expect.codes)}"
    assert isinstance(frame["detail"], str) and frame["detail"], frame
    assert frame.get("ref") == expect.ref, f"ref {frame.get('ref')!r}, expected {expect.ref!r}"
    if expect.hint and frame["code"] == INVALID and expect.codes == {INVALID}:
        assert expect.hint in frame["detail"], frame


def check_answer(ctx: Context, frames: list[Frame], expect: Expect) -> None:
    """The frames a logged-in session got for one frame (between it and the fence)."""
    me = FUZZER
    if expect.kind == "error":
        assert len(frames) == 1, f"expected one error, got {short(frames)}"
        check_error(frames[0], expect)
    elif expect.kind == "message":
        assert len(frames) == 1, f"expected the stored message, got {short(frames)}"
        echo = frames[0]
        assert echo["type"] == "message", echo
        assert (echo["from"], echo["to"], echo["text"]) == (me, expect.to, expect.text), short(echo)
        assert echo.get("ref") == expect.ref, echo
        assert isinstance(echo["ts"], (int, float)) and isinstance(echo["id"], str)
        ctx.model.append(echo)
        if expect.ref is not None:
            ctx.used_refs.append(expect.ref)
    elif expect.kind == "resend":
        original = ctx.model.refs[key(me)][expect.ref or ""]
        assert len(frames) == 1, short(frames)
        back = frames[0]
        assert (back["type"], back["id"], back["text"], back.get("ref")) == (
            "message", original["id"], original["text"], expect.ref), short(back)
    elif expect.kind == "users":
        assert len(frames) == 1 and frames[0]["type"] == "users", short(frames)
        online = frames[0]["online"]
        assert {me, *CANARIES} <= set(online), online
        assert frames[0].get("ref") == expect.ref
    elif expect.kind == "help":
        assert len(frames) == 1 and frames[0]["type"] == "help", short(frames)
        assert "/msg" in frames[0]["text"] and frames[0].get("ref") == expect.ref
    elif expect.kind == "history":
        assert len(frames) == 1, short(frames)
        page = frames[0]
        if expect.maybe_invalid and page.get("type") == "error":
            check_error(page, error({INVALID}, expect.ref))
            return
        assert page["type"] == "history" and page.get("ref") == expect.ref, short(page)
        got = [m["id"] for m in page["messages"]]
        if expect.maybe_invalid:
            assert (got, page["more"]) == ([], False), short(page)
            return
        visible = [m["id"] for m in ctx.model.visible(me)]
        if expect.before is not None:
            visible = [i for i in visible if int(i) < int(expect.before)]
        assert got == visible[-expect.limit:], f"history page {got}, expected {visible[-expect.limit:]}"
        assert page["more"] is (len(visible) > expect.limit)
        assert all("ref" not in m for m in page["messages"])
    elif expect.kind == "read":
        assert frames == [{"type": "read", "id": expect.entry_id}], short(frames)
        ctx.model.reads[key(me)] = int(expect.entry_id)
    elif expect.kind == "nothing":
        assert frames == [], f"expected no answer, got {short(frames)}"
    else:
        raise AssertionError(f"unexpected expectation {expect}")


def describe(expect: Expect) -> str:
    """A label for Hypothesis' statistics (``--hypothesis-show-statistics``)."""
    if expect.kind in ("error", "refused"):
        return f"{expect.kind} {'/'.join(sorted(expect.codes))}"
    if expect.kind == "close":
        return f"close {expect.close}"
    return expect.kind


async def play_live(ctx: Context, payload: Payload) -> Expect:
    fuzzer = await ctx.fuzzer_session()
    data = render(payload, ctx)
    expect = expect_live(ctx.model, FUZZER, data, payload.binary)
    mark = len(fuzzer.frames)
    if payload.binary:
        assert isinstance(data, bytes)
        await fuzzer.ws.send(data)
    elif isinstance(data, bytes):
        await fuzzer.ws.send(data, text=True)  # not UTF-8: sent as it is
    else:
        await fuzzer.ws.send(data)
    if expect.kind == "close":
        await fuzzer.wait(lambda: fuzzer.closed, f"the close {expect.close}")
        assert fuzzer.ws.close_code == expect.close, (fuzzer.ws.close_code, expect)
        assert fuzzer.frames[mark:] == [], f"frames before the close: {short(fuzzer.frames[mark:])}"
        if expect.close == 1000:
            ctx.revoke(FUZZER)
        status, _, _ = http_get(ctx.server.http_url + "healthz")
        assert status == 200
    else:
        # A fence: a private message to oneself goes through the same queue as every send,
        # so its echo comes after anything the frame above caused.
        fence = f"fence-{next(ctx.numbers)}-{secrets.token_hex(4)}"
        await fuzzer.ws.send(json.dumps({"type": "send", "to": FUZZER, "text": "cerca", "ref": fence}))
        await fuzzer.wait(lambda: any(f.get("ref") == fence for f in fuzzer.frames[mark:]),
                          f"the fence after {expect}")
        frames = fuzzer.frames[mark:]
        end = next(i for i, f in enumerate(frames) if f.get("ref") == fence)
        try:
            check_answer(ctx, frames[:end], expect)
        finally:
            ctx.model.append(frames[end])
    await ctx.canary_round()
    ctx.check_log_head()
    return expect


async def play_login(ctx: Context, payload: Payload) -> Expect:
    data = render(payload, ctx)
    expect = expect_login(ctx.model, data, payload.binary)
    ws = await open_ws(ctx.server.url)
    try:
        if payload.binary:
            assert isinstance(data, bytes)
            await ws.send(data)
        elif isinstance(data, bytes):
            await ws.send(data, text=True)
        else:
            await ws.send(data)
        if expect.kind == "welcome":
            welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
            assert welcome["type"] == "welcome", f"expected welcome as {expect.user}, got {short(welcome)}"
            assert welcome["user"] == expect.user
            if expect.register is not None:
                ctx.model.accounts[key(expect.user)] = (expect.user, expect.register)
            ctx.model.tokens[welcome["token"]] = key(expect.user)
        else:
            frames: list[Frame] = []
            try:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))
            except ConnectionClosed:
                pass
            if expect.kind == "close":
                assert (ws.close_code, frames) == (expect.close, []), (ws.close_code, short(frames))
            else:
                assert ws.close_code == 4001, (ws.close_code, short(frames))
                assert len(frames) == 1, short(frames)
                error_ = frames[0]
                assert error_["type"] == "error" and error_["code"] in expect.codes, (
                    f"{short(error_)}, expected one of {sorted(expect.codes)}")
                assert isinstance(error_["detail"], str) and error_["detail"]
            status, _, _ = http_get(ctx.server.http_url + "healthz")
            assert status == 200
    finally:
        await ws.close()
    await ctx.canary_round()
    ctx.check_log_head()
    return expect


# --------------------------------------------------------------------------- the tests

FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,  # the server is shared: a replayed example must not depend on old state
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_any_frame_from_a_logged_in_session(ctx: Context) -> None:
    @settings(FUZZ_SETTINGS, max_examples=LIVE_EXAMPLES)
    @given(payload=any_payload)
    def one(payload: Payload) -> None:
        label = describe(ctx.run(play_live(ctx, payload)))
        event(label)
        ctx.seen[label] += 1

    ctx.seen.clear()
    one()
    # The strategies reach every kind of answer (each is drawn dozens of times on average).
    assert_tried(ctx, {"close 1007", "close 1009", "message", "history", "resend",
                       "error unknown_command", "error too_long", "error invalid_message",
                       "read", "nothing", "error unknown_user"})
    ctx.run(ctx.final_checks())


def test_any_first_frame(ctx: Context) -> None:
    @settings(FUZZ_SETTINGS, max_examples=LOGIN_EXAMPLES)
    @given(payload=login_payload)
    def one(payload: Payload) -> None:
        label = describe(ctx.run(play_login(ctx, payload)))
        event(label)
        ctx.seen[label] += 1

    ctx.seen.clear()
    one()
    assert_tried(ctx, {"close 1007", "welcome", "refused auth_failed", "refused login_required",
                       "refused invalid_message"})
    ctx.run(ctx.final_checks())


def assert_tried(ctx: Context, labels: set[str]) -> None:
    missing = labels - set(ctx.seen)
    assert not missing, f"never tried: {sorted(missing)}; tried {sorted(ctx.seen.items())}"


def test_fixed_cases_of_the_issue(ctx: Context) -> None:
    """The frames the issue names, each once (the fuzzer draws them too, not necessarily)."""
    cases = [
        Payload("[" * 100_000),  # over 64 KiB: 1009
        Payload(Long('{"type":"send","text":"x","n":' + "[" * 30_000 + "]" * 30_000 + "}")),
        Payload(b"oi \xff mundo"),
        Payload(b"\x00\x01binario", binary=True),
        Payload("/msg"), Payload("/msg joao"), Payload("/msg  joao  "), Payload("/msg ana oi"),
        Payload({"type": "send", "text": "oi", "ref": "r" * 64}),
        Payload({"type": "send", "text": "oi", "ref": "r" * 65}),
        *(Payload({"type": "history", "limit": n}) for n in (0, 1, 200, 201)),
        Payload({"type": "send", "text": "oi", "n": Raw("1" * 5000)}),
        Payload({"type": "send", "text": "oi", "n": Raw("1e999")}),
        Payload({"type": "login", "user": FUZZER, "password": SECRET}),  # login twice
        Payload("\x00\x01\x02\x1b[31m vermelho \x7f"),
        Payload({"type": "read", "id": "1"}), Payload({"type": "read", "id": "1"}),
        Payload({"type": "read", "id": "0", "ref": "r"}), Payload({"type": "typing"}),
        Payload({"type": "typing", "to": "ninguem", "ref": "t"}),
        Payload("/help"), Payload({"type": "who", "ref": "w"}), Payload({"type": "logout"}),
    ]
    for payload in cases:
        ctx.run(play_live(ctx, payload))
    for first in [
        Payload({"type": "send", "text": "antes do login"}),
        *(Payload({"type": "login", "user": name, "password": "pw-1"})
          for name in ("", "z", "z" * 32, "z" * 33, Long("z" * 10_000), "joão")),
    ]:
        ctx.run(play_login(ctx, first))
    ctx.run(ctx.final_checks())
