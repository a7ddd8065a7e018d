"""wschat.teaching.ptbr: Brazilian number formatting, independent of the machine's locale."""

from __future__ import annotations

import pytest

from wschat.teaching.ptbr import milliseconds, number, percent, ratio


@pytest.mark.parametrize(
    ("value", "decimals", "shown"),
    [
        (0, 0, "0"),
        (999, 0, "999"),
        (1000, 0, "1.000"),
        (1234567.891, 2, "1.234.567,89"),
        (-1234.5, 1, "-1.234,5"),
        (0.05, 1, "0,1"),  # rounds like Python's format: half to even on the binary value
        (3.14159, 3, "3,142"),
    ],
)
def test_number_uses_the_decimal_comma_and_dots_between_thousands(value: float, decimals: int, shown: str) -> None:
    assert number(value, decimals) == shown


def test_negative_decimals_are_refused() -> None:
    with pytest.raises(ValueError, match="decimals"):
        number(1.0, -1)


def test_units() -> None:
    assert milliseconds(0.0123) == "12,3 ms"
    assert milliseconds(2.5, 0) == "2.500 ms"
    assert percent(0.256) == "26%"
    assert ratio(4.05) == "4,0x"  # 4.05 is 4.04999... in binary
