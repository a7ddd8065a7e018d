"""The oracle: what the server must answer to a frame, written from PROTOCOL.md and
docs/decisions.md only (it does not import the server's parser), and the model of what the
server holds (accounts, tokens, the log, refs, read positions)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from chatkit import Frame, short

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


def frame_text(payload: str | bytes) -> str | Expect:
    """The text of a text frame, or the close that answers it in any phase: 1009 for more than
    MAX_FRAME bytes, 1007 for bytes that are not UTF-8."""
    data = payload if isinstance(payload, bytes) else payload.encode("utf-8")
    if len(data) > MAX_FRAME:
        return Expect("close", close=1009)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return Expect("close", close=1007)


def expect_live(model: Model, me: str, payload: str | bytes, binary: bool) -> Expect:
    """The answer to one frame from a logged-in session (PROTOCOL.md)."""
    if binary:
        return error({INVALID}, None)
    text = frame_text(payload)
    if isinstance(text, Expect):
        return text
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
    text = frame_text(payload)
    if isinstance(text, Expect):
        return text
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
