"""wschat.teaching.pushpoll.stats: each method's statistics and the comparison's table."""

from __future__ import annotations

import math

import pytest

from wschat.teaching.pushpoll import Comparison, MethodResult, Row


def sample_comparison() -> Comparison:
    push = MethodResult("WebSocket push", None, (0.001, 0.002, 0.003, 0.004),
                        (1, 2, 3, 4), 1, 0, 800)
    poll = MethodResult("polling 500 ms", 0.5, (0.1, 0.2, 0.3, 0.4), (1, 2, 3, 4), 8, 5, 2000)
    return Comparison((push, poll), events=4, seed=0)


def test_statistics_and_table() -> None:
    comparison = sample_comparison()
    poll = comparison.poll(0.5)
    assert poll.p50 == pytest.approx(0.25)
    assert poll.p95 == pytest.approx(0.385)  # linear interpolation, as numpy does
    assert poll.max == 0.4
    assert poll.mean == pytest.approx(0.25)
    assert (poll.requests_per_event, poll.bytes_per_event) == (2.0, 500.0)
    rows = comparison.table()
    assert rows[1] == Row("polling 500 ms", poll.p50, poll.p95, 0.4, 2.0, 500.0)
    text = comparison.format_table()
    assert text.splitlines()[0].split() == [
        "Método", "p50", "ms", "p95", "ms", "Máx", "ms", "Requisições/evento", "Bytes/evento"]
    assert "polling 500 ms" in text
    # Brazilian numbers: decimal comma, dot between thousands; never a decimal point.
    poll_line = text.splitlines()[2].split()
    assert poll_line[:3] == ["polling", "500", "ms"]
    assert poll_line[3:] == ["250,00", "385,00", "400,00", "2,00", "500"]
    push_line = text.splitlines()[1].split()
    assert push_line[2:] == ["2,50", "3,85", "4,00", "0,25", "200"]
    big = MethodResult("polling 2.000 ms", 2.0, (1.2345,), (1,), 1, 0, 12_345)
    assert Comparison((big,), events=1, seed=0).format_table().splitlines()[1].split()[3:] == [
        "1.234,50", "1.234,50", "1.234,50", "1,00", "12.345"]
    with pytest.raises(KeyError):
        comparison.poll(0.1)


def test_empty_result_has_nan_statistics() -> None:
    empty = MethodResult("polling 1.000 ms", 1.0, (), (), 3, 3, 600)
    assert math.isnan(empty.p50) and math.isnan(empty.max)
    assert math.isnan(empty.requests_per_event)
