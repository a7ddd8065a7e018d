"""Deferred.add says how many sessions a burst's shared bytes go to, so the metrics can count
a burst once (wschat.core.fanout; docs/decisions.md, "Metrics per burst")."""

from __future__ import annotations

from wschat.core.fanout import Deferred


def test_add_counts_the_sessions_that_get_the_shared_bytes() -> None:
    written: list[tuple[str, bytes]] = []
    deferred: Deferred[str] = Deferred(lambda ss, d: written.extend((s, d) for s in ss))
    everyone = ["a", "b", "c", "d", "e"]
    # "a" gets its own bytes (and not the shared ones), "e" is catching up.
    assert deferred.add(b"S1", everyone, {"a": b"own"}, exclude={"e"}) == 3
    # Nothing written out yet: b, c, d still owe S1 and get S2 appended; "a" joins them.
    assert deferred.add(b"S2", everyone, {}, exclude={"e"}) == 4
    assert deferred.add(b"", everyone, {"b": b"x"}) == 0
    deferred.flush_some(10)
    got = dict(written[1:])  # after ("a", b"own")
    assert got == {"a": b"S2", "b": b"S1S2x", "c": b"S1S2", "d": b"S1S2"}
