"""The figures the README and the notebooks both quote, in one place.

The README states a few numbers that the notebooks show running (the push latency on loopback,
the test server's greeting, the probe's patience, how much history a login gets). Each is
defined once: here, or, when the code itself uses the value, in the module that owns it and
re-exported here. ``tests/test_readme.py`` checks that the README states each one as it is
below (written the Brazilian way with :mod:`wschat.teaching.ptbr`), and the notebooks assert
their measurements against the same names, so a figure cannot drift between the two.
No I/O.
"""

from __future__ import annotations

from typing import Final

from wschat.core.defaults import HISTORY, MAX_REPLAY
from wschat.teaching.probe.api import DEFAULT_TIMEOUT as PROBE_TIMEOUT
from wschat.teaching.replica import GREETING

__all__ = ["GREETING", "HISTORY", "MAX_REPLAY", "PROBE_TIMEOUT", "PUSH_LATENCY_BOUND_MS"]

#: A server push over WebSocket on loopback arrives in less than this many milliseconds (the
#: README's "menos de 1 ms"). Notebook 01 measures a median around 0.3 ms; a notebook that
#: states the claim asserts its measured median against this bound.
PUSH_LATENCY_BOUND_MS: Final = 1
