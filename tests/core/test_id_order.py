"""wschat.core.model.is_later: one rule for the order of two ids, whatever the ids are.

The shared cases (tests/client/client_vectors.json, "id_order") are the ones the browser's
``isLater`` is held to as well (tests/client/test_browser_vectors.py); the properties below
cover ids of every form and ids that are no id at all.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from vectorkit import ID_ORDER

from wschat.core.model import is_later, log_order

#: wschat's two id forms, in ASCII digits.
seq_ids = st.integers(min_value=0, max_value=2**70).map(str)
stream_ids = st.tuples(st.integers(0, 2**48), st.integers(0, 2**20)).map(lambda p: f"{p[0]}-{p[1]}")
ids = st.one_of(seq_ids, stream_ids)
#: Anything a server could send as an id, ids of wschat's forms included.
anything = st.one_of(ids, st.text(max_size=12))


def orderable(value: str) -> bool:
    try:
        log_order(value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(("a", "b", "expected"), ID_ORDER, ids=[repr(c[:2]) for c in ID_ORDER])
def test_the_shared_cases(a: str, b: str | None, expected: bool) -> None:
    assert is_later(a, b) is expected


@given(seq_ids, seq_ids)
def test_sequence_ids_compare_as_numbers(a: str, b: str) -> None:
    assert is_later(a, b) == (int(a) > int(b))


@given(stream_ids, stream_ids)
def test_stream_ids_compare_by_time_then_sequence(a: str, b: str) -> None:
    ta, sa = map(int, a.split("-"))
    tb, sb = map(int, b.split("-"))
    assert is_later(a, b) == ((ta, sa) > (tb, sb))


@given(ids, ids)
def test_two_ids_it_can_order_are_in_one_order(a: str, b: str) -> None:
    assert not is_later(a, a)
    assert not (is_later(a, b) and is_later(b, a))
    if a != b and log_order(a) != log_order(b):
        assert is_later(a, b) != is_later(b, a)


@given(anything, anything)
def test_an_id_it_cannot_order_counts_as_later_on_either_side(a: str, b: str) -> None:
    if not (orderable(a) and orderable(b)):
        assert is_later(a, b) and is_later(b, a)


@given(anything)
def test_anything_is_later_than_nothing(a: str) -> None:
    assert is_later(a, None)


def test_only_ascii_digits_make_an_id() -> None:
    """Python's str.isdigit() takes "٣" and "²": the old check let them through as ids, which
    chat_wire.js's isLater (\\d is ASCII) never ordered."""
    for value in ("٣", "²", "1-٣", "42\n", "+1", " 1", "1_000"):
        with pytest.raises(ValueError, match="not a log id"):
            log_order(value)
