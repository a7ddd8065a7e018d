"""Fuzz: any frame from a logged-in session (tests/fuzzkit has the oracle and the frames).

Thousands of frames drawn by Hypothesis from one logged-in session of a live server, each
checked against the oracle (the error and its ``ref``, the close code, or the stored message),
with the canaries' round, the log's head and ``/healthz`` checked after every frame.
"""

from __future__ import annotations

import os

from fuzzkit.frames import Payload, any_payload
from fuzzkit.session import FUZZ_SETTINGS, Context, assert_tried, describe, play_live
from hypothesis import event, given, settings

#: Examples per test: thousands of frames in total, within about a minute on 2 cores.
LIVE_EXAMPLES = int(os.environ.get("WSCHAT_FUZZ_LIVE", 2500))


def test_any_frame_from_a_logged_in_session(fuzz_ctx: Context) -> None:
    @settings(FUZZ_SETTINGS, max_examples=LIVE_EXAMPLES)
    @given(payload=any_payload)
    def one(payload: Payload) -> None:
        label = describe(fuzz_ctx.run(play_live(fuzz_ctx, payload)))
        event(label)
        fuzz_ctx.seen[label] += 1

    fuzz_ctx.seen.clear()
    one()
    # The strategies reach every kind of answer (each is drawn dozens of times on average).
    assert_tried(fuzz_ctx, {"close 1007", "close 1009", "message", "history", "resend",
                       "error unknown_command", "error too_long", "error invalid_message",
                       "read", "nothing", "error unknown_user"})
    fuzz_ctx.run(fuzz_ctx.final_checks())
