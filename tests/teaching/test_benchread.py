"""wschat.teaching.benchread: medians over runs per contender and client count, any contender."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wschat.teaching.benchread import fanout, label, open_loop, read_raw, runs_per_contender

ROOT = Path(__file__).resolve().parents[2]


def run(contender: str, n: int, steps: list[tuple[int, float, float]]) -> dict[str, object]:
    return {"contender": contender, "run": n, "steps": [
        {"clients": c, "deliveries_per_cpu_s": d, "lat_p95_ms": p} for c, d, p in steps]}


def test_medians_per_contender_and_step_for_any_contender(tmp_path: Path) -> None:
    raw = {"meta": {}, "runs": [
        run("wschat-memory", 0, [(100, 10.0, 1.0), (1000, 30.0, 5.0)]),
        run("uws-node", 0, [(100, 50.0, 0.5)]),           # a contender this module never heard of
        run("wschat-memory", 1, [(1000, 20.0, 7.0), (100, 14.0, 3.0)]),
        run("wschat-memory", 2, [(100, 12.0, 2.0)]),      # this run lacks the 1,000 step
    ]}
    path = tmp_path / "raw.json"
    path.write_text(json.dumps(raw), encoding="utf-8")

    table = fanout(read_raw(path))
    assert list(table) == ["wschat-memory", "uws-node"]
    assert table["wschat-memory"] == {
        100: {"deliveries_per_cpu_s": 12.0, "lat_p95_ms": 2.0},       # median of 3 runs
        1000: {"deliveries_per_cpu_s": 25.0, "lat_p95_ms": 6.0},      # median of 2 = their mean
    }
    assert list(table["wschat-memory"]) == [100, 1000]
    assert runs_per_contender(raw) == {"wschat-memory": 3, "uws-node": 1}
    assert label("uws-node") == "uws-node" and label("socketio") == "python-socketio"


def test_open_loop_medians_per_contender() -> None:
    def phase(cpu: float, p99: float) -> dict[str, object]:
        return {"server_cpu_s": cpu, "deliveries": 200_000, "lat_p99_ms": p99, "private_p99_ms": 1.0}

    raw = {"meta": {}, "runs": [
        {"contender": "uws", "run": 0, "steps": [], "open_loop": phase(0.8, 7.0)},
        {"contender": "wschat-sqlite", "run": 0, "steps": [], "open_loop": phase(1.0, 8.0)},
        {"contender": "wschat-sqlite", "run": 1, "steps": [], "open_loop": phase(1.25, 6.0)},
        {"contender": "uws", "run": 1, "steps": []},  # no open-loop phase: does not count
    ]}
    got = open_loop(raw)
    assert got["uws"] == {"deliveries_per_cpu_s": 250_000.0, "lat_p99_ms": 7.0, "private_p99_ms": 1.0}
    assert got["wschat-sqlite"]["deliveries_per_cpu_s"] == 180_000.0  # median of 200k and 160k
    assert got["wschat-sqlite"]["lat_p99_ms"] == 7.0


def test_a_file_that_is_not_results_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "other.json"
    path.write_text('{"runs": [{"name": "x"}]}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"other\.json: not a benchmark results file"):
        read_raw(path)


def test_the_committed_results_read() -> None:
    raw = read_raw(ROOT / "benchmarks" / "results" / "raw.json")
    table = fanout(raw)
    assert "wschat-memory" in table and 10_000 in table["wschat-memory"]
    assert all(count >= 1 for count in runs_per_contender(raw).values())
