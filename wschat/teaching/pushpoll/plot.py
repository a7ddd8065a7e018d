"""How the push-versus-polling results are shown to a reader of the pt-BR notebook
(01_conceitos.ipynb): the table as aligned text and the latency chart, with Portuguese labels
and numbers written the Brazilian way (decimal comma, dot between thousands; see
``wschat.teaching.ptbr``). Knows nothing of how the numbers were measured."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple

from wschat.teaching.ptbr import number

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis

__all__ = ["Row", "draw_latencies", "format_table", "interval_label", "short_number"]


class Row(NamedTuple):
    """One line of ``Comparison.table()``; latencies in seconds."""

    method: str
    p50: float
    p95: float
    max: float
    requests_per_event: float
    bytes_per_event: float


def short_number(value: float) -> str:
    """``value`` with as few decimals as it needs, the Brazilian way: ``0.1`` is ``"0,1"``,
    ``1000.0`` is ``"1.000"``, ``12.5`` is ``"12,5"`` (up to six significant digits)."""
    text = f"{value:.6g}"
    if "e" in text:  # very large or very small: keep the exponent, swap the point
        return text.replace(".", ",")
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    digits = number(abs(int(whole)))
    return f"{sign}{digits},{fraction}" if fraction else f"{sign}{digits}"


def interval_label(interval: float) -> str:
    """A polling interval as a reader sees it: ``0.05`` is ``"50 ms"``, ``0.0125`` is
    ``"12,5 ms"`` (decimal comma, as everywhere in the pt-BR notebooks)."""
    return f"{short_number(interval * 1e3)} ms"


def format_table(rows: Sequence[Row]) -> str:
    """``rows`` as aligned text, latencies in milliseconds: Portuguese column labels, the
    methods' names as row labels, Brazilian numbers."""
    header = ("Método", "p50 ms", "p95 ms", "Máx ms", "Requisições/evento", "Bytes/evento")
    lines = [
        (row.method, number(row.p50 * 1e3, 2), number(row.p95 * 1e3, 2),
         number(row.max * 1e3, 2), number(row.requests_per_event, 2),
         number(row.bytes_per_event))
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]

    def fmt(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join([first, *rest])

    return "\n".join([fmt(header), *(fmt(line) for line in lines)])


def draw_latencies(
    ax: Axes | None, samples: Sequence[tuple[str, Sequence[float]]], title: str,
    kind: Literal["box", "cdf"] = "box",
) -> Axes:
    """Draw ``samples`` (pairs of a method's name and its latencies in seconds) on ``ax`` (a new
    figure if None) in milliseconds on a log scale: a boxplot (``kind="box"``) or cumulative
    distributions (``kind="cdf"``). Raises ValueError for another ``kind``. Needs
    matplotlib, imported only here."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(8, 4))
    labels = [label for label, _ in samples]
    in_ms = [[value * 1e3 for value in sample] for _, sample in samples]
    from matplotlib.ticker import FuncFormatter, LogLocator

    def brazilian(value: float, _position: object = None) -> str:
        return short_number(value)

    if kind == "box":
        ax.boxplot(in_ms, tick_labels=labels, showfliers=True)
        ax.set_yscale("log")
        ax.set_ylabel("Latência (ms, escala log)")
        latency_axis: Axis = ax.yaxis
    elif kind == "cdf":
        for label, sample in zip(labels, in_ms, strict=True):
            ordered = sorted(sample)
            fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
            ax.step(ordered, fractions, where="post", label=label)
        ax.set_xscale("log")
        ax.set_xlabel("Latência (ms, escala log)")
        ax.set_ylabel("Fração dos eventos")
        ax.yaxis.set_major_formatter(FuncFormatter(brazilian))
        ax.legend()
        latency_axis = ax.xaxis
    else:
        raise ValueError(f"kind must be 'box' or 'cdf', not {kind!r}")
    # Ticks at 1, 3, 10, 30...: a sub-millisecond push still sits next to a labelled tick.
    latency_axis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))
    latency_axis.set_major_formatter(FuncFormatter(brazilian))
    latency_axis.set_minor_formatter(FuncFormatter(lambda _value, _position: ""))
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    return ax
