"""Frames to try: Hypothesis strategies of payloads (JSON objects with every field of every
wrong type, text, binary, sizes at the bounds, logins), rendered against the live context."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatkit import short
from hypothesis import strategies as st

from fuzzkit.oracle import FUZZER, MAX_FRAME, utf8_safe

if TYPE_CHECKING:
    from fuzzkit.session import Context

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
