"""Fuzz: the frames the issue names, each once, against the oracle (tests/fuzzkit)."""

from __future__ import annotations

from fuzzkit.frames import Long, Payload, Raw
from fuzzkit.oracle import FUZZER, SECRET
from fuzzkit.session import Context, play_live, play_login


def test_fixed_cases_of_the_issue(fuzz_ctx: Context) -> None:
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
        fuzz_ctx.run(play_live(fuzz_ctx, payload))
    for first in [
        Payload({"type": "send", "text": "antes do login"}),
        *(Payload({"type": "login", "user": name, "password": "pw-1"})
          for name in ("", "z", "z" * 32, "z" * 33, Long("z" * 10_000), "joão")),
    ]:
        fuzz_ctx.run(play_login(fuzz_ctx, first))
    fuzz_ctx.run(fuzz_ctx.final_checks())
