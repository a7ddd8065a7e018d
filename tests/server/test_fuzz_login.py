"""Fuzz: any first frame of a connection (tests/fuzzkit has the oracle and the frames).

A thousand first frames drawn by Hypothesis (logins of every shape, sends before the login,
binary, bad UTF-8), each checked against the oracle: a welcome as the right user, or exactly one
error then 4001, or the right close code; the server goes on serving the canaries.
"""

from __future__ import annotations

import os

from fuzzkit.frames import Payload, login_payload
from fuzzkit.session import FUZZ_SETTINGS, Context, assert_tried, describe, play_login
from hypothesis import event, given, settings

#: Examples per test: thousands of frames in total, within about a minute on 2 cores.
LOGIN_EXAMPLES = int(os.environ.get("WSCHAT_FUZZ_LOGIN", 1000))


def test_any_first_frame(fuzz_ctx: Context) -> None:
    @settings(FUZZ_SETTINGS, max_examples=LOGIN_EXAMPLES)
    @given(payload=login_payload)
    def one(payload: Payload) -> None:
        label = describe(fuzz_ctx.run(play_login(fuzz_ctx, payload)))
        event(label)
        fuzz_ctx.seen[label] += 1

    fuzz_ctx.seen.clear()
    one()
    assert_tried(fuzz_ctx, {"close 1007", "welcome", "refused auth_failed", "refused login_required",
                       "refused invalid_message"})
    fuzz_ctx.run(fuzz_ctx.final_checks())
