"""The figures the README and the notebooks both quote, kept in one place.

A figure that a reader meets in several places (the README's answer, a notebook's prose, a
notebook's measurement) is stated here once; the README and the notebooks' checks are tested
against it (tests/test_readme.py, tests/notebooks/). Protocol defaults live in
:mod:`wschat.core.defaults` and the test server's greeting in :mod:`wschat.teaching.replica`;
this module is for what the teaching material claims about measurements.
"""

from __future__ import annotations

from typing import Final

__all__ = ["PUSH_LATENCY_BOUND_MS"]

#: On loopback (client and server on one machine), a pushed event reaches the client in less
#: than this many milliseconds (notebook 01 measures a median of about 0.3 ms): the README and
#: the notebooks say "menos de 1 ms".
PUSH_LATENCY_BOUND_MS: Final = 1
