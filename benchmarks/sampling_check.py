"""``python -m benchmarks.sampling_check``: does sampling clients change the latency figures?

The benchmark takes latencies from about 1,000 sampled clients per step (every k-th in
connection order) while the others only count (loadgen.py). Here every client is sampled and,
in the same deliveries, the percentiles of all clients are set beside those of the clients
the benchmark would have sampled: the same run, so the machine's noise cannot explain a
difference. Then the same steps run again with the benchmark's sampling, to show what it
saves the generator. Writes benchmarks/results/sampling.md (about 4 minutes).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from .report import machine_info
from .run import CONTENDERS, BenchSession, Plan, run_coordinator, sample_every

STEPS = (1000, 2000, 5000, 10_000)
KEYS = ("wschat-memory", "relay-broadcast")


def _p(values: np.ndarray[Any, Any]) -> list[float]:
    return [float(x) for x in np.percentile(values / 1e6, [50, 95, 99])] if values.size else []


async def one(key: str, sample_target: int) -> list[dict[str, Any]]:
    target = Plan().sample_target
    session = BenchSession(CONTENDERS[key], workers=Plan().workers, sample_target=sample_target)
    rows: list[dict[str, Any]] = []
    try:
        await session.start()
        for n in STEPS:
            await session.connect(n)
            step = await session.closed_loop()
            every = sample_every(session.clients, target)
            lat, idx = session.last_latencies, session.last_indexes
            rows.append({"phase": f"{n:,} clients, 4 in flight", **step,
                         "all": _p(lat), "subset": _p(lat[idx % every == 0]), "every": every})
            if n == 1000:
                ol = await session.open_loop()
                lat, idx = session.last_latencies, session.last_indexes
                rows.append({"phase": "1,000 clients, 20/s", **ol,
                             "all": _p(lat), "subset": _p(lat[idx % every == 0]), "every": every})
    finally:
        await session.stop()
    return rows


def _ms(values: list[float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values) if values else "-"


async def main_async(out: str) -> None:
    lines = [
        "# Sampled latencies against every client's\n",
        "`python -m benchmarks.sampling_check`: every client parses its stamps (`--sample 0`); "
        "the columns set the percentiles over every client beside those over the clients the "
        "benchmark samples (every k-th by connection order), in the same deliveries. Then the "
        "same steps again with the benchmark's own sampling, for the generator's cost.\n",
        "| server | phase | k | p50 / p95 / p99 ms, every client | the same, sampled clients only "
        "| generator load, every client parsing | generator load, sampled | generator µs per delivery "
        "(every client / sampled) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key in KEYS:
        full = await one(key, 0)
        sampled = await one(key, Plan().sample_target)
        for f, s in zip(full, sampled, strict=True):
            def per_delivery(r: dict[str, Any]) -> str:
                us = r.get("generator_us_per_delivery")
                return "-" if us is None else f"{us:.2f}"
            lines.append(
                f"| {key} | {f['phase']} | {f['every']} | {_ms(f['all'])} | {_ms(f['subset'])} | "
                f"{f['generator_load']:.0%} | {s['generator_load']:.0%} | "
                f"{per_delivery(f)} / {per_delivery(s)} |"
            )
            print(lines[-1], flush=True)
    lines.append("")
    lines.append(f"Load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    # The figures depend on the event loop (uvloop or not): say which versions measured them.
    info = machine_info()
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if k in ("websockets", "uvloop"))
    lines.append(f"{info['date']}, commit {info['commit']}: {info['cpu']}, {info['cores']} cores; "
                 f"Python {info['python']}, {versions}.")
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "sampling.md"), "w") as md:
        md.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sampling_check", description=__doc__)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    args = parser.parse_args(argv)
    run_coordinator(lambda _: main_async(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
