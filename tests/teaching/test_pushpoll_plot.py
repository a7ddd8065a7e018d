"""wschat.teaching.pushpoll.plot: the chart and labels a reader of notebook 01 sees."""

from __future__ import annotations

import matplotlib
import pytest
from matplotlib.axis import Axis

from wschat.teaching.pushpoll import Comparison, MethodResult
from wschat.teaching.pushpoll.plot import interval_label

matplotlib.use("Agg")


def sample_comparison() -> Comparison:
    push = MethodResult("WebSocket push", None, (0.001, 0.002, 0.003, 0.004),
                        (1, 2, 3, 4), 1, 0, 800)
    poll = MethodResult("polling 500 ms", 0.5, (0.1, 0.2, 0.3, 0.4), (1, 2, 3, 4), 8, 5, 2000)
    return Comparison((push, poll), events=4, seed=0)


@pytest.mark.parametrize("kind", ["box", "cdf"])
def test_plot_draws_every_method(kind: str) -> None:
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    try:
        returned = sample_comparison().plot(ax, kind=kind)  # type: ignore[arg-type]
        assert returned is ax
        if kind == "box":
            labels = [tick.get_text() for tick in ax.get_xticklabels()]
            assert labels == ["WebSocket push", "polling 500 ms"]
            assert ax.get_yscale() == "log"
            latency_axis: Axis = ax.yaxis
        else:
            assert [line.get_label() for line in ax.get_lines()] == [
                "WebSocket push", "polling 500 ms"]
            assert ax.get_xscale() == "log"
            latency_axis = ax.xaxis
            fraction = ax.yaxis.get_major_formatter()
            assert [fraction(v, 0) for v in (0.0, 0.25, 1.0)] == ["0", "0,25", "1"]
        # Brazilian tick labels on the latency axis: 0,1 ms, not 0.1 or 10^-1.
        latency = latency_axis.get_major_formatter()
        assert [latency(v, 0) for v in (0.1, 1.0, 1000.0)] == ["0,1", "1", "1.000"]
        assert "latência" in (ax.get_ylabel() + ax.get_xlabel()).lower()
        with pytest.raises(ValueError, match="kind"):
            sample_comparison().plot(ax, kind="pie")  # type: ignore[arg-type]
    finally:
        plt.close(figure)


def testinterval_labels_use_a_decimal_comma() -> None:
    assert interval_label(0.05) == "50 ms"
    assert interval_label(0.0125) == "12,5 ms"
    assert interval_label(2.0) == "2.000 ms"
