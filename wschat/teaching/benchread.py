"""The benchmark's raw results, read for notebook 05's one chart.

``make bench`` writes every run to ``benchmarks/results/raw.json``: ``{"meta": {...}, "runs":
[{"contender": KEY, "run": N, "steps": [{"clients": C, METRIC: VALUE, ...}, ...]}, ...]}``.
:func:`fanout` takes, for every contender found there (whatever its name: new contenders need
no change here) and every client count, the median over runs of each metric, as
``benchmarks/report.py`` does for its tables. :func:`label` gives the Portuguese name a chart
shows, or the key itself for a contender it does not know.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["LABELS", "fanout", "label", "median_over_runs", "open_loop", "read_raw",
           "runs_per_contender"]

#: Chart names, in Portuguese, of the contenders known today.
LABELS = {
    "wschat-memory": "wschat (memória)",
    "wschat-sqlite": "wschat (SQLite)",
    "relay-broadcast": "relay com broadcast() do websockets",
    "relay-loop": "relay de tutorial",
    "socketio": "python-socketio",
    "aiohttp": "aiohttp",
    "picows": "picows",
    "socketify": "socketify",
    "node-ws": "ws (Node)",
    "node-socketio": "socket.io (Node)",
    "uws": "uWebSockets.js (Node)",
}

Raw = dict[str, Any]
Table = dict[str, dict[int, dict[str, float]]]


def read_raw(path: str | Path) -> Raw:
    """The parsed ``raw.json``. Raises :class:`ValueError` naming the file if it is not a
    results file (no ``runs`` list, or a run without ``contender`` and ``steps``)."""
    raw: object = json.loads(Path(path).read_text(encoding="utf-8"))
    runs = raw.get("runs") if isinstance(raw, dict) else None
    if not isinstance(runs, list) or not all(
        isinstance(r, dict) and "contender" in r and isinstance(r.get("steps"), list) for r in runs
    ):
        raise ValueError(f"{path}: not a benchmark results file (expected a 'runs' list of "
                         "runs with 'contender' and 'steps')")
    assert isinstance(raw, dict)  # runs is a list only if raw is a dict
    return raw


def median_over_runs(values: Iterable[object]) -> float | None:
    """The median of the numbers among ``values`` (one per run); a run that lacks the value
    (None, or anything not a number) does not count. None when no run has it. The one median
    of the benchmark's figures: :func:`fanout`, :func:`open_loop` and benchmarks/report.py."""
    present = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return statistics.median(present) if present else None


def label(contender: str) -> str:
    """The name a chart shows for ``contender``: :data:`LABELS`, else the key itself."""
    return LABELS.get(contender, contender)


def runs_per_contender(raw: Raw) -> dict[str, int]:
    """How many runs each contender has, in order of first appearance."""
    counts: dict[str, int] = {}
    for run in raw["runs"]:
        counts[run["contender"]] = counts.get(run["contender"], 0) + 1
    return counts


def fanout(raw: Raw, metrics: tuple[str, ...] = ("deliveries_per_cpu_s", "lat_p95_ms")) -> Table:
    """contender -> clients -> metric -> the median over runs (a run without that step or
    metric does not count). Contenders in order of first appearance, client counts ascending."""
    values: dict[str, dict[int, dict[str, list[object]]]] = {}
    for run in raw["runs"]:
        steps = values.setdefault(run["contender"], {})
        for step in run["steps"]:
            per_metric = steps.setdefault(int(step["clients"]), {m: [] for m in metrics})
            for metric in metrics:
                per_metric[metric].append(step.get(metric))
    return {contender: {clients: _medians(by_metric) for clients, by_metric in sorted(steps.items())}
            for contender, steps in values.items()}


def _medians(by_metric: dict[str, list[object]]) -> dict[str, float]:
    """metric -> :func:`median_over_runs` of its values, leaving out a metric no run has."""
    medians = {metric: median_over_runs(values) for metric, values in by_metric.items()}
    return {metric: median for metric, median in medians.items() if median is not None}


def open_loop(raw: Raw) -> dict[str, dict[str, float]]:
    """contender -> the open-loop phase (1,000 clients, broadcasts at a fixed rate): the median
    over runs of ``deliveries_per_cpu_s`` (deliveries per server CPU-second), ``lat_p99_ms``
    and ``private_p99_ms``. Runs without that phase (or a metric) do not count."""
    values: dict[str, dict[str, list[object]]] = {}
    for run in raw["runs"]:
        phase = run.get("open_loop")
        if not isinstance(phase, dict):
            continue
        per_metric = values.setdefault(run["contender"], {})
        cpu, deliveries = phase.get("server_cpu_s"), phase.get("deliveries")
        if isinstance(cpu, int | float) and cpu > 0 and isinstance(deliveries, int | float):
            per_metric.setdefault("deliveries_per_cpu_s", []).append(deliveries / cpu)
        for metric in ("lat_p99_ms", "private_p99_ms"):
            per_metric.setdefault(metric, []).append(phase.get(metric))
    return {contender: _medians(by_metric) for contender, by_metric in values.items()}
