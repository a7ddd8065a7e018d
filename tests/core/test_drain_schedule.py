"""The drain schedule (wschat.core.drain_schedule): which connection closes when, as plain data."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wschat.core.drain_schedule import drain_schedule


def test_closes_are_spread_evenly_from_zero_within_the_window() -> None:
    assert drain_schedule(["a", "b", "c", "d"], 2.0) == [
        (0.0, "a"), (0.5, "b"), (1.0, "c"), (1.5, "d")
    ]


def test_one_connection_closes_at_once() -> None:
    assert drain_schedule(["a"], 30.0) == [(0.0, "a")]


def test_nothing_to_close() -> None:
    assert drain_schedule([], 5.0) == []


@pytest.mark.parametrize("window", [0.0, -1.0])
def test_no_window_closes_everything_at_once(window: float) -> None:
    assert drain_schedule(["a", "b", "c"], window) == [(0.0, "a"), (0.0, "b"), (0.0, "c")]


@given(st.integers(min_value=1, max_value=500), st.floats(min_value=0.01, max_value=3600))
def test_every_item_once_in_order_equal_steps_inside_the_window(n: int, window: float) -> None:
    schedule = drain_schedule(list(range(n)), window)
    assert [item for _, item in schedule] == list(range(n))
    offsets = [offset for offset, _ in schedule]
    assert offsets[0] == 0.0
    assert all(0 <= offset < window for offset in offsets)
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    assert all(gap == pytest.approx(window / n) for gap in gaps)
